"""What the API server would send: an AdmissionReview for one of our paths, whole, or a refusal.

kopf dispatches a review by path and resource, and answers `allowed: true` when no handler
matches (an unknown path, a path posted another resource) or raises deep inside on a missing
field. A review only the API server should send may move reservations, so anything it could not
have sent is refused here, before kopf and the allocator see it: a path we do not serve, another
resource or operation than that path's configuration names, a request without the fields the
API server always fills in. A refusal has no side effect.

The body limit: an UPDATE review carries the object and its old version. etcd refuses a request
over 1.5 MiB by default (`--max-request-bytes`), which bounds one stored VM; two of them plus
the review's own fields stay under 4 MiB. aiohttp's default of 1 MiB refused an UPDATE of a
large, valid VM.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.macpool.admission_config import ROUTES_BY_PATH

MAX_REVIEW_BYTES = 4 * 1024 * 1024
REVIEW_API_VERSION = "admission.k8s.io/v1"  # the only version our configurations accept


@dataclass(frozen=True)
class Refusal:
    message: str
    code: int = 400


def refusal(path: str, review: Any) -> Refusal | None:
    """Why the API server could not have posted `review` to `path`; None when it could have."""
    route = ROUTES_BY_PATH.get(path)
    if route is None:
        return Refusal(f"no webhook is served at /{path}", 404)
    if not isinstance(review, Mapping) or review.get("kind") != "AdmissionReview":
        return Refusal("the body is not an AdmissionReview")
    if review.get("apiVersion") != REVIEW_API_VERSION:
        return Refusal(f"only {REVIEW_API_VERSION} AdmissionReviews are served")
    request = review.get("request")
    if not isinstance(request, Mapping):
        return Refusal("the review has no request")
    problem = _request_problem(request, route.kind.group, route.kind.version, route.kind.plural)
    if problem:
        return Refusal(problem)
    kind = request.get("kind")
    if not isinstance(kind, Mapping) or kind.get("kind") != route.kind.kind:
        return Refusal(f"/{path} admits {route.kind.kind} objects only")
    operation = request.get("operation")
    if operation not in route.operations:
        return Refusal(f"/{path} admits {' and '.join(route.operations)} only, not {operation!r}")
    return _objects_problem(request, str(operation))


def _request_problem(request: Mapping[str, Any], group: str, version: str, plural: str) -> str:
    """The first field the API server always fills in that is missing or wrong; "" when none."""
    checks = (
        (isinstance(request.get("uid"), str) and bool(request.get("uid")), "the request has no uid"),
        (
            request.get("resource") == {"group": group, "version": version, "resource": plural},
            f"the request is not for {group}/{version} {plural}",
        ),
        (not request.get("subResource"), "subresources are not admitted here"),
        (
            isinstance(request.get("namespace"), str) and bool(request.get("namespace")),
            "the request names no namespace",
        ),
        (isinstance(request.get("userInfo"), Mapping), "the request names no user"),
        (isinstance(request.get("dryRun", False), bool), "dryRun is not a boolean"),
    )
    return next((problem for ok, problem in checks if not ok), "")


def _objects_problem(request: Mapping[str, Any], operation: str) -> Refusal | None:
    obj, old = request.get("object"), request.get("oldObject")
    if not isinstance(obj, Mapping) or not isinstance(obj.get("metadata"), Mapping):
        return Refusal("the request carries no object")
    if (operation == "UPDATE") != isinstance(old, Mapping):
        return Refusal("an UPDATE carries the old object, and only an UPDATE does")
    namespace = request["namespace"]
    for each in (obj, old) if isinstance(old, Mapping) else (obj,):
        if (each.get("metadata") or {}).get("namespace", namespace) != namespace:
            return Refusal("the object lies in another namespace than the request")
    return None


def _uid(review: Any) -> str:
    request = review.get("request") if isinstance(review, Mapping) else None
    uid = request.get("uid") if isinstance(request, Mapping) else None
    return uid if isinstance(uid, str) else ""


def denied(review: Any, refusal: Refusal) -> dict[str, Any]:
    """The AdmissionReview that refuses `review`, echoing its uid when it has one."""
    return {
        "apiVersion": REVIEW_API_VERSION,
        "kind": "AdmissionReview",
        "response": {
            "uid": _uid(review),
            "allowed": False,
            "status": {"code": refusal.code, "message": refusal.message},
        },
    }


def allowed(
    review: Any, patch: Sequence[Mapping[str, Any]] = (), warnings: Sequence[str] = ()
) -> dict[str, Any]:
    """The AdmissionReview that admits `review`, with a JSONPatch (RFC 6902) and warnings if any."""
    response: dict[str, Any] = {"uid": _uid(review), "allowed": True}
    if warnings:
        response["warnings"] = [str(warning) for warning in warnings]
    if patch:
        encoded = json.dumps(list(patch), separators=(",", ":")).encode()
        response["patch"] = base64.b64encode(encoded).decode("ascii")
        response["patchType"] = "JSONPatch"
    return {"apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "response": response}

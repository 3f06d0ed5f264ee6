"""The Kubernetes floor's one error type, and how an API server's answer becomes one.

No `kubernetes` import here: the pure core may name the error (e.g. to tell a transient failure
from a refusal) without pulling in the client.
"""

from __future__ import annotations

import json


class KubeError(Exception):
    """An API error the engine understands; `status` is the HTTP status code (0 when unreachable)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def transient(self) -> bool:
        return self.status in (0, 409, 429) or self.status >= 500

    @property
    def namespace_terminating(self) -> bool:
        """Creating in a namespace that is still being deleted (e.g. a component re-enabled right
        after it was disabled): it works again once the namespace is gone."""
        return self.status == 403 and "because it is being terminated" in self.message


def to_kube_error(status: int, reason: str | None, body: bytes | str | None) -> KubeError:
    message = reason or ""
    reason = reason or ""
    if body:
        try:
            parsed = json.loads(body)
            message = str(parsed.get("message", message))
            reason = str(parsed.get("reason", reason))
        except (ValueError, AttributeError):
            text = body.decode(errors="replace") if isinstance(body, bytes) else body
            message = text[:500]
    return KubeError(status, reason, message)

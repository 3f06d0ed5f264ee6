"""Hypothesis-generated VMOProfiles against the real API server, then the running operator.

Every generated profile is sent as a server-side dry run (with strict field validation, as
kubectl does) and must be either rejected, 400 or 422, with a message naming a field of the
object it was given, or accepted. A sample of the accepted ones is then applied for real, one
after another, to the profile the operator reconciles: each must end in a condition for its
generation, the operator must not crash, and no component may be left half-applied without a
condition saying so.

Sizes: VMO_FUZZ_PROFILES (500) dry runs and VMO_FUZZ_RECONCILED (20) real reconciles per run; the
examples follow VMO_CHAOS_SEED, so they are the same every run until the seed changes.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from tests.chaos import strategies
from tests.chaos.budget import BUDGET, Budget
from tests.chaos.harness import PROFILE_NAME, ChaosCluster, put_profile, settle
from tests.support.kube import PROFILE, get_profile, manifest, owned_objects, rendered, status_body
from tests.support.waiting import eventually
from vmo_operator.api import models, versions
from vmo_operator.components import registry
from vmo_operator.kube.objects import COMPONENT_LABEL, ObjectKey

pytestmark = pytest.mark.integration

FIELD_PATH = re.compile(r"\b(?:spec|metadata)(?:\.[A-Za-z_]\w*|\[[^\]]*\])*")
SEGMENT = re.compile(r"\.?([A-Za-z_]\w*)|\[([^\]]*)\]")


@dataclass
class Tally:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    # The API server and the pydantic models (what `vmo render` uses) disagreeing on a spec.
    server_only: list[str] = field(default_factory=list)  # accepted by the server, not pydantic
    pydantic_only: list[str] = field(default_factory=list)  # accepted by pydantic, not the server

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Tally()


def _segments(path: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in SEGMENT.finditer(path)]


def _resolves(obj: Any, segments: list[str]) -> bool:
    """Whether the path leads through `obj`; its last field may be missing (a required or an
    unknown field), and a map key may itself contain dots (`nodeSelector.kubernetes.io/os`)."""
    node = obj
    for position, segment in enumerate(segments):
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        elif isinstance(node, dict):
            rest = ".".join(segments[position:])
            return position == len(segments) - 1 or any(str(key).startswith(rest) for key in node)
        else:
            return position == len(segments) - 1
    return True


def named_field(message: str, body: dict[str, Any]) -> str | None:
    """A field path in `message` that leads through `body` (see `_resolves`)."""
    for match in FIELD_PATH.finditer(message):
        if _resolves(body, _segments(match.group(0))):
            return match.group(0)
    return None


def _pydantic_accepts(spec: Any) -> bool:
    try:
        models.parse_spec(spec)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def dry_run(api: Any, tally: Tally, name: str, spec: Any) -> None:
    body = {"apiVersion": "vmo.dev/v1alpha1", "kind": "VMOProfile", "metadata": {"name": name}, "spec": spec}
    custom = client.CustomObjectsApi(api)
    try:
        stored = manifest(
            custom.create_cluster_custom_object(*PROFILE, body, dry_run="All", field_validation="Strict")
        )
    except ApiException as exc:
        status, message = exc.status, status_body(exc).get("message", "")
    else:
        # What the server would store (nulls pruned, defaults applied) is what the operator reads.
        tally.statuses[201] += 1
        tally.accepted.append(stored.get("spec") or {})
        if not _pydantic_accepts(stored.get("spec")):
            tally.server_only.append(json.dumps(stored.get("spec"))[:300])
        return
    tally.statuses[status] += 1
    assert status in (400, 422), f"{status}: {message!r:.500}"
    where = named_field(message, body)
    assert where, f"rejected without naming a field of the object: {message!r:.800}"
    if where.startswith("spec") and _pydantic_accepts(spec):
        tally.pydantic_only.append(message[:300])


def explore(api: Any, tally: Tally, examples: int, seed: int) -> None:
    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(name=strategies.PROFILE_NAME, spec=strategies.SPEC)
    def check(name: Any, spec: Any) -> None:
        dry_run(api, tally, name if isinstance(name, str) else "fuzz", spec)

    check()


@pytest.mark.timeout(120 + BUDGET.profiles)
def test_generated_profiles_are_accepted_or_rejected_naming_a_field(
    chaos: ChaosCluster, tally: Tally, budget: Budget, say: Callable[[str], None]
) -> None:
    explore(chaos.api, tally, budget.profiles, budget.seed)
    say(
        f"{tally.total} generated profiles: {dict(tally.statuses)} (201 = accepted by dry run); "
        f"accepted by the server but not by `vmo render`: {len(tally.server_only)}, "
        f"the other way round: {len(tally.pydantic_only)}"
    )
    for sample in tally.server_only[:3]:
        print(f"  server only: {sample}")
    for sample in tally.pydantic_only[:3]:
        print(f"  vmo render only: {sample}")
    assert tally.total >= budget.profiles
    assert tally.statuses[201] > 0, "the strategy should produce acceptable profiles"
    assert tally.total > tally.statuses[201], "the strategy should produce rejected profiles"


# ---- a sample of the accepted profiles, really reconciled -----------------------------------------


def _condition(profile: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (profile.get("status") or {}).get("conditions", []):
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def half_applied(api: Any, spec: dict[str, Any], profile: dict[str, Any]) -> list[str]:
    """Components with rendered objects missing while no condition says something is wrong."""
    if not _pydantic_accepts(spec):
        cond = _condition(profile, "Degraded")
        ok = (
            cond.get("status") == "True" and cond.get("reason") == "InvalidSpec" and "spec" in cond["message"]
        )
        return [] if ok else [f"invalid spec not reported as InvalidSpec: {cond}"]
    live_by_component: dict[str, set[ObjectKey]] = {}
    for key, obj in owned_objects(api).items():
        live_by_component.setdefault(obj["metadata"]["labels"].get(COMPONENT_LABEL, ""), set()).add(key)
    want: dict[str, set[ObjectKey]] = {}
    for obj in rendered(spec, PROFILE_NAME):
        want.setdefault(obj["metadata"]["labels"][COMPONENT_LABEL], set()).add(ObjectKey.of(obj))
    complete = _condition(profile, "ReconcileComplete")
    problems = []
    for component in registry.components():
        missing = want.get(component.name, set()) - live_by_component.get(component.name, set())
        if not missing:
            continue
        ready = _condition(profile, f"{component.title}Ready")
        if complete.get("status") == "True" or ready.get("status") != "False":
            names = sorted(f"{k.kind} {k.namespace}/{k.name}" for k in missing)[:5]
            problems.append(
                f"{component.title} half-applied (missing {names}) but "
                f"ReconcileComplete={complete.get('status')} and {component.title}Ready={ready.get('status')}"
            )
    if complete.get("status") == "False" and not (complete.get("reason") and complete.get("message")):
        problems.append(f"ReconcileComplete=False without a reason and message: {complete}")
    if (
        complete.get("reason") in ("ReconcileFailed", "ApplyFailed")
        and _condition(profile, "Degraded").get("status") != "True"
    ):
        problems.append("an apply failure is not reported as Degraded")
    return problems


@pytest.mark.timeout(300 + 60 * BUDGET.reconciled)
def _version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tag.lstrip("v").split("."))


def acknowledging_downgrade(spec: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """`spec` as an admin would send it over `live`: a lower KubeVirt version needs the CRD's
    acknowledgement of the version being left. Each sample was accepted by a dry-run create, where
    no transition rule applies, so the order of the sample decides whether one is a downgrade."""
    current = ((live or {}).get("spec") or {}).get("kubevirt", {}).get("version")
    kubevirt = spec.get("kubevirt") or {}
    wanted = kubevirt.get("version", versions.KUBEVIRT.default)
    if current is None or _version(wanted) >= _version(current):
        return spec
    return {**spec, "kubevirt": {**kubevirt, "acceptDowngradeFrom": current}}


def test_a_sample_of_accepted_profiles_is_reconciled_without_crash_or_silent_half_apply(
    clean: ChaosCluster, tally: Tally, budget: Budget, say: Callable[[str], None]
) -> None:
    chaos = clean
    if not tally.accepted:  # this test alone: explore a smaller set first
        explore(chaos.api, tally, 10 * budget.reconciled, budget.seed)
    rng = random.Random(budget.seed)
    doubtful = [s for s in tally.accepted if not _pydantic_accepts(s)]
    clean_specs = [s for s in tally.accepted if _pydantic_accepts(s)]
    sample = doubtful[: budget.reconciled // 4]
    sample += rng.sample(clean_specs, min(len(clean_specs), budget.reconciled - len(sample)))
    operator = chaos.operator
    unexpected = chaos.unexpected_errors()
    outcomes: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for number, generated in enumerate(sample, 1):
        spec = acknowledging_downgrade(generated, get_profile(chaos.api, PROFILE_NAME))
        generation = put_profile(chaos.api, spec)

        def reconciled(g: int = generation) -> dict[str, Any] | None:
            profile = get_profile(chaos.api, PROFILE_NAME)
            complete = _condition(profile or {}, "ReconcileComplete")
            return profile if complete.get("observedGeneration") == g else None

        profile = eventually(
            reconciled, timeout=90, what=f"sample {number}: a condition for generation {generation}"
        )

        def half_applied_now(s: dict[str, Any] = spec) -> list[str]:
            return half_applied(chaos.api, s, get_profile(chaos.api, PROFILE_NAME) or {})

        settle(
            half_applied_now,
            timeout=30,
            what=f"sample {number} ({json.dumps(spec)[:400]})",
        )
        complete = _condition(profile, "ReconcileComplete")
        outcomes[f"{complete['status']}/{complete.get('reason')}"] += 1
        if complete["status"] == "False":
            failures[re.sub(r"\b(vmo|fuzz)-\S+|[0-9a-f]{6,}", "*", complete.get("message", ""))[:150]] += 1
        assert operator.alive(), operator.log_tail()
    assert chaos.unexpected_errors() == unexpected, operator.log_tail()
    say(f"{len(sample)} accepted profiles reconciled: ReconcileComplete {dict(outcomes)}")
    for message, count in failures.most_common(3):
        say(f"  {count}x {message}")
    assert len(sample) == min(budget.reconciled, len(tally.accepted))


def test_random_json_is_never_a_server_error(chaos: ChaosCluster) -> None:
    """Whole specs of arbitrary JSON: the API server answers 201, 400 or 422, never 5xx."""
    seen: Counter[int] = Counter()

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=st.dictionaries(st.text(max_size=12), strategies.ANY_JSON, max_size=4) | strategies.ANY_JSON)
    def check(spec: Any) -> None:
        body = {
            "apiVersion": "vmo.dev/v1alpha1",
            "kind": "VMOProfile",
            "metadata": {"name": "junk"},
            "spec": spec,
        }
        status = 201
        try:
            client.CustomObjectsApi(chaos.api).create_cluster_custom_object(
                *PROFILE, body, dry_run="All", field_validation="Strict"
            )
        except ApiException as exc:
            status = exc.status
        seen[status] += 1
        assert status in (201, 400, 422), f"{status} for {body}"

    check()
    print(f"\narbitrary specs: {dict(seen)}")

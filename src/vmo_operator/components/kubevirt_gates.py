"""KubeVirt's feature gates as the profile asks for them: the gate set resolved for the configured
version (`api.featuregates`), and the two conditions that tell an admin what became of the request.
"""

from __future__ import annotations

from vmo_operator.api import featuregates
from vmo_operator.api.models import CPU_HOTPLUG, KubeVirtSpec
from vmo_operator.components.base import ConditionSpec

FEATURE_GATES_RECOGNIZED = "FeatureGatesRecognized"
FEATURE_GATES_CHANGED = "FeatureGatesChanged"


def gate_resolution(spec: KubeVirtSpec) -> featuregates.Resolution:
    return featuregates.resolve(spec.version, spec.feature_gates.add, spec.feature_gates.remove)


def recognized(resolution: featuregates.Resolution) -> ConditionSpec:
    """FeatureGatesRecognized: False while a requested gate is unknown for the configured version."""
    if resolution.unknown:
        gates = ", ".join(resolution.unknown)
        return ConditionSpec(
            FEATURE_GATES_RECOGNIZED,
            "False",
            "UnknownFeatureGate",
            f"not known for the configured KubeVirt version, passed through as written: {gates}",
        )
    return ConditionSpec(
        FEATURE_GATES_RECOGNIZED, "True", "AllGatesKnown", "every requested feature gate is known"
    )


def gates_changed(resolution: featuregates.Resolution) -> ConditionSpec:
    """Requested gates KubeVirt `resolution.version` knows under another name, or not any more.

    CPUHotplug is left out: it never is a gate, and its translation is its documented meaning.
    """
    translated = {k: v for k, v in resolution.translated.items() if k != CPU_HOTPLUG}
    parts = []
    if resolution.dropped:
        parts.append(
            f"not written, deprecated or discontinued without a successor in KubeVirt {resolution.version}: "
            + ", ".join(resolution.dropped)
        )
    if translated:
        parts.append(
            f"written under the name KubeVirt {resolution.version} uses: "
            + ", ".join(f"{old} -> {new}" for old, new in sorted(translated.items()))
        )
    if not parts:
        return ConditionSpec(
            FEATURE_GATES_CHANGED, "False", "AsRequested", "every gate is written as requested"
        )
    reason = "GatesDropped" if resolution.dropped else "GatesTranslated"
    return ConditionSpec(FEATURE_GATES_CHANGED, "True", reason, "; ".join(parts))

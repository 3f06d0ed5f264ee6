"""The MAC pool's interface limit is KubeVirt's own, at every supported KubeVirt release.

virt-operator installs the VirtualMachine CRD from the OpenAPI schemas generated into its own
module (`pkg/virt-operator/resource/generate/components/validations_generated.go`, a Go map of
YAML documents generated from the API types' kubebuilder markers), so the limit the API server
enforces is the `maxItems` of `spec.template.spec.domain.devices.interfaces` there.
`macpool.limits.MAX_INTERFACES` must equal it: lower would refuse VMs KubeVirt accepts, higher
would reserve MACs for VMs KubeVirt then refuses.

It is read from the kubevirt.io/kubevirt module, which the proxy serves for every supported
release; the separate kubevirt.io/api module is refused for some of them (v1.4.1, v1.5.3).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conformance import kubevirt_upstream
from vmo_operator.api import versions
from vmo_operator.macpool.limits import MAX_INTERFACES

RELEASES = sorted(set(versions.KUBEVIRT.proven.values()))
GENERATED = "pkg/virt-operator/resource/generate/components/validations_generated.go"
# One entry of the generated map: `"virtualmachine": ` followed by a Go raw string.
_VIRTUAL_MACHINE = re.compile(r'^\s*"virtualmachine":\s*`(?P<yaml>[^`]*)`', re.M)
INTERFACES_PATH = ("spec", "template", "spec", "domain", "devices", "interfaces")


def vm_schema(release: str) -> dict[str, Any]:
    source = (kubevirt_upstream.root(release) / GENERATED).read_text()
    found = _VIRTUAL_MACHINE.search(source)
    assert found, f"kubevirt {release}: no virtualmachine schema in {GENERATED}"
    document = yaml.safe_load(found.group("yaml"))
    schema: dict[str, Any] = document["openAPIV3Schema"]
    return schema


def interface_limit(release: str) -> int:
    schema = vm_schema(release)
    for step in INTERFACES_PATH:
        schema = schema["properties"][step]
    assert schema.get("type") == "array", f"kubevirt {release}: interfaces is not a list: {schema}"
    assert "maxItems" in schema, f"kubevirt {release}: the interface list has no maxItems"
    return int(schema["maxItems"])


@pytest.mark.parametrize("release", RELEASES)
def test_the_interface_limit_is_kubevirts(release: str) -> None:
    assert interface_limit(release) == MAX_INTERFACES

"""Profile settings conversion and the webhook configurations built from them."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from vmo_operator.macpool import admission_config as ac
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, MacPoolSettings, from_profile_spec


def test_empty_profile_section_gives_the_documented_defaults() -> None:
    settings = from_profile_spec(None)
    assert settings.enabled
    assert settings.prefixes == (0x02, 0x06, 0x0A, 0x0E)
    assert settings.duplicate_policy == "Deny"
    assert settings.cluster_id == ""
    expressions = settings.namespace_selector["matchExpressions"]
    assert {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system"],
    } in expressions


def test_profile_values_are_converted() -> None:
    settings = from_profile_spec(
        {
            "prefixes": ["0a", "0E"],
            "clusterId": "ab:cd",
            "duplicatePolicy": "Warn",
            "releaseGracePeriodSeconds": 7,
            "namespaceSelector": {"matchLabels": {"vms": "yes"}},
        }
    )
    assert settings.prefixes == (0x0A, 0x0E)
    assert settings.duplicate_policy == "Warn"
    assert settings.release_grace_period_seconds == 7
    assert settings.namespace_selector == {"matchLabels": {"vms": "yes"}}
    # The override wins over the discovered identity, and a literal block is used as is.
    assert settings.layout("some-kube-system-uid").cluster == (0xAB, 0xCD)


def test_invalid_prefix_in_the_profile_is_refused() -> None:
    with pytest.raises(ValidationError):
        from_profile_spec({"prefixes": ["03"]})


def test_discovered_identity_is_hashed_when_there_is_no_override() -> None:
    first = MacPoolSettings().layout("uid-1").cluster
    assert first == MacPoolSettings().layout("uid-1").cluster
    assert first != MacPoolSettings().layout("uid-2").cluster


def test_namespace_selector_adds_the_operator_namespace_and_the_opt_out_label() -> None:
    selector = ac.namespace_selector(
        {"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "x", "operator": "Exists"}]},
        ["vmo-system"],
    )
    assert selector["matchLabels"] == {"team": "a"}
    assert selector["matchExpressions"] == [
        {"key": "x", "operator": "Exists"},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["vmo-system"]},
        {"key": NAMESPACE_OPT_OUT_LABEL, "operator": "NotIn", "values": ["disabled"]},
    ]


def test_webhook_configurations_fail_closed_and_skip_side_effects_on_dry_run() -> None:
    endpoint = ac.Endpoint(b"CA", url="https://127.0.0.1:9443/")
    mutating, validating = ac.webhook_configurations(
        endpoint, profile_selector={}, excluded_namespaces=["vmo-system"]
    )
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    hooks = mutating["webhooks"] + validating["webhooks"]
    assert len(hooks) == 4
    for hook in hooks:
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "NoneOnDryRun"
        assert hook["timeoutSeconds"] == 10
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == b"CA"
    assert all(h["reinvocationPolicy"] == "IfNeeded" for h in mutating["webhooks"])
    urls = {h["clientConfig"]["url"] for h in hooks}
    assert urls == {
        f"https://127.0.0.1:9443/{p}" for p in (ac.MUTATE_VM, ac.MUTATE_VMI, ac.VALIDATE_VM, ac.VALIDATE_VMI)
    }
    vmi_rules = [h["rules"][0] for h in hooks if h["rules"][0]["resources"] == ["virtualmachineinstances"]]
    assert all(rule["operations"] == ["CREATE"] for rule in vmi_rules)


def test_service_endpoint_and_its_certificate_names() -> None:
    endpoint = ac.Endpoint(b"CA", service_namespace="vmo-system", service_name="vmo-webhook")
    config = endpoint.client_config(ac.MUTATE_VM)
    assert config["service"] == {
        "namespace": "vmo-system",
        "name": "vmo-webhook",
        "port": 443,
        "path": f"/{ac.MUTATE_VM}",
    }
    assert "vmo-webhook.vmo-system.svc" in ac.service_sans("vmo-webhook", "vmo-system")

"""A PrometheusRule CRD for tests: the control plane has no Prometheus Operator.

Group, kind, version and scope as monitoring.coreos.com/v1 has them; the schema is left open, since
the tests check what the operator writes, not what the Prometheus Operator would accept.
"""

from __future__ import annotations

from typing import Any

from vmo_operator.components import monitoring


def prometheus_rule_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": monitoring.CRD_NAME},
        "spec": {
            "group": "monitoring.coreos.com",
            "names": {
                "kind": "PrometheusRule",
                "listKind": "PrometheusRuleList",
                "plural": "prometheusrules",
                "singular": "prometheusrule",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    },
                }
            ],
        },
    }

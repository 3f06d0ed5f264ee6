"""`spec.dashboard`: the web dashboard (`vmo dashboard`), an optional component, off by default.

The dashboard acts as each logged-in user with their own token; its ServiceAccount holds no rights
at all, so enabling it grants nobody anything. docs/dashboard.md describes the security model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vmo_operator.api.models.base import Model
from vmo_operator.api.models.placement import NodeSelection


class DashboardSpec(Model):
    """The VM dashboard: a Deployment, a Service and a ServiceAccount without rights, in kube-system."""

    enabled: bool = Field(default=False, description="Run the dashboard (off by default).")
    replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description=(
            "Dashboard pods. Sessions live in a pod's memory, so the Service pins each client to one "
            "pod (sessionAffinity: ClientIP)."
        ),
    )
    placement: NodeSelection = Field(
        default_factory=NodeSelection, description="Node selector and tolerations of the dashboard pods."
    )
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP", description="How the dashboard's Service is exposed."
    )
    image: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[^\s]+$",
        description="Image to run (default: the operator's own image, which carries `vmo dashboard`).",
    )

"""What CDI's importer pods are told: their proxy and trusted CA, and their resources.

Field names follow upstream's CDIConfigSpec and ImportProxy (containerized-data-importer-api
v1.61.1 and v1.65.0, pkg/apis/core/v1beta1/types.go: importProxy, podResourceRequirements and
insecureRegistries exist in both supported minors), except where this API spells a name in its own
camelCase (trustedCAConfigMap for CDI's trustedCAProxy, which is a ConfigMap name, not a proxy).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import ConfigDict, Field, model_validator

from vmo_operator.api.models.base import (
    DNS1123_SUBDOMAIN,
    HTTP_URL,
    QUANTITY,
    Model,
    cel,
    schema_extra,
)

# CPU as Kubernetes writes it: whole or decimal cores, or millicores ("500m").
CPU_QUANTITY = r"^([0-9]+m|[0-9]+([.][0-9]{1,3})?)$"
# A registry host as CDI matches it against an image URL: a name or address, optionally a port.
REGISTRY_HOST = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$"
_SUFFIX = {
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
}


def quantity(text: str) -> Decimal:
    """The value of a quantity the patterns above accept ("500m" -> 0.5, "1Gi" -> 1073741824)."""
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIX[suffix]
    return Decimal(text)


class ResourceAmounts(Model):
    """CPU and memory amounts (a core/v1 ResourceList restricted to the two CDI's pods use)."""

    cpu: str | None = Field(
        default=None, max_length=32, pattern=CPU_QUANTITY, description="CPU, e.g. 500m or 2."
    )
    memory: str | None = Field(
        default=None, max_length=32, pattern=QUANTITY, description="Memory, e.g. 600M or 2Gi."
    )


def _limit_rule(resource: str) -> dict[str, str]:
    return cel(
        f"!has(self.requests) || !has(self.limits) || !has(self.requests.{resource}) || "
        f"!has(self.limits.{resource}) || "
        f"quantity(self.limits.{resource}).compareTo(quantity(self.requests.{resource})) >= 0",
        f"the {resource} limit must not be below the {resource} request",
        f".limits.{resource}",
    )


_LIMIT_RULES = (_limit_rule("cpu"), _limit_rule("memory"))


class ImporterResources(Model):
    """Requests and limits of the pods CDI starts to import, upload and clone disks (CDI
    spec.config.podResourceRequirements). Unset amounts keep CDI's defaults."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*_LIMIT_RULES))

    requests: ResourceAmounts = Field(
        default_factory=ResourceAmounts, description="What each pod reserves on its node."
    )
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts, description="What each pod may use.")

    @model_validator(mode="after")
    def _limits_not_below_requests(self) -> ImporterResources:
        for resource, rule in zip(("cpu", "memory"), _LIMIT_RULES, strict=True):
            request, limit = getattr(self.requests, resource), getattr(self.limits, resource)
            if request is not None and limit is not None and quantity(limit) < quantity(request):
                raise ValueError(rule["message"])
        return self

    def rendered(self) -> dict[str, dict[str, str]]:
        """The core/v1 ResourceRequirements CDI takes, without the amounts left unset."""
        out = {
            part: {k: v for k, v in amounts.model_dump(by_alias=True).items() if v is not None}
            for part, amounts in (("requests", self.requests), ("limits", self.limits))
        }
        return {part: amounts for part, amounts in out.items() if amounts}


class ImportProxy(Model):
    """The proxy CDI's importer pods use to reach HTTP(S) sources and registries (CDI
    spec.config.importProxy)."""

    http_proxy: str | None = Field(
        default=None,
        max_length=512,
        pattern=HTTP_URL,
        description=(
            "Proxy URL for plain HTTP requests, e.g. http://proxy.example:3128. Credentials in the URL "
            "are readable by everyone who may read this profile and the CDI CR."
        ),
    )
    https_proxy: str | None = Field(
        default=None,
        max_length=512,
        pattern=HTTP_URL,
        description="Proxy URL for HTTPS requests (the URL itself is often http://).",
    )
    no_proxy: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[^\s]+$",
        description="Comma-separated hosts, domains and CIDRs reached without the proxy.",
    )
    trusted_ca_config_map: str | None = Field(
        default=None,
        alias="trustedCAConfigMap",
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description=(
            "A ConfigMap in the cdi namespace whose key ca.pem holds the PEM CA bundle importers trust, "
            "for a proxy or a private registry with its own CA (the Palette pack's privateCaCertificate). "
            "Create it yourself; this operator does not own it."
        ),
    )

    def rendered(self) -> dict[str, str]:
        """CDI's spelling (HTTPProxy, HTTPSProxy, noProxy, trustedCAProxy), without unset fields."""
        fields = {
            "HTTPProxy": self.http_proxy,
            "HTTPSProxy": self.https_proxy,
            "noProxy": self.no_proxy,
            "trustedCAProxy": self.trusted_ca_config_map,
        }
        return {key: value for key, value in fields.items() if value is not None}

"""The mark that spares a VM create its second webhook call: "the mutating call checked these MACs".

Every VM create used to cost the API server two calls to us, mutate then validate, and the
validating one nearly always found nothing to do: the object still carried exactly the MACs our
mutating call had just reserved or confirmed for it (issue 17: each call added about 5 ms). So the
mutating call writes the final interface/MAC list of a create into an annotation when it confirmed
every MAC in it, and the validating webhook's `matchConditions` (CEL, evaluated by the API server)
call us only when the object's interfaces no longer spell out that list, or when it is not a create.

Why a tenant gains nothing by writing the annotation themselves:

- the mutating webhook runs before every validating one, on the same namespaces (the two
  configurations share one namespaceSelector, and the mutating one is written first, so a
  namespace coming into scope is never validated before it is mutated; one leaving it is left
  alone by both a moment later), with `failurePolicy: Fail`. It sees the tenant's
  annotation and replaces it with the list it confirmed, or removes it when it confirmed less
  (a MAC admitted as a permitted duplicate, a dry run, no interfaces). A MAC held elsewhere is
  refused by that call whatever the annotations say;
- a MAC that another mutating webhook adds or changes after ours makes the list differ (and with
  `reinvocationPolicy: IfNeeded` our mutating call usually runs again and re-checks it first);
- an UPDATE is always validated.

No signature is needed, unlike the grant (`grant`), because the annotation is never trusted by us,
only by the API server's condition, and only within the request our mutating call just answered.
"""

from __future__ import annotations

from collections.abc import Iterable

ANNOTATION = "macpool.vmo.dev/checked-macs"
# The characters that join the list: an interface name holding one would make two lists read alike.
SEPARATORS = frozenset(",=")

# True (so the validating webhook is called) unless this is a create whose interfaces, each as
# name=mac in order (mac empty when unset), join with "," into exactly the annotation's value.
# Written with optional field selection (`.?`): the VM is schemaless to the API server's CEL, and
# a missing field is an error there, which `failurePolicy: Fail` would turn into a refused create.
_INTERFACES = "object.?spec.?template.?spec.?domain.?devices.?interfaces.orValue([])"
_LISTED = f"{_INTERFACES}.map(i, i.?name.orValue('') + '=' + i.?macAddress.orValue('')).join(',')"
EXPRESSION = (
    "request.operation != 'CREATE' || "
    f"object.?metadata.?annotations[?'{ANNOTATION}'].orValue('') == '' || "
    f"object.metadata.annotations['{ANNOTATION}'] != {_LISTED}"
)
MATCH_CONDITION = {"name": "macs-not-checked-by-the-mutating-call", "expression": EXPRESSION}


def value(interfaces: Iterable[tuple[str, str]]) -> str | None:
    """The annotation's value for (interface name, final MAC text or "") pairs, in the object's
    order; None when a name holds a separator (those objects are simply validated)."""
    pairs = list(interfaces)
    if not pairs or any(SEPARATORS & set(name) for name, _ in pairs):
        return None
    return ",".join(f"{name}={mac}" for name, mac in pairs)

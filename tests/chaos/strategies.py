"""Hypothesis strategies for hostile input: VMOProfile specs and VirtualMachine interface lists.

Mostly valid, sometimes not: each field draws a valid value most of the time and, now and then, a
hostile one (wrong type, out of range, bad pattern, unicode, very long, unknown field), so one run
exercises both the API server's rejections and the operator's handling of what gets through.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from vmo_operator.api.featuregates import GATES

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
HOSTILE = st.one_of(
    JSON_SCALARS,
    st.text(min_size=64, max_size=600),  # longer than any name the schema allows
    st.text(alphabet=st.characters(min_codepoint=0x80), min_size=1, max_size=20),  # unicode only
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(0, 9), max_size=2),
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
)


def mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = HOSTILE, odds: int = 20
) -> st.SearchStrategy[Any]:
    """`good` about `odds` times in `odds + 1`, otherwise `bad` (shrinking towards `good`).

    Not `one_of(good, good, ..., bad)`: Hypothesis merges equal branches, which would make it 50/50.
    """
    return st.integers(min_value=0, max_value=odds).flatmap(lambda i: bad if i == odds else good)


def optional_dict(fields: dict[str, st.SearchStrategy[Any]], junk: bool = True) -> st.SearchStrategy[Any]:
    """An object with any subset of `fields`, now and then with an unknown field, or not an object."""
    obj = st.fixed_dictionaries({}, optional=fields)
    if junk:
        obj = mostly(obj, st.fixed_dictionaries({"bogusField": JSON_SCALARS}, optional=fields), odds=30)
    return mostly(obj, HOSTILE, odds=30)


DNS_LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True)
NAMESPACE = mostly(
    st.sampled_from(["default", "chaos-workloads", "kube-system", "no-such-namespace"]) | DNS_LABEL
)
GATE = mostly(
    st.sampled_from(sorted(GATES)) | st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True),
    st.sampled_from(["", "not a gate", "Gate-With-Dash", "X" * 65, "Ünïcødé"]),
)
LABEL_KEY = mostly(
    st.sampled_from(["kubernetes.io/os", "node-role.kubernetes.io/worker", "vmo.dev/infra", "zone"]),
    st.sampled_from(["", "-bad", "a/b/c", "x" * 400, "ключ"]),
)
LABEL_VALUE = mostly(st.from_regex(r"([a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?)?", fullmatch=True))
DURATION = mostly(
    st.sampled_from(["30s", "1m", "5m", "1h30m", "90s", "0.5h"]), st.sampled_from(["", "5", "m5", "-1s"])
)


def version(good: list[str], bad: list[str]) -> Any:
    return mostly(st.sampled_from(good), st.sampled_from(bad) | HOSTILE, odds=4)


def count(low: int, high: int) -> Any:
    """Integers mostly inside [low, high], sometimes just outside, sometimes far off."""
    return mostly(
        st.integers(low, high), st.sampled_from([low - 1, high + 1, 0, -1, 2**31]) | HOSTILE, odds=4
    )


TOLERATION = optional_dict(
    {
        "key": LABEL_KEY,
        "operator": mostly(st.sampled_from(["Exists", "Equal"])),
        "value": LABEL_VALUE,
        "effect": mostly(st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])),
        "tolerationSeconds": count(0, 3600),
    }
)
PLACEMENT = optional_dict(
    {
        "nodeSelector": mostly(st.dictionaries(LABEL_KEY, LABEL_VALUE, max_size=3)),
        "tolerations": mostly(st.lists(TOLERATION, max_size=3)),
        # Mostly junk: the API server and pydantic must refuse the same affinities.
        "affinity": mostly(st.dictionaries(st.text(max_size=12), ANY_JSON, max_size=3), odds=2),
    }
)
FEATURE_GATES = optional_dict(
    {"add": mostly(st.lists(GATE, max_size=4)), "remove": mostly(st.lists(GATE, max_size=3))}
)

KUBEVIRT = optional_dict(
    {
        "enabled": mostly(st.booleans()),
        "version": version(
            ["v1.4.0", "v1.6.3", "v1.7.2", "v1.8.4", "v1.9.0"], ["v2.0.0", "1.9.0", "v1.3.9", "latest"]
        ),
        "registry": mostly(
            st.sampled_from(["registry.example.com:5000/mirror", "quay.io"]),
            st.sampled_from(["HTTP://x", "a b"]),
        ),
        "infra": PLACEMENT,
        "workloads": PLACEMENT,
        "featureGates": FEATURE_GATES,
        "evictionStrategy": mostly(
            st.sampled_from(["None", "LiveMigrate", "LiveMigrateIfPossible", "External"])
        ),
        "vmRolloutStrategy": mostly(st.sampled_from(["Stage", "LiveUpdate"])),
        "workloadUpdateStrategy": optional_dict(
            {
                "workloadUpdateMethods": mostly(
                    st.lists(st.sampled_from(["LiveMigrate", "Evict", "Reboot"]), max_size=3)
                ),
                "batchEvictionSize": count(1, 1000),
                "batchEvictionInterval": DURATION,
            }
        ),
        "migrations": optional_dict(
            {
                "parallelMigrationsPerCluster": count(1, 1000),
                "parallelOutboundMigrationsPerNode": count(1, 100),
                "completionTimeoutPerGiB": count(1, 10000),
                "progressTimeout": count(1, 10000),
                "bandwidthPerMigration": mostly(
                    st.sampled_from(["64Mi", "1Gi", "100M"]), st.sampled_from(["fast", "-1Mi"])
                ),
                "allowAutoConverge": mostly(st.booleans()),
                "allowPostCopy": mostly(st.booleans()),
            }
        ),
        "liveUpdate": optional_dict({"maxHotplugRatio": count(1, 64), "maxCpuSockets": count(1, 4096)}),
    }
)
CDI = optional_dict(
    {
        "enabled": mostly(st.booleans()),
        "version": version(["v1.61.0", "v1.65.3"], ["v1.60.0", "v1.63.0", "v2.0.0"]),
        "infra": PLACEMENT,
        "workloads": PLACEMENT,
        "uploadProxyURLOverride": mostly(
            st.sampled_from(["https://upload.example.com", "http://10.0.0.1:8443/x"]),
            st.sampled_from(["ftp://x", "https://a b"]),
        ),
        "scratchSpaceStorageClass": mostly(DNS_LABEL),
        "filesystemOverhead": optional_dict(
            {
                "global": mostly(
                    st.sampled_from(["0", "0.055", "1", "1.0"]), st.sampled_from(["2", "0.0555", "-0.1"])
                ),
                "storageClass": mostly(
                    st.dictionaries(DNS_LABEL, st.sampled_from(["0.1", "0.2", "1.5"]), max_size=2)
                ),
            }
        ),
        "featureGates": mostly(st.lists(GATE, max_size=3)),
    }
)
NETWORK = optional_dict(
    {
        "name": mostly(st.sampled_from(["vlan-10", "vlan-20", "storage", "a"]) | DNS_LABEL),
        "vlan": count(1, 4094),
        "bridge": mostly(
            st.sampled_from(["br0", "br1", "br-vms"]), st.sampled_from(["", "bridge-name-too-long", "br 0"])
        ),
        "namespaces": mostly(st.lists(NAMESPACE, max_size=3)),
        "mtu": count(576, 9216),
    }
)
MULTUS = optional_dict(
    {
        "enabled": mostly(st.booleans()),
        "version": version(["v4.0.0", "v4.1.4", "v4.2.4"], ["v3.9.0", "v4.3.0"]),
        "workloads": PLACEMENT,
        "networks": mostly(
            st.lists(NETWORK, max_size=4), st.lists(NETWORK, min_size=257, max_size=260), odds=30
        ),
    }
)
DESCHEDULER = optional_dict(
    {
        "enabled": mostly(st.booleans()),
        "version": version(["v0.35.2", "v0.36.1"], ["v0.31.0", "v0.33.0", "v0.34.0", "v1.0.0"]),
        "infra": PLACEMENT,
        "interval": DURATION,
        "maintenanceTaintKeys": mostly(st.lists(LABEL_KEY, max_size=3)),
    }
)
SNAPSHOT_CLASS = optional_dict(
    {
        "name": mostly(DNS_LABEL),
        "driver": mostly(st.sampled_from(["csi.example.com", "hostpath.csi.k8s.io"])),
        "deletionPolicy": mostly(st.sampled_from(["Delete", "Retain"])),
        "parameters": mostly(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2)),
        "isDefault": mostly(st.booleans()),
    }
)
SNAPSHOT = optional_dict(
    {
        "mode": mostly(
            st.sampled_from(["Enabled", "Disabled", "Auto"]), st.sampled_from(["Sometimes", "enabled", ""])
        ),
        "version": version(["v8.1.0", "v8.6.0"], ["v7.0.0", "v8.0.0"]),
        "infra": PLACEMENT,
        "volumeSnapshotClass": SNAPSHOT_CLASS,
        # Several classes of one driver may both ask to be its default: refused, by CEL and pydantic.
        "volumeSnapshotClasses": mostly(st.lists(SNAPSHOT_CLASS, max_size=3), odds=3),
    }
)
MONITORING = optional_dict(
    {
        "enabled": mostly(st.booleans()),
        "namespace": mostly(NAMESPACE),
        "ruleLabels": mostly(st.dictionaries(LABEL_KEY, LABEL_VALUE, max_size=2)),
        "thresholds": optional_dict(
            {
                "componentDegradedMinutes": count(1, 1440),
                "webhookSlowMilliseconds": count(10, 30000),
                "driftRepairsPerHour": count(1, 100000),
                "reconcileStaleMinutes": count(2, 1440),
            }
        ),
    }
)
SELECTOR_REQUIREMENT = optional_dict(
    {
        "key": LABEL_KEY,
        "operator": mostly(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"])),
        "values": mostly(st.lists(LABEL_VALUE, max_size=3)),
    }
)
MAC_POOL = optional_dict(
    {
        "enabled": mostly(st.booleans()),
        "prefixes": mostly(
            st.lists(st.sampled_from(["02", "06", "0A", "0E", "0a", "0e"]), max_size=4),
            st.lists(st.sampled_from(["03", "FF", "2", "00", "0x02"]), min_size=1, max_size=2),
            odds=3,
        ),
        "clusterId": mostly(
            st.sampled_from(["ab:cd", "cluster-a", "0102"]), st.sampled_from(["", ":bad", "ü"])
        ),
        "duplicatePolicy": mostly(st.sampled_from(["Deny", "Warn"])),
        "namespaceSelector": optional_dict(
            {
                "matchLabels": mostly(st.dictionaries(LABEL_KEY, LABEL_VALUE, max_size=2)),
                "matchExpressions": mostly(st.lists(SELECTOR_REQUIREMENT, max_size=2)),
            }
        ),
        "releaseGracePeriodSeconds": count(0, 86400),
        "maxReservationsPerNamespace": count(1, 1_000_000),
    }
)
SUBJECT = mostly(
    st.sampled_from(["vm-users", "alice@example.com", "oidc:ops"]), st.sampled_from(["", " x", "a" * 129])
)
VM_NAMESPACES = optional_dict(
    {
        # The reserved names and duplicates come up often: the golden namespace among the VM ones too.
        "namespaces": mostly(st.lists(NAMESPACE | st.sampled_from(["kubevirt", "images"]), max_size=4)),
        "goldenImageNamespace": mostly(st.sampled_from(["images", "vmo-golden-images", "default", "cdi"])),
        "roleBindings": mostly(
            st.lists(
                optional_dict(
                    {
                        "role": mostly(st.sampled_from(["vmo-vm-user", "vmo-vm-admin", "cluster-admin"])),
                        "users": mostly(st.lists(SUBJECT, max_size=2)),
                        "groups": mostly(st.lists(SUBJECT, max_size=2)),
                    }
                ),
                max_size=2,
            )
        ),
    }
)
SPEC = optional_dict(
    {
        "vmNamespaces": VM_NAMESPACES,
        "kubevirt": KUBEVIRT,
        "cdi": CDI,
        "multus": MULTUS,
        "descheduler": DESCHEDULER,
        "snapshotController": SNAPSHOT,
        "macPool": MAC_POOL,
        "uninstallStrategy": mostly(st.sampled_from(["BlockUninstallIfWorkloadsExist", "RemoveWorkloads"])),
        "vmRoles": optional_dict({"enabled": mostly(st.booleans())}),
        "monitoring": MONITORING,
    }
)
PROFILE_NAME = mostly(
    st.from_regex(r"fuzz-[a-z0-9]{1,12}", fullmatch=True),
    st.sampled_from(["f" * 64, "f" * 253, "Fuzz", "fuzz_1", "fuzz.ok", "ünï"]),
    odds=10,
)


# ---- VirtualMachine interfaces for the MAC webhook -------------------------------------------------


def _mac_text(octets: list[int], separator: str, upper: bool) -> str:
    text = separator.join(f"{o:02x}" for o in octets)
    return text.upper() if upper else text


VALID_MAC = st.builds(
    _mac_text,
    st.tuples(st.sampled_from([0x02, 0x06, 0x0A, 0x0E, 0x52, 0xAE]), *[st.integers(0, 255)] * 5).map(list),
    st.sampled_from([":", "-"]),
    st.booleans(),
)
BROKEN_MAC = st.one_of(
    st.sampled_from(
        [
            "01:00:5e:00:00:01",  # multicast
            "ff:ff:ff:ff:ff:ff",  # broadcast
            "00:00:00:00:00:00",  # all zero
            "02:00:00:00:00:00",  # KubeVirt's own bridge MAC
            "02:00:00:00:00",  # five octets
            "02:00:00:00:00:00:00",  # seven
            "02:00:00-00:00:00",  # mixed separators
            "0200.0000.0001",  # Cisco dots
            "02:0g:00:00:00:01",
            " 02:00:00:00:00:01",
            "02:aa:bb:cc:dd:01\n",  # a trailing newline
            "\uff10\uff12:aa:bb:cc:dd:01",  # fullwidth digits
        ]
    ),
    st.builds(
        _mac_text,
        st.lists(st.integers(0, 255), min_size=6, max_size=6).filter(lambda o: o[0] & 1),
        st.just(":"),
        st.booleans(),
    ),
    st.text(max_size=24),
    st.integers(1, 2**48),  # not a string at all
    st.just(True),
    st.lists(st.integers(0, 255), min_size=1, max_size=6),
)
INTERFACE_NAME = st.one_of(
    st.sampled_from(["default", "nic0", "nic1", "eth0"]),  # small: duplicate names happen
    st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True),
    st.text(min_size=1, max_size=30),  # unicode and control characters
)

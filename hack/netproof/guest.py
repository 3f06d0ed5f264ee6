"""The netproof guest driver: runs inside the QEMU guest (see vm.py), as root, on a kernel with
bridge VLAN filtering and 802.1Q, and prints one `NETPROOF PASS|FAIL [scenario] <check>` line per
check.

Inputs, in the directory named on the command line (written by the host test):
- inputs.json: {"cniPath": dir of the bridge plugin, "settings": [agent settings file with every
  network, with one network removed], "expectedUplinkVlans": [...], "scenarios": [{"name": ...,
  "nads": {network: its NAD's exact CNI config}}, ...]}.
Each scenario attaches three "VM" network namespaces with CNI ADD: vm1 and vm2 on the first
network, vm3 on the second. The agent's VLAN filtering runs against the bridge the plugin made,
then CNI DEL must leave nothing behind, and the bridge goes before the next scenario. One boot
serves every scenario: booting the kernel and starting Python under software emulation is most of
the cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]

from vmo_operator.nodeagent import main as agent
from vmo_operator.nodeagent.netlink import Netlink

BRIDGE = "br0"
IFNAME = "net1"


SCENARIO = [""]  # the scenario whose checks are running, named on every verdict


def verdict(ok: bool, check: str, why: str = "") -> bool:
    said = f"[{SCENARIO[0]}] {check}{': ' + why if why and not ok else ''}"
    print(f"NETPROOF {'PASS' if ok else 'FAIL'} {said}", flush=True)
    return ok


def cni(command: str, ns: str, config: str, cni_path: str) -> subprocess.CompletedProcess[str]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"netproof-{ns}",
        "CNI_NETNS": f"/run/netns/{ns}",
        "CNI_IFNAME": IFNAME,
        "CNI_PATH": cni_path,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    return subprocess.run(
        [f"{cni_path}/bridge"], input=config, env=env, capture_output=True, text=True, timeout=120
    )


def address(ns: str, last: int) -> str:
    with IPRoute(netns=ns) as ipr:
        index = ipr.link_lookup(ifname=IFNAME)[0]
        ipr.addr("add", index=index, address=f"10.77.0.{last}", prefixlen=24)
        ipr.link("set", index=index, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    return f"10.77.0.{last}"


def reaches(ns: str, ip: str) -> bool:
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{ns}", "busybox", "ping", "-c", "3", "-W", "2", ip],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0


def links() -> dict[str, Any]:
    with IPRoute() as ipr:
        return {str(link.get("ifname")): link for link in ipr.get_links()}


def main(work: Path) -> int:
    inputs = json.loads((work / "inputs.json").read_text())
    ok = True
    for scenario in inputs["scenarios"]:
        SCENARIO[0] = scenario["name"]
        try:
            ok &= run_scenario(inputs, scenario["nads"])
        except Exception as exc:  # the next scenario still runs; this one's missing verdicts fail it
            ok = verdict(False, "driver", repr(exc))
        reset_guest()
    return 0 if ok else 1


def reset_guest() -> None:
    """No VM namespace, bridge or uplink left, so that the next scenario starts from a bare guest."""
    for ns in netns.listnetns():
        netns.remove(ns)
    with IPRoute() as ipr:
        for name in ("up0", BRIDGE):
            found = ipr.link_lookup(ifname=name)
            if found:
                ipr.link("del", index=found[0])


def run_scenario(inputs: dict[str, Any], nads: dict[str, str]) -> bool:
    cni_path = inputs["cniPath"]
    first, second = sorted(nads)
    members = {"vm1": first, "vm2": first, "vm3": second}
    ok = True
    ips: dict[str, str] = {}
    for last, (ns, network) in enumerate(members.items(), start=1):
        netns.create(ns)
        added = cni("ADD", ns, nads[network], cni_path)
        ok &= verdict(added.returncode == 0, f"CNI ADD {network} in {ns}", added.stdout + added.stderr)
        if added.returncode == 0:
            ips[ns] = address(ns, last)
    if len(ips) == 3:
        ok &= verdict(reaches("vm1", ips["vm2"]), f"vm1 and vm2 on {first} reach each other", "no reply")
        for peer in ("vm1", "vm2"):
            ok &= verdict(
                not reaches("vm3", ips[peer]),
                f"vm3 on {second} does not reach {peer}",
                f"{second} reached {first}",
            )

    # The node agent's VLAN filtering on the bridge the plugin made, with an uplink of its own.
    with IPRoute() as ipr:
        ipr.link("add", ifname="up0", kind="veth", peer="up0p")
        ipr.link("set", index=ipr.link_lookup(ifname="up0")[0], master=ipr.link_lookup(ifname=BRIDGE)[0])
        ipr.link("set", index=ipr.link_lookup(ifname="up0")[0], state="up")
    expected = [set(map(int, e)) for e in inputs["expectedUplinkVlans"]]
    for settings_file, want in zip(inputs["settings"], expected, strict=True):
        settings = agent.read_settings(settings_file)
        with Netlink() as net:
            findings = {f.name: f for f in agent.one_round(net, settings.bridges)}
            observed = net.observe({BRIDGE})[0].get(BRIDGE)
        found = findings.get(BRIDGE)
        got = set(found.uplink_vlans) if found else set()
        ok &= verdict(
            found is not None and found.vlan_filtering and found.uplinks == ("up0",) and got == want,
            f"agent: uplink carries exactly {sorted(want)} ({Path(settings_file).name})",
            f"{found}; observed {observed}",
        )

    for ns, network in members.items():
        deleted = cni("DEL", ns, nads[network], cni_path)
        ok &= verdict(deleted.returncode == 0, f"CNI DEL {network} in {ns}", deleted.stdout + deleted.stderr)
        netns.remove(ns)
    left = links()
    bridge_index = int(left[BRIDGE]["index"])
    ports = sorted(n for n, link in left.items() if int(link.get("IFLA_MASTER") or 0) == bridge_index)
    veths = sorted(n for n in left if n not in ("lo", BRIDGE, "up0", "up0p"))
    with IPRoute() as ipr:
        vlan_ports = sorted(str(m.get("ifname")) for m in ipr.get_vlans() if m.get("IFLA_AF_SPEC"))
    ok &= verdict(
        ports == ["up0"] and not veths and set(vlan_ports) <= {BRIDGE, "up0"},
        "CNI DEL leaves no veth or VLAN entry behind",
        f"ports {ports}, other links {veths}, VLAN entries on {vlan_ports}",
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))

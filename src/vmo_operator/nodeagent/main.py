"""`vmo node-agent`: each round, read the settings, bring the bridges in line, report, wait.

The settings file is the rendered ConfigMap, mounted; it is re-read every round (the kubelet
updates a mounted ConfigMap in place), and its hash goes into the report so the operator knows
which settings a report answers. The report is written only when it changed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.components import node_reports
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import COMPONENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Manifest
from vmo_operator.nodeagent import plan
from vmo_operator.nodeagent.netlink import ActionFailedError, Netlink, UnsupportedError

log = logging.getLogger("vmo.node-agent")
FIELD_MANAGER = "vmo-node-agent"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the agent's settings (the mounted ConfigMap's file)")
    parser.add_argument(
        "--node", default=os.environ.get("NODE_NAME", ""), help="node name (default $NODE_NAME)"
    )
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between rounds")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--stdout", action="store_true", help="print the report instead of publishing it")
    parser.add_argument("--kubeconfig", default="", help="kubeconfig (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--netns", default="", help="inspect this named network namespace instead of our own")


@dataclass(frozen=True)
class Settings:
    digest: str
    bridges: tuple[plan.Wanted, ...]


def read_settings(path: str) -> Settings:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    document = json.loads(text)
    return Settings(
        node_reports.config_hash(text), tuple(plan.Wanted.from_json(b) for b in document.get("bridges", []))
    )


def one_round(net: Netlink, wanted: Sequence[plan.Wanted]) -> list[plan.Finding]:
    """Act on every bridge, then observe once more and report what is, not what was meant."""
    names = {w.name for w in wanted}
    bridges, links = net.observe(names)
    created: set[str] = set()
    unsupported: set[str] = set()
    messages: dict[str, list[str]] = {w.name: [] for w in wanted}
    for want in wanted:
        todo, note = plan.actions(want, bridges.get(want.name), links)
        if note:
            messages[want.name].append(note)
        for action in todo:
            try:
                net.apply(action)
            except UnsupportedError as exc:
                unsupported.add(want.name)
                messages[want.name].append(str(exc))
                break
            except ActionFailedError as exc:
                messages[want.name].append(str(exc))
                continue
            if action.kind == "create-bridge":
                created.add(want.name)
    bridges, _ = net.observe(names)
    return [
        plan.finding(
            want,
            bridges.get(want.name),
            created=want.name in created,
            supported=want.name not in unsupported,
            messages=messages[want.name],
        )
        for want in wanted
    ]


def report(node: str, digest: str, findings: Sequence[plan.Finding]) -> Manifest:
    return {
        "apiVersion": kinds.NODE_BRIDGE_REPORT.api_version,
        "kind": kinds.NODE_BRIDGE_REPORT.kind,
        "metadata": {
            "name": node,
            # Ours, so removing the CRD with Multus is not held back by the reports; no profile label:
            # the engine never prunes these, their CRD's removal does.
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: "multus"},
        },
        "status": {"configHash": digest, "bridges": [f.as_json() for f in findings]},
    }


def _publisher(kubeconfig: str) -> Any:
    from vmo_operator.kube.client import KubeClient
    from vmo_operator.kube.connect import connect, connect_kubeconfig

    api = connect_kubeconfig(kubeconfig) if kubeconfig else connect(pool_size=2)
    return KubeClient(api, FIELD_MANAGER)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if not args.node and not args.stdout:
        raise SystemExit("error: no node name: set NODE_NAME or pass --node")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    kube = None if args.stdout else _publisher(args.kubeconfig)
    published: Manifest | None = None
    while True:
        try:
            settings = read_settings(args.config)
            with Netlink(args.netns or None) as net:
                findings = one_round(net, settings.bridges)
            current = report(args.node, settings.digest, findings)
            if kube is None:
                sys.stdout.write(json.dumps(current["status"], sort_keys=True) + "\n")
                sys.stdout.flush()
            elif current != published:
                kube.apply(kinds.NODE_BRIDGE_REPORT, current)
                published = current
                log.info("reported %s", json.dumps(current["status"], sort_keys=True))
        except Exception as exc:  # one bad round (API down, settings mid-update) must not end the agent
            if args.once:
                raise
            log.warning("round failed: %s", exc)
        if args.once or stop.wait(args.interval):
            return 0

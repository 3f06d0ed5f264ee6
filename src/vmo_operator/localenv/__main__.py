"""`python -m vmo_operator.localenv up|down --dir DIR`: a local control plane that outlives the command.

`make testenv-up`, `make testenv-down` and `make demo` use it; `up` prints the kubeconfig to export.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vmo_operator.localenv.controlplane import (
    BIN_DIR_VARIABLE,
    STATE_FILE,
    ControlPlane,
    default_bin_dir,
    down,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vmo_operator.localenv",
        description="Start or stop a local Kubernetes control plane (etcd, kube-apiserver, kwok nodes).",
    )
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "--dir", type=Path, default=Path(".testenv"), help="work directory (default: .testenv)"
    )
    parser.add_argument("--nodes", type=int, default=3, help="fake kwok nodes to create (default: 3)")
    parser.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help=f"directory of the binaries (default: ${BIN_DIR_VARIABLE}, else the checkout's .bin/)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workdir: Path = args.dir.resolve()
    if args.command == "down":
        left = down(workdir)
        for pid, cmd in left:
            print(f"still running: {pid} {cmd}", file=sys.stderr)
        return 1 if left else 0
    if (workdir / STATE_FILE).exists():
        print(f"{workdir} already holds a control plane; stop it with 'down' first", file=sys.stderr)
        return 1
    started = time.monotonic()
    bin_dir = args.bin_dir.resolve() if args.bin_dir else default_bin_dir()
    plane = ControlPlane(workdir=workdir, bin_dir=bin_dir, node_count=args.nodes, keep_workdir=True)
    plane.start()
    print(f"control plane ready in {time.monotonic() - started:.1f}s at {plane.server}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

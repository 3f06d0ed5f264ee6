"""The `vmo` command line: `run`, `status`, `render`, `images`, `crd`, `node-agent` and `dashboard`.

Subcommands register in `SUBCOMMANDS` (name -> (help, add-arguments, handler)), so a new one is a
function pair and one entry, and `main` stays a dispatcher. Handlers return the exit code.

Imports are lazy: `vmo --help` loads argparse and this module, and each subcommand loads what it
uses (pydantic for `render`, kopf and the Kubernetes client only for `run` and `status`), and only
the chosen subcommand's arguments are configured. `make bench` measures `vmo --help`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from vmo_operator.api import models

Handler = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]


class InputError(Exception):
    """Bad user input, reported as one clear line per problem and exit code 1."""


def load_profile(source: str, stdin: TextIO | None = None) -> models.VMOProfile:
    """Read one VMOProfile from a YAML/JSON file, or stdin for "-"; raises InputError."""
    import yaml
    from pydantic import ValidationError

    from vmo_operator.api import models, profiles

    try:
        if source == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    # libyaml's parser when PyYAML has it: the pure-Python one takes seconds for a large file (20,000
    # list items: 7 s against 1 s); both build the same safe objects.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: nested too deeply to be a VMOProfile") from exc
    for document in documents:
        _check_size(document, source)
    if len(documents) != 1:
        raise InputError(f"{source}: expected exactly one VMOProfile document, found {len(documents)}")
    document = documents[0]
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected a VMOProfile object, found {type(document).__name__}")
    try:
        return models.parse_profile(document)
    except ValidationError as exc:
        raise InputError("\n".join(profiles.validation_problems(exc))) from exc


# A real profile has a few thousand values at most (128 networks x 32 namespaces is the largest
# list product the schema allows); anything far beyond that is an alias bomb or garbage.
MAX_VALUES = 200_000
MAX_DEPTH = 100


def _check_size(document: object, source: str) -> None:
    """Refuse documents whose YAML aliases expand to too much ("billion laughs"), or that nest too deep.

    safe_load shares aliased nodes instead of copying them, so loading is cheap, but validating and
    rendering walk the expanded tree; `affinity` is passed through as is and would be rendered into
    every Deployment. The walk stops at the first limit, so checking costs at most MAX_VALUES steps.
    """
    stack: list[tuple[object, int]] = [(document, 0)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise InputError(f"{source}: more than {MAX_VALUES} values after expanding YAML aliases")
        if depth > MAX_DEPTH:
            raise InputError(f"{source}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


def dump_manifests(manifests: Sequence[dict[str, Any]], output: str) -> str:
    import json

    from vmo_operator.api import crd

    if output == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)}, indent=2) + "\n"
    return "".join("---\n" + crd.dump_yaml(obj) for obj in manifests)


# ------------------------------------------------------------------------------------------ subcommands


def _configure_render(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", required=True, help="VMOProfile YAML or JSON; - reads stdin")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format")


def _render(args: argparse.Namespace) -> int:
    from vmo_operator.components import registry
    from vmo_operator.components.base import ClusterFacts

    profile = load_profile(args.filename)
    manifests = registry.render_all(profile.spec, ClusterFacts(), profile.metadata.name)
    sys.stdout.write(dump_manifests(manifests, args.output))
    return 0


def _configure_images(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", required=True, help="VMOProfile YAML or JSON; - reads stdin")
    parser.add_argument(
        "--registry",
        metavar="REGISTRY",
        help="print each name pulled from REGISTRY (host[:port][/path]) instead, repository path kept",
    )


def _images(args: argparse.Namespace) -> int:
    import re

    from vmo_operator.api.models.base import REGISTRY
    from vmo_operator.components import images

    if args.registry is not None and not re.fullmatch(REGISTRY, args.registry.rstrip("/")):
        raise InputError(f"--registry: {args.registry!r} is not a registry host[:port][/path]")
    profile = load_profile(args.filename)
    names = images.profile_images(profile.spec, profile.metadata.name)
    if args.registry is not None:
        names = sorted({images.rewrite(name, args.registry) for name in names})
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0


def _configure_crd(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def _crd(args: argparse.Namespace) -> int:
    from vmo_operator.api import crd

    sys.stdout.write(crd.crd_yaml())
    return 0


def _configure_run(parser: argparse.ArgumentParser) -> None:
    from vmo_operator.operator.main import add_arguments

    add_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    from vmo_operator.kube.client import KubeError
    from vmo_operator.operator.main import run

    try:
        return run(args)
    except KubeError as exc:
        if exc.status:
            raise
        raise InputError(exc.message) from None  # no cluster to talk to: one line, not a traceback


def _configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="profile name (default: the active profile)")
    parser.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")


def _status(args: argparse.Namespace) -> int:
    import json

    import yaml

    from vmo_operator.kube.client import KubeError
    from vmo_operator.operator.main import read_profile
    from vmo_operator.operator.statusview import render_status

    try:
        profile = read_profile(args.name)
    except KubeError as exc:  # no configuration, unreachable, forbidden: one line each
        raise InputError(exc.message if exc.status == 0 else str(exc)) from None
    if profile is None:
        raise InputError(f"VMOProfile {args.name!r} not found" if args.name else "no VMOProfile exists")
    if args.output == "json":
        sys.stdout.write(json.dumps(profile.get("status") or {}, indent=2) + "\n")
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(profile.get("status") or {}, sort_keys=False))
    else:
        sys.stdout.write(render_status(profile))
    return 0


def _configure_node_agent(parser: argparse.ArgumentParser) -> None:
    from vmo_operator.nodeagent.main import add_arguments

    add_arguments(parser)


def _node_agent(args: argparse.Namespace) -> int:
    from vmo_operator.nodeagent.main import run

    return run(args)


def _configure_dashboard(parser: argparse.ArgumentParser) -> None:
    from vmo_operator.dashboard.main import add_arguments

    add_arguments(parser)


def _dashboard(args: argparse.Namespace) -> int:
    from vmo_operator.dashboard.main import run
    from vmo_operator.kube.client import KubeError

    try:
        return run(args)
    except KubeError as exc:
        raise InputError(exc.message) from None  # no cluster configuration: one line


SUBCOMMANDS: dict[str, tuple[str, Configure, Handler]] = {
    "run": ("run the operator (kopf event loop, reconciles, webhooks)", _configure_run, _run),
    "status": ("show a VMOProfile's conditions, components, gates and MAC pool", _configure_status, _status),
    "render": ("print every manifest a profile produces, like `helm template`", _configure_render, _render),
    "images": (
        "print every container image a profile will pull, for an air-gap mirror",
        _configure_images,
        _images,
    ),
    "crd": ("print the VMOProfile CustomResourceDefinition", _configure_crd, _crd),
    "node-agent": (
        "on a node: check the profile's bridges, apply VLAN filtering, report (a DaemonSet runs it)",
        _configure_node_agent,
        _node_agent,
    ),
    "dashboard": (
        "serve the web dashboard over HTTPS; every request is made with the logged-in user's token",
        _configure_dashboard,
        _dashboard,
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s arguments are configured (all when None), so that `vmo --help`
    and `vmo render` never import what `vmo run` needs."""
    parser = argparse.ArgumentParser(prog="vmo", description="VMOProfile operator and tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, configure, _) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            configure(subparser)
    return parser


def _chosen(argv: Sequence[str]) -> str:
    """The subcommand named in `argv` ("" when none is): the first word that is one."""
    return next((word for word in argv if word in SUBCOMMANDS), "")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen(words)).parse_args(words)
    _, _, handler = SUBCOMMANDS[args.command]
    try:
        return handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`vmo dashboard`: arguments, TLS and the aiohttp run loop.

TLS comes from the webhook's certificate machinery (`macpool.certs`): in a cluster, `--certs-dir`
is the Secret `vmo-dashboard-tls` the operator issues and renews (`operator/dashboard_tls.py`),
mounted with `tls.crt`/`tls.key`, re-read when the kubelet swaps in a renewed pair (no restart);
without it, a CA and a serving certificate for `--tls-name` are generated at start, for local use,
and the CA is written to `--ca-out` for a browser to trust.
The dashboard always serves HTTPS: its session cookie is Secure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import ssl
import tempfile
from pathlib import Path

from aiohttp import web

from vmo_operator.macpool import certs

CHECK_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="HTTPS port (default 8443)")
    parser.add_argument(
        "--certs-dir",
        type=Path,
        help="directory with tls.crt and tls.key (default: generate a self-signed pair)",
    )
    parser.add_argument(
        "--tls-name",
        action="append",
        default=[],
        help="a DNS name or IP the generated certificate is for (repeatable; default localhost, 127.0.0.1)",
    )
    parser.add_argument("--ca-out", type=Path, help="write the generated CA certificate here")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="take the API server's address and CA from this kubeconfig (never its credentials); "
        "default: in-cluster, else $KUBECONFIG",
    )
    parser.add_argument("--api-server", help="the API server's URL (with --api-ca; instead of --kubeconfig)")
    parser.add_argument("--api-ca", type=Path, help="the CA file that signed the API server's certificate")
    parser.add_argument(
        "--vm-namespace",
        action="append",
        default=[],
        help="a namespace whose VMs to offer to users who cannot list namespaces (repeatable)",
    )


def _generated(names: list[str], ca_out: Path | None) -> Path:
    now = certs.utcnow()
    ca = certs.generate_ca("vmo-dashboard-ca", names, now=now)
    serving = certs.issue_serving(ca, names, now=now)
    directory = Path(tempfile.mkdtemp(prefix="vmo-dashboard-tls-"))
    (directory / certs.TLS_CERT).write_bytes(serving.cert_pem)
    key = directory / certs.TLS_KEY
    key.touch(mode=0o600)
    key.write_bytes(serving.key_pem)
    if ca_out is not None:
        ca_out.write_bytes(ca.cert_pem)
    return directory


def _digest(directory: Path) -> str:
    return hashlib.sha256(
        b"".join((directory / n).read_bytes() for n in (certs.TLS_CERT, certs.TLS_KEY))
    ).hexdigest()


def tls_context(directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(directory / certs.TLS_CERT, directory / certs.TLS_KEY)
    return context


async def _reload_on_change(context: ssl.SSLContext, directory: Path) -> None:
    """Load a renewed pair into the live context: new handshakes use it, open ones are left alone."""
    seen = _digest(directory)
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            current = _digest(directory)
            if current != seen:
                context.load_cert_chain(directory / certs.TLS_CERT, directory / certs.TLS_KEY)
                seen = current
        except (OSError, ssl.SSLError):
            continue  # a Secret update is a symlink swap: the next check sees it whole


async def serve(args: argparse.Namespace) -> None:
    from vmo_operator.dashboard import context as shared
    from vmo_operator.dashboard import server
    from vmo_operator.kube.connect import server_at, server_only

    directory = args.certs_dir or _generated(args.tls_name or ["localhost", "127.0.0.1"], args.ca_out)
    context = tls_context(directory)
    if args.api_server:
        if args.api_ca is None:
            raise SystemExit(
                "error: --api-server needs --api-ca, the CA that signed the API server's certificate"
            )
        where = server_at(args.api_server, args.api_ca)
    else:
        where = server_only(args.kubeconfig)
    settings = shared.Settings(where, namespaces=tuple(args.vm_namespace))
    runner = web.AppRunner(server.app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.address, args.port, ssl_context=context)
    await site.start()
    print(f"vmo dashboard serving https://{args.address}:{args.port}/", flush=True)
    try:
        await _reload_on_change(context, directory)
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0

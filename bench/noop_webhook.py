"""A mutating webhook that admits everything and changes nothing, served as the replicas serve
theirs (aiohttp, asyncio's TLS): what any webhook costs on this control plane (`bench.floor`).

Usage: python -m bench.noop_webhook PORT CERT_FILE KEY_FILE
"""

from __future__ import annotations

import json
import ssl
import sys

from aiohttp import web


async def admit(request: web.Request) -> web.Response:
    review = json.loads(await request.read())
    response = {"uid": review["request"]["uid"], "allowed": True}
    return web.json_response(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
    )


def main() -> None:
    port, cert_file, key_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    app = web.Application()
    app.add_routes([web.post("/{path:.*}", admit)])
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""TEST DOUBLE of KubeVirt's pod-eviction admission (virt-api), served on 127.0.0.1.

virt-api cannot run here (kwok only pretends to run pods, and a Service-backed webhook would make
the API server dial a ClusterIP). This stand-in answers `pods/eviction` CREATE the way
kubevirt.io/kubevirt@v1.9.0 pkg/virt-api/webhooks/validating-webhook/admitters/
pod-eviction-admitter.go does for a virt-launcher pod whose VMI live-migrates on eviction: it
denies the eviction with code 429 and the message the descheduler expects, because the VMI is
now marked for evacuation and a migration, not a deletion, moves it. A repeated eviction of the
same VMI gets "Evacuation in progress: ..." as upstream's second answer. Pods it does not know
as launchers are allowed, as virt-api allows them. It counts every call per pod, which is what
tests assert on.

The API server reaches it through `clientConfig.url: https://127.0.0.1:<port>/...` with a CA
bundle from a throwaway CA, never through a Service.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vmo_operator.localenv.pki import CertificateAuthority

PATH = "/pod-eviction"
# pod-eviction-admitter.go: "This message format is expected from descheduler."
EVICTION_FMT = 'Eviction triggered evacuation of VMI "{namespace}/{vmi}"'
IN_PROGRESS_FMT = "Evacuation in progress: " + EVICTION_FMT
TOO_MANY_REQUESTS = 429


class EvictionAdmissionDouble:
    """Answers eviction reviews for `vmis` (launcher pod name -> VMI name); counts calls per pod."""

    def __init__(self, vmis: Mapping[str, str]) -> None:
        self.vmis = dict(vmis)
        self.calls: Counter[str] = Counter()
        self.requested_by: dict[str, str] = {}
        self._marked: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._ca = CertificateAuthority("eviction-double-ca")
        self._server: ThreadingHTTPServer | None = None

    @property
    def ca_bundle(self) -> bytes:
        return self._ca.cert_pem

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}{PATH}"

    def count(self, pod: str) -> int:
        with self._lock:
            return self.calls[pod]

    def review(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The AdmissionResponse for one AdmissionRequest of a pods/eviction CREATE."""
        namespace, pod = request["namespace"], request["name"]
        eviction = request.get("object") or {}
        with self._lock:
            self.calls[pod] += 1
            self.requested_by[pod] = (
                eviction.get("metadata", {}).get("annotations", {}).get("requested-by", "")
            )
            vmi = self.vmis.get(pod)
            if vmi is None:
                return {"uid": request["uid"], "allowed": True}
            key = (namespace, vmi)
            fmt = IN_PROGRESS_FMT if key in self._marked else EVICTION_FMT
            self._marked.add(key)
        message = fmt.format(namespace=namespace, vmi=vmi)
        return {
            "uid": request["uid"],
            "allowed": False,
            "status": {"message": message, "code": TOO_MANY_REQUESTS},
        }

    @contextlib.contextmanager
    def serving(self) -> Iterator[EvictionAdmissionDouble]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": double.review(body["request"]),
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

        pair = self._ca.issue("eviction-double", ip_addresses=["127.0.0.1"], server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as scratch:
            cert, key = pair.write(Path(scratch), "serving")
            context.load_cert_chain(cert, key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        thread = threading.Thread(target=server.serve_forever, name="eviction-double", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

    def webhook_configuration(self, name: str, namespace: str) -> dict[str, Any]:
        """A ValidatingWebhookConfiguration that sends `namespace`'s pod evictions here."""
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": "pod-eviction.double.vmo.test",
                    "clientConfig": {"url": self.url, "caBundle": base64.b64encode(self.ca_bundle).decode()},
                    "rules": [
                        {
                            "operations": ["CREATE"],
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "resources": ["pods/eviction"],
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 5,
                }
            ],
        }

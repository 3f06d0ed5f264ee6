"""The webhook server in process, in front of kopf's real admission dispatch: who may call it, what
it answers, how large a review may be, and that admissions leave no memo behind in kopf."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.structs import ephemera, references
from kopf._core.engines import admission
from kopf._core.reactor import inventory

from tests.support.webhook_calls import ClientCertificate, WebhookCaller, admission_review, vm_in
from vmo_operator.localenv import pki
from vmo_operator.localenv.processes import free_port
from vmo_operator.macpool import admission_config, certs, reviews
from vmo_operator.operator.macpool.runtime import AdmissionOptions
from vmo_operator.operator.macpool.server import AdmissionServer, without_stored_memos

VALIDATE_VM = admission_config.VALIDATE_VM


@dataclass
class Kopf:
    """kopf's admission function as `kopf.run` builds it, with one validating handler."""

    calls: list[str] = field(default_factory=list)
    hang: asyncio.Event | None = None  # set: the handler waits for it
    memories: inventory.ResourceMemories = field(default_factory=inventory.ResourceMemories)

    def admit(self) -> kopf.WebhookFn:
        registry = kopf.OperatorRegistry()

        @kopf.on.validate("kubevirt.io", "v1", "virtualmachines", id=VALIDATE_VM, registry=registry)
        async def validate(body: kopf.Body, **_: Any) -> None:
            self.calls.append(body["metadata"]["name"])
            if self.hang is not None:
                await self.hang.wait()

        insights = references.Insights()
        insights.webhook_resources.add(
            references.Resource(
                "kubevirt.io", "v1", "virtualmachines", kind="VirtualMachine", namespaced=True
            )
        )
        fn: kopf.WebhookFn = functools.partial(
            admission.serve_admission_request,
            settings=kopf.OperatorSettings(),
            registry=registry,
            insights=insights,
            memories=self.memories,
            memobase=ephemera.AnyMemo(kopf.Memo()),
            indices={},
        )
        return fn


@dataclass(frozen=True)
class Credentials:
    serving_dir: Path
    client_ca: Path
    api_server: ClientCertificate
    stranger: ClientCertificate  # signed by another CA, e.g. the cluster's, which signs users too


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    root = tmp_path_factory.mktemp("server")
    bundle = certs.plan_certificates(None, ["127.0.0.1"], now=datetime.now(UTC))
    (root / certs.TLS_CERT).write_bytes(bundle.serving.cert_pem)
    (root / certs.TLS_KEY).write_bytes(bundle.serving.key_pem)
    webhook_clients, cluster = (
        pki.CertificateAuthority("webhook-clients"),
        pki.CertificateAuthority("cluster"),
    )
    (root / "client-ca.crt").write_bytes(webhook_clients.cert_pem)
    issue = functools.partial(pki.CertificateAuthority.issue, common_name="kube-apiserver", client=True)
    return Credentials(
        root,
        root / "client-ca.crt",
        ClientCertificate.issued(issue(webhook_clients), root, "api-server"),
        ClientCertificate.issued(issue(cluster), root, "stranger"),
    )


@asynccontextmanager
async def serving(credentials: Credentials, admit: kopf.WebhookFn) -> AsyncIterator[int]:
    options = AdmissionOptions(
        mode="url",
        namespace="vmo-system",
        port=free_port(),
        certs_dir=credentials.serving_dir,
        listen_host="127.0.0.1",
        client_ca=credentials.client_ca,
    )
    configs = cast(AsyncGenerator[Any, None], AdmissionServer(options, file_check_interval=60)(admit))
    await configs.__anext__()  # listening
    try:
        yield options.port
    finally:
        await configs.aclose()


def exercise(
    credentials: Credentials, kopf_: Kopf, calls: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Serve `kopf_`'s admission function, run `calls` against the server's port, stop serving."""

    async def main() -> None:
        async with serving(credentials, kopf_.admit()) as port:
            await calls(port)

    asyncio.run(main())


def allowed(status: int, answer: Any) -> bool:
    return status == 200 and bool(answer["response"]["allowed"])


def update_of(name: str, uid: str, padding: int = 0) -> dict[str, Any]:
    vm = vm_in("tenant", name, {"nic": None})
    vm["metadata"]["uid"] = uid
    vm["metadata"]["annotations"] = {"padding": "x" * padding}
    return admission_review("UPDATE", vm, old=vm)


def test_updates_leave_no_memo_in_kopf_while_kopfs_own_function_keeps_one_per_uid(
    credentials: Credentials,
) -> None:
    served, direct = Kopf(), Kopf()
    count = 50

    async def calls(port: int) -> None:
        caller = WebhookCaller(port, credentials.api_server)
        for n in range(count):
            status, answer = await asyncio.to_thread(caller.post, VALIDATE_VM, update_of(f"vm{n}", f"u{n}"))
            assert allowed(status, answer), answer

    async def straight_to_kopf() -> None:  # what kopf's own server does with the same reviews
        for n in range(count):
            await direct.admit()(update_of(f"vm{n}", f"u{n}"), webhook=VALIDATE_VM)  # type: ignore[arg-type]

    exercise(credentials, served, calls)
    asyncio.run(straight_to_kopf())
    assert len(served.calls) == len(direct.calls) == count
    assert len(direct.memories._items) == count  # the leak this server closes
    assert served.memories._items == {}


def test_without_the_api_servers_certificate_a_review_is_refused_before_kopf_sees_it(
    credentials: Credentials,
) -> None:
    kopf_ = Kopf()

    async def calls(port: int) -> None:
        review = admission_review("CREATE", vm_in("tenant", "forged", {"nic": None}))
        status, answer = await asyncio.to_thread(WebhookCaller(port).post, VALIDATE_VM, review)
        assert status == 403, answer
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.to_thread(WebhookCaller(port, credentials.stranger).post, VALIDATE_VM, review)
        # The API server's certificate gets through: the refusals above were about the caller.
        status, answer = await asyncio.to_thread(
            WebhookCaller(port, credentials.api_server).post, VALIDATE_VM, review
        )
        assert allowed(status, answer), answer

    exercise(credentials, kopf_, calls)
    assert kopf_.calls == ["forged"]


def test_unknown_paths_and_malformed_reviews_are_denied_without_reaching_kopf(
    credentials: Credentials,
) -> None:
    kopf_ = Kopf()

    async def calls(port: int) -> None:
        caller = WebhookCaller(port, credentials.api_server)
        review = admission_review("CREATE", vm_in("tenant", "vm", {"nic": None}))
        status, answer = await asyncio.to_thread(caller.post, "macpool-anything", review)
        assert status == 200
        assert answer["response"]["allowed"] is False
        assert answer["response"]["status"]["code"] == 404
        assert answer["response"]["uid"] == review["request"]["uid"]
        del review["request"]["userInfo"]
        status, answer = await asyncio.to_thread(caller.post, VALIDATE_VM, review)
        assert answer["response"]["allowed"] is False, answer
        status, _ = await asyncio.to_thread(caller.call, "POST", VALIDATE_VM, None)
        assert status == 400

    exercise(credentials, kopf_, calls)
    assert kopf_.calls == []


def test_an_update_of_two_large_objects_fits_and_a_larger_body_does_not(credentials: Credentials) -> None:
    kopf_ = Kopf()
    # Two objects near etcd's default 1.5 MiB request limit: over aiohttp's default 1 MiB in all.
    large = update_of("large", "u1", padding=1_400_000)

    async def calls(port: int) -> None:
        caller = WebhookCaller(port, credentials.api_server)
        status, answer = await asyncio.to_thread(caller.post, VALIDATE_VM, large)
        assert allowed(status, answer), answer
        too_large = update_of("huge", "u2", padding=reviews.MAX_REVIEW_BYTES // 2)
        status, _ = await asyncio.to_thread(caller.post, VALIDATE_VM, too_large)
        assert status == 413

    exercise(credentials, kopf_, calls)
    assert kopf_.calls == ["large"]


def test_readiness_answers_without_a_client_certificate_and_fails_while_admission_hangs(
    credentials: Credentials,
) -> None:
    kopf_ = Kopf()

    async def calls(port: int) -> None:
        prober = WebhookCaller(port)  # the kubelet presents no certificate
        assert await asyncio.to_thread(prober.ready) == (200, {"result": "ok"})
        kopf_.hang = asyncio.Event()
        try:
            assert await asyncio.to_thread(prober.ready) == (503, {"result": "failed"})
        finally:
            kopf_.hang.set()

    exercise(credentials, kopf_, calls)
    assert kopf_.calls == ["probe", "probe"]


def test_kopfs_admission_function_keeps_its_other_arguments_when_memos_are_replaced() -> None:
    kopf_ = Kopf()
    admit = without_stored_memos(kopf_.admit())
    assert isinstance(admit, functools.partial)
    assert admit.keywords["memories"] is not kopf_.memories
    assert admit.func is admission.serve_admission_request

"""Webhook certificates: issuance that a TLS client accepts, and rotation before expiry."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vmo_operator.macpool import certs

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SANS = ["127.0.0.1", "localhost"]


def handshake(bundle: certs.CertBundle, tmp_path: Path, server_name: str) -> None:
    """A real TLS handshake over a socket pair, client trusting only the caBundle."""
    (tmp_path / "tls.crt").write_bytes(bundle.serving.cert_pem)
    (tmp_path / "tls.key").write_bytes(bundle.serving.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    client_ctx = ssl.create_default_context(cadata=bundle.ca_bundle.decode())
    left, right = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(right, server_side=True) as tls:
                tls.recv(1)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(left, server_hostname=server_name) as tls:
            tls.sendall(b"x")
    finally:
        thread.join(timeout=10)
    if errors and not isinstance(errors[0], ssl.SSLError):
        raise errors[0]


def test_fresh_bundle_serves_tls_for_its_ip_and_dns_sans(tmp_path: Path) -> None:
    bundle = certs.plan_certificates(None, SANS, now=datetime.now(UTC))
    assert certs.sans_of(bundle.serving.cert) == set(SANS)
    assert certs.signed_by(bundle.serving.cert, bundle.ca.cert)
    handshake(bundle, tmp_path, "127.0.0.1")
    handshake(bundle, tmp_path, "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(bundle, tmp_path, "other.example")


def test_secret_round_trip_and_corrupt_data_is_rejected() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0)
    assert certs.CertBundle.from_secret_data(bundle.to_secret_data()) == bundle
    broken = bundle.to_secret_data() | {certs.TLS_KEY: b"not a key"}
    assert certs.CertBundle.from_secret_data(broken) is None
    assert certs.CertBundle.from_secret_data({}) is None


def test_nothing_changes_while_nothing_is_due() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0)
    assert certs.plan_certificates(bundle, SANS, now=T0 + timedelta(days=200)) is bundle


def test_serving_certificate_is_renewed_at_two_thirds_of_its_life_under_the_same_ca() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0)
    later = T0 + timedelta(days=245)
    renewed = certs.plan_certificates(bundle, SANS, now=later)
    assert renewed.serving != bundle.serving
    assert renewed.ca == bundle.ca
    assert renewed.trusted == bundle.trusted
    assert renewed.serving.cert.not_valid_after_utc > bundle.serving.cert.not_valid_after_utc


def test_changed_sans_reissue_the_serving_certificate() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0)
    moved = certs.plan_certificates(bundle, ["vmo-webhook.vmo-system.svc"], now=T0)
    assert certs.sans_of(moved.serving.cert) == {"vmo-webhook.vmo-system.svc"}


def test_ca_rotation_trusts_the_successor_before_serving_from_it() -> None:
    ca_life = timedelta(days=30)
    bundle = certs.plan_certificates(None, SANS, now=T0, ca_validity=ca_life)
    # Phase 1, at two thirds of the CA's life: successor trusted, serving unchanged.
    t1 = T0 + timedelta(days=21)
    phase1 = certs.plan_certificates(bundle, SANS, now=t1, ca_validity=ca_life)
    assert phase1.next_ca is not None
    assert phase1.ca == bundle.ca
    assert len(phase1.trusted) == 2
    assert certs.signed_by(phase1.serving.cert, bundle.ca.cert)
    # Still inside the propagation window: nothing more happens.
    assert certs.plan_certificates(phase1, SANS, now=t1 + timedelta(minutes=1), ca_validity=ca_life) == phase1
    # Phase 2: the successor signs; the old CA stays trusted until it expires.
    t2 = t1 + certs.PROPAGATION + certs.BACKDATE
    phase2 = certs.plan_certificates(phase1, SANS, now=t2, ca_validity=ca_life)
    assert phase2.ca == phase1.next_ca
    assert phase2.next_ca is None
    assert certs.signed_by(phase2.serving.cert, phase2.ca.cert)
    assert len(phase2.trusted) == 2
    # After the old CA expires it leaves the bundle.
    after = certs.plan_certificates(phase2, SANS, now=T0 + ca_life + timedelta(days=1), ca_validity=ca_life)
    assert after.trusted == (phase2.ca.cert_pem,)


def test_serving_certificate_never_outlives_its_ca() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0, ca_validity=timedelta(days=10))
    assert bundle.serving.cert.not_valid_after_utc <= bundle.ca.cert.not_valid_after_utc

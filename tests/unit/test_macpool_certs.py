"""Webhook certificates: issuance that a TLS client accepts, and rotation before expiry."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def legacy_ca(now: datetime) -> certs.KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certs.KeyPair(cert.public_bytes(serialization.Encoding.PEM), pem)


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
    assert certs.plan_certificates(bundle, SANS, now=T0 + certs.SERVING_VALIDITY / 2) is bundle


def test_serving_certificate_is_renewed_at_two_thirds_of_its_life_under_the_same_ca() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0)
    later = T0 + certs.SERVING_VALIDITY * 0.7
    renewed = certs.plan_certificates(bundle, SANS, now=later)
    assert renewed.serving != bundle.serving
    assert renewed.ca == bundle.ca
    assert renewed.trusted == bundle.trusted
    assert renewed.serving.cert.not_valid_after_utc > bundle.serving.cert.not_valid_after_utc


def test_changed_sans_reissue_the_serving_certificate_from_a_ca_constrained_to_them(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    bundle = certs.plan_certificates(None, SANS, now=now)
    moved = certs.plan_certificates(bundle, ["localhost.localdomain"], now=now)
    assert certs.sans_of(moved.serving.cert) == {"localhost.localdomain"}
    # The old CA could not sign for the new name, so a new one does, trusted at once.
    assert moved.ca != bundle.ca
    assert moved.trusted == (moved.ca.cert_pem, *bundle.trusted)
    assert certs.signed_by(moved.serving.cert, moved.ca.cert)
    handshake(moved, tmp_path, "localhost.localdomain")


def test_the_ca_is_short_lived_and_can_sign_only_for_the_webhook_names(tmp_path: Path) -> None:
    sans = ["vmo-operator-webhook.vmo-system.svc", "127.0.0.1"]
    now = datetime.now(UTC)
    bundle = certs.plan_certificates(None, sans, now=now)
    ca = bundle.ca.cert
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= timedelta(days=366)
    constraints = certs.constraints_of(ca)
    assert constraints is not None
    assert {str(name.value) for name in constraints.permitted_subtrees or ()} == {
        "vmo-operator-webhook.vmo-system.svc",
        "127.0.0.1/32",
    }
    # A TLS client refuses a certificate the CA signed for any other name, even one it asked for.
    handshake(bundle, tmp_path, "vmo-operator-webhook.vmo-system.svc")
    rogue = certs.CertBundle(
        bundle.ca, certs.issue_serving(bundle.ca, ["kubernetes.default.svc"], now=now), bundle.trusted
    )
    with pytest.raises(ssl.SSLCertVerificationError, match=r"constraint|permitted"):
        handshake(rogue, tmp_path, "kubernetes.default.svc")


def test_a_ca_from_an_older_release_is_rotated_out_in_two_phases() -> None:
    """Ten years and no name constraints, as releases before this one issued it."""
    ca = legacy_ca(T0)
    legacy = certs.CertBundle(ca, certs.issue_serving(ca, SANS, now=T0), (ca.cert_pem,))
    assert certs.constraints_of(ca.cert) is None
    phase1 = certs.plan_certificates(legacy, SANS, now=T0 + timedelta(hours=1))
    assert phase1.next_ca is not None
    assert phase1.serving == legacy.serving  # still served until the successor is trusted everywhere
    phase2 = certs.plan_certificates(phase1, SANS, now=T0 + timedelta(hours=2))
    assert phase2.ca == phase1.next_ca
    assert certs.signed_by(phase2.serving.cert, phase2.ca.cert)
    assert certs.constraints_of(phase2.ca.cert) is not None


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
    assert certs.constraints_of(phase2.ca.cert) is not None
    assert len(phase2.trusted) == 2
    # After the old CA expires it leaves the bundle.
    after = certs.plan_certificates(phase2, SANS, now=T0 + ca_life + timedelta(days=1), ca_validity=ca_life)
    assert after.trusted == (phase2.ca.cert_pem,)


def test_serving_certificate_never_outlives_its_ca() -> None:
    bundle = certs.plan_certificates(None, SANS, now=T0, ca_validity=timedelta(days=10))
    assert bundle.serving.cert.not_valid_after_utc <= bundle.ca.cert.not_valid_after_utc

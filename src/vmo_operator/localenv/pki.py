"""Credentials for the local control plane: one CA that signs serving and client certificates.

Kept apart from the launcher so callers can mint a certificate, or a kubeconfig, for any user or
webhook server.
ECDSA P-256 keys keep generation fast; Go's TLS stack accepts them everywhere we need.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=7)


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(self.cert_pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertificateAuthority:
    """A throwaway CA; everything it signs is trusted by the API server and by the tests."""

    def __init__(self, common_name: str = "vmo-testenv-ca") -> None:
        # RSA for the CA, P-256 for the certificates it signs: the API server verifies a client
        # certificate's signature, the CA's, on every request it authenticates that way, and Go
        # verifies an RSA-2048 signature in about a third of the time of a P-256 one (56 against
        # 156 us on the test machine; that verification was a tenth of the test API servers' CPU).
        # The leaf keys sign the TLS handshakes, where P-256 is the cheaper one.
        self._key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    @classmethod
    def load(cls, cert_pem: bytes, key_pem: bytes) -> CertificateAuthority:
        """Re-open a CA written by `save`, e.g. to mint users on an already running dev cluster."""
        ca = cls.__new__(cls)
        key = serialization.load_pem_private_key(key_pem, password=None)
        # A CA saved before the CA key became RSA is P-256.
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        ca._key = key
        ca._cert = x509.load_pem_x509_certificate(cert_pem)
        ca._name = ca._cert.subject
        return ca

    def save(self, directory: Path, stem: str = "ca") -> None:
        KeyPair(self.cert_pem, _key_pem(self._key)).write(directory, stem)

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        )
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def service_account_signing_key() -> bytes:
    """The key the API server signs service-account tokens with (RSA, as kube-apiserver expects)."""
    return _key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def kubeconfig_document(server: str, ca_pem: bytes, user: str, pair: KeyPair) -> dict[str, Any]:
    """A kubeconfig for `server` that authenticates as `user` with the client certificate `pair`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "vmo-testenv", "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pair.cert_pem),
                    "client-key-data": _b64(pair.key_pem),
                },
            }
        ],
        "contexts": [{"name": "vmo-testenv", "context": {"cluster": "vmo-testenv", "user": user}}],
        "current-context": "vmo-testenv",
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_control_plane_pki(directory: Path, *, service_ip: str) -> CertificateAuthority:
    """The CA, the API server's serving and client certificates and the service-account key."""
    ca = CertificateAuthority()
    ca.save(directory)
    serving = ca.issue(
        "kube-apiserver",
        dns_names=[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        ip_addresses=["127.0.0.1", service_ip],
        server=True,
    )
    serving.write(directory, "apiserver")
    (directory / "sa.key").write_bytes(service_account_signing_key())
    (directory / "sa.key").chmod(0o600)
    # The API server calls aggregated APIs with this identity.
    ca.issue("kube-apiserver-client", client=True).write(directory, "apiserver-client")
    write_webhook_client_credentials(directory)
    return ca


# What the API server presents to admission webhooks, and the CA a webhook trusts to check it.
WEBHOOK_CLIENT_CA = "webhook-client-ca.crt"
WEBHOOK_CLIENT = "apiserver-webhook-client"


def write_webhook_client_credentials(directory: Path) -> None:
    """A CA of its own for the API server's webhook client certificate, and that certificate.

    Not the cluster CA: that one also signs every user's client certificate here, so a webhook
    trusting it would accept any user who dials its port. Only the API server holds a certificate
    from this CA, and its key is thrown away once the certificate is signed.
    """
    ca = CertificateAuthority("vmo-testenv-webhook-client-ca")
    (directory / WEBHOOK_CLIENT_CA).write_bytes(ca.cert_pem)
    ca.issue("kube-apiserver-webhook-client", client=True).write(directory, WEBHOOK_CLIENT)

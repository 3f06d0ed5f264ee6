"""The webhook's CA and serving certificate: generation and rotation, as pure functions of time.

kopf's self-signed path depends on oscrypto, which cannot load OpenSSL 3 here, and a self-signed
leaf would have to be re-trusted at every renewal anyway. So we keep our own small CA: the API
server trusts the CA (the webhook configurations' caBundle), and the serving certificate can be
renewed freely underneath it.

Renewal happens at two thirds of a certificate's lifetime. Replacing the CA needs two phases, or
the API server would meet a serving certificate signed by a CA it has not been told about yet:

1. a successor CA is generated and added to the bundle next to the current one; serving is
   unchanged;
2. once the successor has been in the bundle for `propagation` (long enough for every replica to
   have pushed the new caBundle), it becomes the signing CA and a new serving certificate is
   issued from it. The old CA stays in the bundle until it expires.

Keys are ECDSA P-256: quick to generate on a small node, and accepted by Go's TLS stack.

The CA is short-lived (a year, so rotated every eight months) and name-constrained to the webhook's
own names (the Service's DNS names, or the loopback address in URL mode): its key sits in a Secret,
and a CA that can sign only for those names is worth no more to whoever reads it than the serving
key next to it. A CA from an older release (ten years, no constraints) is rotated out by the same
two phases on the first start of this one; a CA whose constraints no longer cover the names (the
Service was renamed) is replaced at once, since no certificate it signs could be served anyway.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = timedelta(days=365)
SERVING_VALIDITY = timedelta(days=90)
RENEW_AT = 2 / 3  # fraction of the lifetime after which a certificate is renewed
PROPAGATION = timedelta(minutes=10)
BACKDATE = timedelta(minutes=5)  # tolerate clock skew between nodes

# Secret keys; the layout is part of the operator's contract with its own earlier versions.
CA_CERT, CA_KEY = "ca.crt", "ca.key"
NEXT_CA_CERT, NEXT_CA_KEY = "next-ca.crt", "next-ca.key"
CA_BUNDLE = "ca-bundle.crt"
TLS_CERT, TLS_KEY = "tls.crt", "tls.key"


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True)
class CertBundle:
    """Everything the webhook's Secret holds."""

    ca: KeyPair  # signs the serving certificate
    serving: KeyPair
    trusted: tuple[bytes, ...]  # CA certificates in the caBundle, newest first
    next_ca: KeyPair | None = None  # a successor CA, trusted but not yet signing

    @property
    def ca_bundle(self) -> bytes:
        return b"".join(self.trusted)

    def to_secret_data(self) -> dict[str, bytes]:
        data = {
            CA_CERT: self.ca.cert_pem,
            CA_KEY: self.ca.key_pem,
            CA_BUNDLE: self.ca_bundle,
            TLS_CERT: self.serving.cert_pem,
            TLS_KEY: self.serving.key_pem,
        }
        if self.next_ca is not None:
            data[NEXT_CA_CERT] = self.next_ca.cert_pem
            data[NEXT_CA_KEY] = self.next_ca.key_pem
        return data

    @classmethod
    def from_secret_data(cls, data: Mapping[str, bytes]) -> CertBundle | None:
        """The bundle stored in a Secret, or None when keys are missing or unreadable."""
        try:
            ca = KeyPair(data[CA_CERT], data[CA_KEY])
            serving = KeyPair(data[TLS_CERT], data[TLS_KEY])
            next_ca = KeyPair(data[NEXT_CA_CERT], data[NEXT_CA_KEY]) if NEXT_CA_CERT in data else None
            trusted = tuple(split_pem(data.get(CA_BUNDLE, ca.cert_pem)))
            for pair in (ca, serving, *([next_ca] if next_ca else [])):
                pair.cert  # noqa: B018 - parse now, so a corrupt Secret is regenerated rather than served
                serialization.load_pem_private_key(pair.key_pem, password=None)
        except (KeyError, ValueError):
            return None
        return cls(ca, serving, trusted, next_ca)


def stored_bundle(secret: Mapping[str, object] | None) -> CertBundle | None:
    """The bundle a Secret object (as the API server returns it, data in base64) holds, if whole."""
    data = secret.get("data") if secret is not None else None
    if not isinstance(data, Mapping):
        return None
    try:
        decoded = {str(key): base64.b64decode(str(value), validate=True) for key, value in data.items()}
    except (binascii.Error, ValueError):
        return None
    return CertBundle.from_secret_data(decoded)


def split_pem(bundle: bytes) -> list[bytes]:
    marker = b"-----END CERTIFICATE-----"
    return [part.strip() + b"\n" + marker + b"\n" for part in bundle.split(marker) if part.strip()]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def name_constraints(sans: Sequence[str]) -> x509.NameConstraints:
    """What a CA for these names may sign: exactly them (a DNS name also covers its subdomains)."""
    permitted: list[x509.GeneralName] = []
    for name in _general_names(sans):
        if isinstance(name, x509.IPAddress):
            address = name.value
            permitted.append(x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}")))
        else:
            permitted.append(name)
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def constraints_of(cert: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def _permits(ca: x509.Certificate, sans: Sequence[str]) -> bool:
    """Whether a certificate for `sans` signed by `ca` verifies (no constraints permit everything)."""
    constraints = constraints_of(ca)
    if constraints is None:
        return True
    return set(constraints.permitted_subtrees or ()) >= set(name_constraints(sans).permitted_subtrees or ())


def _current(ca: x509.Certificate, sans: Sequence[str], validity: timedelta) -> bool:
    """A CA as this release issues it: constrained to exactly `sans`, living no longer than `validity`."""
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    constraints = constraints_of(ca)
    return (
        constraints is not None
        and not constraints.excluded_subtrees
        and set(constraints.permitted_subtrees or ()) == set(name_constraints(sans).permitted_subtrees or ())
        and lifetime <= validity + BACKDATE
    )


def generate_ca(
    common_name: str, sans: Sequence[str], *, now: datetime, validity: timedelta = CA_VALIDITY
) -> KeyPair:
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} {now:%Y%m%d%H%M%S}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(name_constraints(sans), critical=True)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_serving(
    ca: KeyPair, sans: Sequence[str], *, now: datetime, validity: timedelta = SERVING_VALIDITY
) -> KeyPair:
    """A server certificate for `sans` (DNS names and IP addresses), valid no longer than the CA."""
    if not sans:
        raise ValueError("a serving certificate needs at least one subject alternative name")
    ca_cert = ca.cert
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an ECDSA key")
    key = _key()
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_general_names(sans)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _general_names(sans: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def sans_of(cert: x509.Certificate) -> set[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = extension.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in extension.get_values_for_type(x509.IPAddress)]
    return {*dns, *ips}


def renewal_due(cert: x509.Certificate, now: datetime, fraction: float = RENEW_AT) -> bool:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return now >= start + (end - start) * fraction


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def plan_certificates(
    current: CertBundle | None,
    sans: Sequence[str],
    *,
    now: datetime,
    name: str = "vmo-macpool-webhook-ca",
    ca_validity: timedelta = CA_VALIDITY,
    serving_validity: timedelta = SERVING_VALIDITY,
    propagation: timedelta = PROPAGATION,
) -> CertBundle:
    """The bundle that should be stored now; `current` itself when nothing is due."""
    if current is None:
        ca = generate_ca(name, sans, now=now, validity=ca_validity)
        return CertBundle(ca, issue_serving(ca, sans, now=now, validity=serving_validity), (ca.cert_pem,))

    bundle = current
    if not _permits(bundle.ca.cert, sans):
        # Renamed: nothing this CA signs would verify for the new names, so there is nothing to
        # keep serving while a successor propagates. Replace it now; the old one stays trusted.
        ca = generate_ca(name, sans, now=now, validity=ca_validity)
        bundle = replace(bundle, ca=ca, next_ca=None, trusted=(ca.cert_pem, *bundle.trusted))
    elif bundle.next_ca is None and (
        renewal_due(bundle.ca.cert, now) or not _current(bundle.ca.cert, sans, ca_validity)
    ):
        successor = generate_ca(name, sans, now=now, validity=ca_validity)
        bundle = replace(bundle, next_ca=successor, trusted=(successor.cert_pem, *bundle.trusted))
    elif (
        bundle.next_ca is not None
        and now >= bundle.next_ca.cert.not_valid_before_utc + BACKDATE + propagation
    ):
        bundle = replace(bundle, ca=bundle.next_ca, next_ca=None)

    serving = bundle.serving.cert
    if renewal_due(serving, now) or sans_of(serving) != set(sans) or not signed_by(serving, bundle.ca.cert):
        bundle = replace(bundle, serving=issue_serving(bundle.ca, sans, now=now, validity=serving_validity))

    alive = tuple(
        pem for pem in bundle.trusted if x509.load_pem_x509_certificate(pem).not_valid_after_utc > now
    )
    if bundle.ca.cert_pem not in alive:
        alive = (bundle.ca.cert_pem, *alive)
    return replace(bundle, trusted=alive) if alive != bundle.trusted else bundle


def utcnow() -> datetime:
    return datetime.now(UTC)

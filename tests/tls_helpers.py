"""A throw-away certificate authority for serving the emulator over TLS on loopback.

The real service is only reachable as ``https``/``wss``. A CA and a leaf
certificate for ``127.0.0.1``/``localhost`` are made at run time (nothing secret
is kept in the repository); clients trust the CA through ``client_context`` or
the PEM file at ``ca_file``.
"""

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class LocalTls:
    """The PEM files, a server context for the emulator and a client context that trusts it."""

    ca_file: Path
    server_file: Path  # the server's key and certificate

    @classmethod
    def in_folder(cls, folder: Path) -> LocalTls:
        """Return the files that ``make_local_tls`` wrote to ``folder``."""
        return cls(folder / "ca.pem", folder / "server.pem")

    @property
    def server_context(self) -> ssl.SSLContext:
        """Return a new server context with the loopback certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_file)
        return context

    @property
    def client_context(self) -> ssl.SSLContext:
        """Return a new client context that trusts the CA (and only it)."""
        return ssl.create_default_context(cafile=self.ca_file)


def _name(common_name: str) -> x509.Name:
    """Return a subject or issuer name."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    """Return a self-signed CA certificate (with the extensions OpenSSL's strict mode wants)."""
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("qwen-tts-realtime test CA"))
        .issuer_name(_name("qwen-tts-realtime test CA"))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> x509.Certificate:
    """Return the server certificate for 127.0.0.1 and localhost, signed by the CA."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def make_local_tls(directory: Path | None = None) -> LocalTls:
    """Create a CA and a loopback server certificate; write the PEM files to ``directory``.

    Without ``directory`` the files go to a new temporary directory that is left for the
    operating system to clean (the certificates expire within a day anyway).
    """
    folder = directory or Path(tempfile.mkdtemp(prefix="qwen-tls-"))
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca(ca_key, now)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(key, ca, ca_key, now)
    tls = LocalTls.in_folder(folder)
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.server_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + leaf.public_bytes(serialization.Encoding.PEM)
    )
    return tls

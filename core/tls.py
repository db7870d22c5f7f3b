"""TLS for the API: the certificate and key the settings name, or a self-signed pair made once (with
``cryptography``) under ``<data_dir>/tls`` for the demo and trials, valid for localhost, 127.0.0.1,
::1 and the host served on. Browsers warn about a self-signed certificate; put a real one in
``tls_cert_file`` and ``tls_key_file`` (or TLS at nginx) for anything else."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import UserError
from core.settings import Settings

VALID_DAYS = 365
NAMES = ("localhost", "127.0.0.1", "::1")


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """(certificate, key) in PEM under ``folder``: those made before when they still cover ``host``
    for more than a day, else new ones (an ECDSA P-256 key, kept 0600)."""
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    names = sorted({*NAMES, host} - {"0.0.0.0", "::"})
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        covered = {str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}
        if set(names) <= covered and cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1):
            return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CIM Server (self-signed)")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def certificate(settings: Settings, host: str) -> tuple[Path, Path]:
    """The configured pair, or the self-signed one."""
    if settings.tls_cert_file or settings.tls_key_file:
        if not (settings.tls_cert_file and settings.tls_key_file):
            raise UserError("set both CIM_TLS_CERT_FILE and CIM_TLS_KEY_FILE (or neither, for a self-signed pair)")
        for path in (settings.tls_cert_file, settings.tls_key_file):
            if not path.is_file():
                raise UserError(f"{path} does not exist: check CIM_TLS_CERT_FILE and CIM_TLS_KEY_FILE")
        return settings.tls_cert_file, settings.tls_key_file
    return self_signed(settings.data_dir / "tls", host)

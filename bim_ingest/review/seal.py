"""Electronic seals (电子签章) on review reports: a PDF signed with the review agency's certificate
(a real PDF signature, pyHanko, CMS/PAdES baseline), and its verification.

Keys and certificates live in ``settings.seal_dir`` (``<USCC>.key.pem``, ``<USCC>.cert.pem`` and
the issuing CA's ``ca.cert.pem``): production puts the agencies' own there. Without it they live
under ``<data_dir>/seals`` and are generated for the demo: a demo CA and one certificate per
agency, its USCC as the subject's serial number."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from core.errors import UserError
from core.settings import get_settings

CA_NAME = "CIM 演示电子签章根证书 Demo seal CA"
DEMO_YEARS = 5


@dataclass(frozen=True)
class Credentials:
    key: Path
    cert: Path
    ca: Path


def seal_dir() -> tuple[Path, bool]:
    """Where keys and certificates are, and whether demo ones may be generated there."""
    configured = get_settings().seal_dir
    return (configured, False) if configured is not None else (get_settings().data_dir / "seals", True)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _demo_ca(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = folder / "ca.key.pem", folder / "ca.cert.pem"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise UserError(f"{key_path} holds no elliptic-curve private key: remove it and its certificate")
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME), x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * DEMO_YEARS * 2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _demo_agency(folder: Path, uscc: str, name: str) -> None:
    ca_key, ca_cert = _demo_ca(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} 审图专用章"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * DEMO_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(folder / f"{uscc}.key.pem", key)
    (folder / f"{uscc}.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def credentials(uscc: str, name: str) -> Credentials:
    """The agency's key, certificate and CA; generated for the demo when seals are not configured."""
    folder, demo = seal_dir()
    found = Credentials(folder / f"{uscc}.key.pem", folder / f"{uscc}.cert.pem", folder / "ca.cert.pem")
    if not (found.key.exists() and found.cert.exists() and found.ca.exists()):
        if not demo:
            raise UserError(
                f"no signing key for agency {uscc} in {folder}: "
                f"put {uscc}.key.pem, {uscc}.cert.pem and ca.cert.pem there"
            )
        folder.mkdir(parents=True, exist_ok=True)
        _demo_agency(folder, uscc, name)
    return found


def sign_pdf(pdf: bytes, uscc: str, name: str, reason: str) -> bytes:
    """The PDF with the agency's signature over the whole file."""
    found = credentials(uscc, name)
    signer = signers.SimpleSigner.load(str(found.key), str(found.cert), ca_chain_files=(str(found.ca),))
    if signer is None:
        raise UserError(f"the signing key or certificate of agency {uscc} in {found.key.parent} cannot be read")
    meta = signers.PdfSignatureMetadata(field_name="AgencySeal", reason=reason, location="常州 Changzhou", name=name)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
    return out.getvalue()


def trust_roots() -> list:
    """The CA certificates seals are checked against."""
    folder, _ = seal_dir()
    return [load_cert_from_pemder(str(folder / "ca.cert.pem"))] if (folder / "ca.cert.pem").exists() else []


def verify_pdf(data: bytes) -> dict[str, Any]:
    """Whether a sealed PDF is intact (not one byte changed since signing), signed over the whole
    file, and by a certificate the city trusts; and who signed it."""
    result: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "valid": False, "signatures": []}
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - a damaged file is a failed verification, said plainly
        return result | {"reason": f"not a readable PDF ({exc.__class__.__name__}: {exc})"}
    if not embedded:
        return result | {"reason": "the PDF carries no signature"}
    context = ValidationContext(trust_roots=trust_roots(), allow_fetching=False)
    for signature in embedded:
        entry: dict[str, Any] = {"field": signature.field_name}
        try:
            status = validate_pdf_signature(signature, context)
            cert = status.signing_cert
            entry |= {
                "intact": bool(status.intact),
                "signature_valid": bool(status.valid),
                "trusted": bool(status.trusted),
                "covers_whole_file": status.coverage is not None and status.coverage.name == "ENTIRE_FILE",
                "signer": cert.subject.human_friendly,
                "signer_serial_number": cert.subject.native.get("serial_number"),
                "issuer": cert.issuer.human_friendly,
                "certificate_serial": format(cert.serial_number, "x"),
                "signed_at": status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
            }
        except Exception as exc:  # noqa: BLE001 - a broken signature is a failed verification
            entry |= {"intact": False, "signature_valid": False, "trusted": False, "error": str(exc)}
        result["signatures"].append(entry)
    ok = all(
        s.get("intact") and s.get("signature_valid") and s.get("trusted") and s.get("covers_whole_file")
        for s in result["signatures"]
    )
    reasons = []
    for s in result["signatures"]:
        if not s.get("intact"):
            reasons.append("the document was changed after it was signed (tampered)")
        elif not s.get("covers_whole_file"):
            reasons.append("bytes were added after the signature")
        elif not s.get("trusted"):
            reasons.append(f"the signer's certificate ({s.get('signer')}) is not issued by a trusted CA")
    return result | {"valid": ok, "reason": "; ".join(dict.fromkeys(reasons)) or "intact and signed by a trusted CA"}

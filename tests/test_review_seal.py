"""Electronic seals: an agency's decision report is a PDF signed with the agency's certificate;
it verifies, names its signer, and fails verification when one byte is changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from bim_ingest.review.report_pdf import decision_pdf
from bim_ingest.review.seal import credentials, sign_pdf, verify_pdf

ROOT = Path(__file__).resolve().parent.parent
AGENCY = ("91320400SEALTEST0X", "常州测试消防审图中心")


def _report() -> tuple[dict, dict]:
    part = {
        "agency": AGENCY[0],
        "agency_name": AGENCY[1],
        "drawing_type_label": {"zh": "消防设计图", "en": "fire protection design drawings"},
        "round": 1,
        "decision": {
            "action": "return",
            "by": "jr-fire",
            "at": "2026-12-01T10:00:00+00:00",
            "comment": "疏散门缺防火等级",
        },
    }
    review = {
        "id": 7,
        "project_code": "RV-TEST-001",
        "file_name": "joint.ifc",
        "schema": "IFC4",
        "model_version_id": 3,
        "report": {"counts": {"errors": 1, "warnings": 0}},
        "issues": [
            {
                "id": 1,
                "rule": "ids:FIRE-01 doors: fire rating",
                "ifc_class": "IfcDoor",
                "global_id": "2O2Fr$t4X7Zf8NOew3FLOH",
                "message": "Pset_DoorCommon.FireRating 缺失 missing",
                "resolved": False,
            }
        ],
    }
    return part, review


def tampered(data: bytes) -> bytes:
    """One byte changed inside the signed part: the middle of the first content stream."""
    at = data.index(b"stream") + 40
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def _signed() -> bytes:
    part, review = _report()
    return sign_pdf(decision_pdf(part, review, "0" * 64), AGENCY[0], AGENCY[1], "消防设计图审查意见 return")


def test_signed_report_verifies_and_names_the_signer():
    signed = _signed()
    result = verify_pdf(signed)
    assert result["valid"] is True, result
    [signature] = result["signatures"]
    cert = x509.load_pem_x509_certificate(credentials(*AGENCY).cert.read_bytes())
    assert signature["certificate_serial"] == format(cert.serial_number, "x")
    assert signature["signer_serial_number"] == AGENCY[0]
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert AGENCY[1] in common_name and common_name in signature["signer"]
    assert signature["intact"] and signature["trusted"] and signature["covers_whole_file"]


def test_one_byte_changed_fails_verification():
    signed = _signed()
    result = verify_pdf(tampered(signed))
    assert result["valid"] is False
    assert "tampered" in result["reason"] and result["signatures"][0]["intact"] is False
    assert verify_pdf(signed + b"%%EOF appended\n")["valid"] is False


def test_a_pdf_without_signature_or_not_a_pdf_fails():
    part, review = _report()
    assert verify_pdf(decision_pdf(part, review, "0" * 64)) | {"sha256": None} == {
        "sha256": None,
        "valid": False,
        "signatures": [],
        "reason": "the PDF carries no signature",
    }
    assert verify_pdf(b"hello")["valid"] is False


def test_cli_verify(tmp_path, database):
    signed = _signed()
    good, bad = tmp_path / "sealed.pdf", tmp_path / "tampered.pdf"
    good.write_bytes(signed)
    bad.write_bytes(tampered(signed))
    cim = Path(sys.executable).parent / "cim"
    run = [
        subprocess.run(
            [str(cim), "review", "verify", str(p), "--json"],
            cwd=ROOT,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        for p in (good, bad)
    ]
    assert run[0].returncode == 0 and '"valid": true' in run[0].stdout and AGENCY[1] in run[0].stdout
    assert run[1].returncode == 1 and '"valid": false' in run[1].stdout

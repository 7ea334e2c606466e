"""Report files of an assessment: the CSV of per-requirement results, and the evidence bundle (zip + manifest)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from typing import IO, Any

from django.utils import timezone

from apps.compliance.models import Assessment
from apps.compliance.selectors import assessment_report

CSV_COLUMNS = (
    "framework",
    "requirement",
    "section",
    "title",
    "status",
    "source",
    "checked_at",
    "notes",
    "evidence_files",
)


def report_csv(assessment: Assessment, report: dict[str, Any] | None = None) -> str:
    report = report or assessment_report(assessment)
    evidence_by_requirement: dict[Any, list[str]] = {}
    for item in report["evidence"]:
        evidence_by_requirement.setdefault(item.requirement_id, []).append(item.filename)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for result in report["results"]:
        writer.writerow(
            (
                assessment.framework.code,
                result.requirement.code,
                result.requirement.section,
                result.requirement.title,
                result.status,
                "automated" if result.automated else "manual",
                result.checked_at.isoformat(),
                result.notes,
                "; ".join(evidence_by_requirement.get(result.requirement_id, [])),
            )
        )
    return out.getvalue()


def _sha256_of(handle: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def evidence_bundle(assessment: Assessment) -> IO[bytes]:
    """A zip of the assessment's evidence, its report CSV and a manifest of SHA-256 hashes.

    `manifest.json` lists every file with the hash computed while bundling and the hash recorded at
    upload; `SHA256SUMS` is the same in the format `sha256sum -c` reads. A file whose bytes changed since
    upload shows `"matches_upload": false`.
    """
    report = assessment_report(assessment)
    bundle = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - returned to the caller
    files: list[dict[str, Any]] = []
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in report["evidence"]:
            path = f"evidence/{item.pk}/{item.filename}"
            with item.file.open("rb") as handle:
                digest, size = _sha256_of(handle)
                handle.seek(0)
                with archive.open(path, "w", force_zip64=True) as target:
                    while chunk := handle.read(1024 * 1024):
                        target.write(chunk)
            files.append(
                {
                    "path": path,
                    "sha256": digest,
                    "size": size,
                    "recorded_sha256": item.sha256,
                    "matches_upload": digest == item.sha256,
                    "requirement": item.requirement.code if item.requirement else None,
                    "collected_at": item.collected_at.isoformat(),
                    "expires_at": item.expires_at.isoformat() if item.expires_at else None,
                    "expired": item.is_expired,
                }
            )
        csv_bytes = report_csv(assessment, report).encode()
        archive.writestr("report.csv", csv_bytes)
        files.append({"path": "report.csv", "sha256": hashlib.sha256(csv_bytes).hexdigest(), "size": len(csv_bytes)})
        manifest = {
            "format": "nofx-evidence-bundle/1",
            "generated_at": timezone.now().isoformat(),
            "organization_id": str(assessment.organization_id),
            "assessment_id": str(assessment.pk),
            "framework": assessment.framework.code,
            "score": str(assessment.score) if assessment.score is not None else None,
            "files": files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        archive.writestr("SHA256SUMS", "".join(f"{f['sha256']}  {f['path']}\n" for f in files))
    bundle.seek(0)
    return bundle

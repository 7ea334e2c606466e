"""`nofx ext validate` / `nofx ext test` on the pipeline tests' bad packages report what the platform reports:
the same rule, message, file and line for every finding the pipeline records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from apps.core.exceptions import BusinessRuleViolation
from apps.marketplace.services import upload_version
from nofx_sdk.cli import main
from nofx_sdk.rules import Finding, Severity
from tests.factories.marketplace import CONNECTOR, WORKFLOW, PublisherFactory, build_package, manifest
from tests.marketplace.test_pipeline import TRIPS

PACKAGES: dict[str, bytes] = {name: case[0] for name, case in TRIPS.items()}
PACKAGES.update(
    {
        "yaml syntax error": build_package("id: acme.tickets\nversion: [1.0\n", manifest_name="nofx-extension.yaml"),
        "missing entry point": build_package(manifest(entryPoint="missing.json")),
        "invalid configSchema": build_package(
            manifest(configSchema={"type": "object", "properties": {"a": {"type": "strange"}}})
        ),
        "connector schema": build_package(
            files={"connector.json": json.dumps({**CONNECTOR, "auth": {}, "extra": 1}, indent=2)}
        ),
        "unknown workflow connector": build_package(
            manifest(type="workflow", entryPoint="workflow.json"),
            files={"workflow.json": json.dumps({**WORKFLOW, "target": {"connector": "mystery", "object": "x"}})},
        ),
    }
)


def _key(finding: dict[str, Any]) -> tuple[Any, ...]:
    return (finding["rule_id"], finding["message"], finding.get("file"), finding.get("line"))


def _cli_findings(package: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for command in ("validate", "test"):
        result = CliRunner().invoke(main, ["ext", command, str(package), "--json"])
        assert result.exit_code in (0, 1), result.output
        found += json.loads(result.stdout)["findings"]
    return found


def _platform_findings(publisher: Any, developer: Any, data: bytes, run_pipeline: Any) -> tuple[set[Any], set[str]]:
    """(findings the pipeline recorded, texts of findings the upload was refused with)."""
    try:
        with run_pipeline(execute=True):
            version = upload_version(publisher=publisher, actor=developer, data=data)
    except BusinessRuleViolation as refusal:
        # Refused at upload (no readable manifest): the platform answers with each finding as text.
        return set(), {error["message"] for error in refusal.errors or []}
    version.refresh_from_db()
    return {_key(f) for f in version.findings}, set()


@pytest.mark.parametrize("case", list(PACKAGES), ids=list(PACKAGES))
def test_the_cli_reports_every_finding_of_the_pipeline_with_the_same_rule_message_and_place(
    case, organization, make_member, django_capture_on_commit_callbacks, settings, tmp_path
):
    # given a bad package, uploaded to the platform and saved for the CLI
    settings.MEDIA_ROOT = str(tmp_path / "media")
    publisher = PublisherFactory(organization=organization, slug="acme")
    developer = make_member(organization, "developer")
    package = tmp_path / "package.zip"
    package.write_bytes(PACKAGES[case])
    recorded, refused_with = _platform_findings(
        publisher, developer, PACKAGES[case], django_capture_on_commit_callbacks
    )

    # when
    cli = _cli_findings(package)

    # then
    assert recorded or refused_with, f"the platform found nothing wrong with {case!r}"
    assert recorded <= {_key(f) for f in cli}, f"missing from the CLI: {recorded - {_key(f) for f in cli}}"
    assert refused_with <= {str(Finding(**{**f, "severity": Severity(f["severity"])})) for f in cli}

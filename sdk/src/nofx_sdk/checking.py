"""`nofx ext validate` and the static part of `nofx ext test`: the platform's own rules, run locally.

The rules are the very module the platform's pipeline imports (`nofx_sdk.rules`), so a package gets the same
rule ids and messages here as after an upload.
"""

from __future__ import annotations

from collections.abc import Sequence

from nofx_sdk import rules
from nofx_sdk.rules import Finding, PackageContext


def validate_and_scan(data: bytes, context: PackageContext | None = None) -> list[Finding]:
    """The validate and scan steps' findings, in the order the pipeline reports them."""
    context = context or PackageContext()
    package = rules.read_package(data, context.limits)
    if package.archive is None:
        return rules.validate_package(package, context)
    return rules.validate_package(package, context) + rules.scan_package(package, context)


def payload_findings(data: bytes, context: PackageContext | None = None) -> list[Finding]:
    """The test step's static checks: the connector manifest or workflow definition against its schema."""
    context = context or PackageContext()
    package = rules.read_package(data, context.limits)
    if package.archive is None:
        return rules.validate_package(package, context)
    return rules.check_payload(package, context)


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == rules.Severity.ERROR and not f.inconclusive]

"""The marketplace's package rules: pure Python, no Django, so the SDK's `nofx ext validate` runs the very
same checks and prints the very same rule ids and messages as the platform's pipeline.

Entry points:

- `validate_package(data, context)` - the manifest, its version, dependencies and platform range;
- `scan_package(data, context)` - archive limits, traversal and links, secrets, scripts, egress, squatting;
- `check_payload(package)` - the declarative payload (connector manifest, workflow definition) by its schema.

Each returns `Finding`s naming a rule of `RULES` (stable ids such as `MKT-S004`), a message for the
developer, and the file and line it is about.
"""

from nofx_sdk.rules.checks import (
    PackageContext,
    ReadPackage,
    check_payload,
    read_package,
    scan_package,
    validate_package,
)
from nofx_sdk.rules.findings import Finding, Severity
from nofx_sdk.rules.registry import RULES, Outcome, Rule, Step, rule

# Bump when a rule's behaviour changes: published versions are rescanned under the new rules.
RULES_ENGINE_VERSION = "2026.11.1"

__all__ = [
    "RULES",
    "RULES_ENGINE_VERSION",
    "Finding",
    "Outcome",
    "PackageContext",
    "ReadPackage",
    "Rule",
    "Severity",
    "Step",
    "check_payload",
    "read_package",
    "rule",
    "scan_package",
    "validate_package",
]

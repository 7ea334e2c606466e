"""Every rule the pipeline applies, by stable id. Ids and titles never change meaning once published:
developers, operators' rule switches and the SDK refer to them.

`outcome` says what an enforced finding does to a version: `reject` sends it back to the developer,
`quarantine` holds it for an operator to decide (for findings that need a person's judgement).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Step(StrEnum):
    VALIDATE = "validate"
    SCAN = "scan"
    TEST = "test"


class Outcome(StrEnum):
    REJECT = "reject"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Rule:
    id: str
    step: Step
    title: str
    outcome: Outcome = Outcome.REJECT
    # Operators may switch a rule to monitor-only; these are enforced unless they do.
    enforced_by_default: bool = True


_ALL = [
    # -- validate ------------------------------------------------------------------------------------
    Rule("MKT-V001", Step.VALIDATE, "The package is a readable zip archive"),
    Rule("MKT-V002", Step.VALIDATE, "The package has a manifest at its root"),
    Rule("MKT-V003", Step.VALIDATE, "The manifest parses as JSON or YAML"),
    Rule("MKT-V004", Step.VALIDATE, "The manifest matches the extension manifest schema"),
    Rule("MKT-V005", Step.VALIDATE, "The version is higher than every earlier version"),
    Rule("MKT-V006", Step.VALIDATE, "Every dependency resolves to a published version"),
    Rule("MKT-V007", Step.VALIDATE, "Dependencies form no cycle"),
    Rule("MKT-V008", Step.VALIDATE, "The platform range includes this platform"),
    Rule("MKT-V009", Step.VALIDATE, "The entry point is a file in the package"),
    Rule("MKT-V010", Step.VALIDATE, "configSchema is a valid JSON Schema"),
    Rule("MKT-V011", Step.VALIDATE, "The manifest id belongs to the extension being uploaded"),
    Rule("MKT-V012", Step.VALIDATE, "Screenshots are PNG or JPEG files in the package"),
    # -- scan ----------------------------------------------------------------------------------------
    Rule("MKT-S001", Step.SCAN, "The package is within the size limit"),
    Rule("MKT-S002", Step.SCAN, "The package is within the file-count limit"),
    Rule("MKT-S003", Step.SCAN, "No file expands beyond the compression-ratio or unpacked-size limits"),
    Rule("MKT-S004", Step.SCAN, "No path escapes the package"),
    Rule("MKT-S005", Step.SCAN, "The package holds no symbolic links"),
    Rule("MKT-S006", Step.SCAN, "No secret is committed in a file"),
    Rule("MKT-S007", Step.SCAN, "Scripts make no dangerous calls", outcome=Outcome.QUARANTINE),
    Rule("MKT-S008", Step.SCAN, "The package carries no executable code", enforced_by_default=False),
    Rule("MKT-S009", Step.SCAN, "Egress goes to no private, loopback or link-local address"),
    Rule("MKT-S010", Step.SCAN, "Egress hosts are specific (no bare wildcards)"),
    Rule("MKT-S011", Step.SCAN, "The id and name do not imitate another publisher's", outcome=Outcome.QUARANTINE),
    Rule("MKT-S012", Step.SCAN, "Every host the extension contacts is declared in permissions.egress"),
    # -- test ----------------------------------------------------------------------------------------
    Rule("MKT-T001", Step.TEST, "The connector manifest is valid"),
    Rule("MKT-T002", Step.TEST, "The workflow definition is valid"),
    Rule("MKT-T003", Step.TEST, "The workflow uses only known connectors"),
    Rule("MKT-T004", Step.TEST, "The app answers the registration handshake"),
]

RULES: dict[str, Rule] = {r.id: r for r in _ALL}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]

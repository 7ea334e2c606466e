"""What a check reports: one finding per problem, pointing at the rule, the file and the line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem found in a package. `file` is a path inside the package; `line` counts from 1."""

    rule_id: str
    message: str
    file: str | None = None
    line: int | None = None
    severity: Severity = Severity.ERROR
    # The check could not reach a conclusion (e.g. a server did not answer): it blocks only `required` rules.
    inconclusive: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line:
            where = f"{where}:{self.line}"
        return f"{self.rule_id} {where + ': ' if where else ''}{self.message}"

"""Credentials committed by mistake. The value found is never repeated in a message."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("private key", re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Stripe live key", re.compile(r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
]
_ASSIGNED = re.compile(
    r"""(?ix)
    (?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|private[_-]?key)
    ["']?\s*[:=]\s*["']([^"'\s]{12,})["']
    """
)
_PLACEHOLDER = re.compile(r"(?i)example|changeme|change-me|placeholder|your[_-]|xxxx|\$\{|\{\{|<|dummy|redacted|\*\*\*")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def find_secrets(text: str) -> Iterator[tuple[int, str]]:
    """(line, kind) for every likely secret in the text."""
    for number, line in enumerate(text.splitlines(), start=1):
        reported = False
        for kind, pattern in _PATTERNS:
            if pattern.search(line):
                yield number, kind
                reported = True
                break
        if reported:
            continue
        for match in _ASSIGNED.finditer(line):
            value = match.group(1)
            if not _PLACEHOLDER.search(value) and _entropy(value) >= 3.3:
                yield number, "hard-coded credential"
                break

"""Semantic versions (semver 2.0.0) and npm-style ranges: `^1.2`, `~1.2.3`, `>=1.0.0 <2.0.0`, `1.x`, `*`,
alternatives joined with `||`. Small and dependency-free so the SDK shares it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(<=|>=|<|>|=|\^|~)?\s*(.+)$")


class InvalidVersion(ValueError):
    pass


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _SEMVER.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise InvalidVersion(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0).")
        pre = tuple(match.group(4).split(".")) if match.group(4) else ()
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones.
        ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}-{'.'.join(self.prerelease)}" if self.prerelease else text


def is_valid_version(text: str) -> bool:
    try:
        Version.parse(text)
    except InvalidVersion:
        return False
    return True


@dataclass(frozen=True)
class _Bound:
    op: str  # one of < <= > >= =
    version: Version

    def allows(self, v: Version) -> bool:
        return {
            "<": v < self.version,
            "<=": v <= self.version,
            ">": v > self.version,
            ">=": v >= self.version,
            "=": v == self.version,
        }[self.op]


class InvalidRange(ValueError):
    pass


def _partial(text: str) -> tuple[list[int | None], tuple[str, ...]]:
    match = _PARTIAL.match(text)
    if not match:
        raise InvalidRange(f"{text!r} is not a version or a version range.")
    parts: list[int | None] = []
    for group in match.groups()[:3]:
        parts.append(None if group is None or group in "xX*" else int(group))
    # "1.x.3" makes no sense: once a part is a wildcard, the rest are too.
    for i, part in enumerate(parts):
        if part is None:
            parts[i + 1 :] = [None] * (2 - i)
            break
    pre = tuple(match.group(4).split(".")) if match.group(4) else ()
    return parts, pre


def _bounds(op: str, text: str) -> list[_Bound]:
    parts, pre = _partial(text)
    major, minor, patch = parts
    if major is None:
        return []  # "*": anything
    low = Version(major, minor or 0, patch or 0, pre)
    if op == "^":
        if major > 0 or minor is None:
            high = Version(major + 1, 0, 0, ("0",))
        elif minor > 0 or patch is None:
            high = Version(0, minor + 1, 0, ("0",))
        else:
            high = Version(0, 0, patch + 1, ("0",))
        return [_Bound(">=", low), _Bound("<", high)]
    if op == "~" or (op in ("", "=") and (minor is None or patch is None)):
        if minor is None:
            high = Version(major + 1, 0, 0, ("0",))
        else:
            high = Version(major, minor + 1, 0, ("0",))
        return [_Bound(">=", low), _Bound("<", high)]
    if op in ("", "="):
        return [_Bound("=", low)]
    if op == ">" and (minor is None or patch is None):
        # ">1" means ">=2.0.0"; ">1.2" means ">=1.3.0".
        nxt = Version(major + 1, 0, 0) if minor is None else Version(major, minor + 1, 0)
        return [_Bound(">=", nxt)]
    if op == "<=" and (minor is None or patch is None):
        nxt = Version(major + 1, 0, 0, ("0",)) if minor is None else Version(major, minor + 1, 0, ("0",))
        return [_Bound("<", nxt)]
    return [_Bound(op, low)]


@dataclass(frozen=True)
class VersionRange:
    """Alternatives (`||`) of conjunctions of bounds. Pre-releases match only bounds that name one."""

    text: str
    alternatives: tuple[tuple[_Bound, ...], ...]

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        if not isinstance(text, str) or not text.strip():
            raise InvalidRange("A version range cannot be empty.")
        alternatives = []
        for alternative in text.split("||"):
            tokens = re.sub(r"(<=|>=|<|>|=|\^|~)\s+", r"\1", alternative.strip()).split()
            if not tokens:
                raise InvalidRange(f"{text!r} has an empty alternative.")
            bounds: list[_Bound] = []
            for token in tokens:
                match = _COMPARATOR.match(token)
                if not match:
                    raise InvalidRange(f"{token!r} is not a version comparator.")
                bounds.extend(_bounds(match.group(1) or "", match.group(2)))
            alternatives.append(tuple(bounds))
        return cls(text=text.strip(), alternatives=tuple(alternatives))

    def allows(self, version: Version) -> bool:
        for bounds in self.alternatives:
            if not all(b.allows(version) for b in bounds):
                continue
            if version.prerelease and not any(
                b.version.prerelease
                and b.version.prerelease != ("0",)
                and (b.version.major, b.version.minor, b.version.patch) == (version.major, version.minor, version.patch)
                for b in bounds
            ):
                continue
            return True
        return False

    def best(self, versions: list[Version]) -> Version | None:
        """The highest of `versions` this range allows."""
        allowed = [v for v in versions if self.allows(v)]
        return max(allowed) if allowed else None


def is_valid_range(text: str) -> bool:
    try:
        VersionRange.parse(text)
    except InvalidRange:
        return False
    return True

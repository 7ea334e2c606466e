"""Reading an uploaded package (a zip archive) without trusting it.

Header sizes can lie, so every read is bounded by the limits regardless of what the archive claims; entries
that escape the package, links and bombs are reported and never read.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from nofx_sdk.rules.findings import Finding

MiB = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_package_bytes: int = 20 * MiB
    max_files: int = 2000
    max_unpacked_bytes: int = 100 * MiB
    max_file_bytes: int = 20 * MiB
    # Only entries that unpack to more than `ratio_floor_bytes` are judged by their ratio: a few kilobytes of
    # repeated text legitimately compress very well.
    max_compression_ratio: int = 100
    ratio_floor_bytes: int = 1 * MiB


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    compressed_size: int
    is_dir: bool
    is_link: bool
    escapes: bool


@dataclass
class ReadPackage:
    """A package opened for checks. `archive` is None when the bytes are not a readable zip."""

    data: bytes
    limits: ArchiveLimits
    archive: zipfile.ZipFile | None = None
    entries: list[Entry] = field(default_factory=list)
    error: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def names(self) -> set[str]:
        return {e.name for e in self.entries if not e.is_dir}

    def safe_entries(self) -> list[Entry]:
        """Entries that may be read: regular files inside the package, not bombs."""
        return [e for e in self.entries if not (e.is_dir or e.is_link or e.escapes or self.is_bomb(e))]

    def is_bomb(self, entry: Entry) -> bool:
        limits = self.limits
        if entry.size > limits.max_file_bytes:
            return True
        ratio = entry.size / max(entry.compressed_size, 1)
        return entry.size > limits.ratio_floor_bytes and ratio > limits.max_compression_ratio

    def read(self, name: str, max_bytes: int) -> bytes | None:
        """At most `max_bytes` of an entry; None if it is larger (whatever its header says) or unreadable."""
        if self.archive is None:
            return None
        try:
            with self.archive.open(name) as handle:
                chunk = handle.read(max_bytes + 1)
        except (KeyError, zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
            return None
        return None if len(chunk) > max_bytes else chunk


def escapes_package(name: str) -> bool:
    """True for absolute paths, `..` components, drive letters and backslashes (Windows separators)."""
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in PurePosixPath(name).parts)


def _is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def open_package(data: bytes, limits: ArchiveLimits) -> ReadPackage:
    package = ReadPackage(data=data, limits=limits)
    if len(data) > limits.max_package_bytes:
        # Opening a huge archive to list it is work we refuse to do; the size finding says why.
        package.error = "too large to open"
        return package
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        package.error = str(exc) or type(exc).__name__
        return package
    package.archive = archive
    for info in infos[: limits.max_files + 1]:
        package.entries.append(
            Entry(
                name=info.filename,
                size=info.file_size,
                compressed_size=info.compress_size,
                is_dir=info.is_dir(),
                is_link=_is_link(info),
                escapes=escapes_package(info.filename),
            )
        )
    return package


def archive_findings(package: ReadPackage, total_entries: int | None = None) -> list[Finding]:
    """MKT-S001..S005: size, file count, bombs, traversal, links."""
    limits = package.limits
    findings: list[Finding] = []
    if package.size > limits.max_package_bytes:
        findings.append(
            Finding(
                "MKT-S001",
                f"The package is {package.size} bytes; the limit is {limits.max_package_bytes} bytes.",
            )
        )
        return findings
    files = [e for e in package.entries if not e.is_dir]
    if len(package.entries) > limits.max_files:
        findings.append(Finding("MKT-S002", f"The package holds more than {limits.max_files} files."))
    total = 0
    for entry in files:
        total += entry.size
        if entry.escapes:
            findings.append(
                Finding(
                    "MKT-S004",
                    "This path would be written outside the package (absolute path, `..` or backslash); "
                    "use relative paths inside the package.",
                    file=entry.name,
                )
            )
        if entry.is_link:
            findings.append(
                Finding("MKT-S005", "Symbolic links are not allowed; include the file itself.", file=entry.name)
            )
        if package.is_bomb(entry):
            ratio = entry.size // max(entry.compressed_size, 1)
            findings.append(
                Finding(
                    "MKT-S003",
                    f"This file unpacks to {entry.size} bytes from {entry.compressed_size} "
                    f"(ratio {ratio}:1); the limits are {limits.max_file_bytes} bytes per file and "
                    f"{limits.max_compression_ratio}:1 for files over {limits.ratio_floor_bytes} bytes.",
                    file=entry.name,
                )
            )
    if total > limits.max_unpacked_bytes:
        findings.append(
            Finding(
                "MKT-S003",
                f"The package unpacks to {total} bytes; the limit is {limits.max_unpacked_bytes} bytes.",
            )
        )
    return findings

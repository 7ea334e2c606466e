"""Pack an extension's directory into the zip the platform accepts (the manifest at its root)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from nofx_sdk.rules.manifest import MANIFEST_NAMES

# Never shipped: build output, version control, caches, the extension's tests and recordings, and an agent's
# or analytics app's own source (`app/`), which runs on the developer's servers, never in the package.
EXCLUDED_PARTS = frozenset({"dist", ".git", "__pycache__", ".pytest_cache", "node_modules", ".venv", "tests", "app"})
EXCLUDED_NAMES = frozenset({".env", ".DS_Store"})
# A fixed timestamp makes the same sources pack into the same bytes (and the same SHA-256).
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)


class NotAnExtension(Exception):
    """The directory has no manifest at its root."""


def manifest_path(directory: Path) -> Path:
    for name in MANIFEST_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise NotAnExtension(f"{directory} has no {' or '.join(MANIFEST_NAMES)} at its root.")


def packaged_files(directory: Path) -> list[Path]:
    """The files that go into the package, sorted, relative to `directory`."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part in EXCLUDED_PARTS for part in relative.parts) or relative.name in EXCLUDED_NAMES:
            continue
        if path.is_file() or path.is_symlink():
            found.append(relative)
    return found


def pack_directory(directory: Path) -> bytes:
    """The package's zip bytes. Symbolic links are packed as links, so the scan reports them as the platform
    would (MKT-S005) rather than silently following them."""
    manifest_path(directory)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in packaged_files(directory):
            source = directory / relative
            info = zipfile.ZipInfo(relative.as_posix(), date_time=_FIXED_DATE)
            if source.is_symlink():
                info.create_system = 3
                info.external_attr = 0o120777 << 16
                archive.writestr(info, str(source.readlink()))
                continue
            info.external_attr = 0o644 << 16
            archive.writestr(info, source.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def package_bytes(target: Path) -> bytes:
    """A directory is packed; a file is taken as an already packed zip."""
    return pack_directory(target) if target.is_dir() else target.read_bytes()

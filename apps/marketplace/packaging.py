"""Building a package (zip bytes) from a manifest and files: what `nofx ext pack` does, used here by the
demo seeding."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any


def build_package(manifest: dict[str, Any], files: Mapping[str, str | bytes] | None = None) -> bytes:
    """A zip with nofx-extension.json at its root and the given files beside it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nofx-extension.json", json.dumps(manifest, indent=2))
        for name, content in (files or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()

"""The checks of the validate, scan and (static part of the) test steps, over a package's bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from pydantic import ValidationError

from nofx_sdk.connector_manifest import validate_manifest
from nofx_sdk.rules import code_analysis, egress
from nofx_sdk.rules.archive import ArchiveLimits, ReadPackage, archive_findings, open_package
from nofx_sdk.rules.dependencies import PublishedVersion, resolve
from nofx_sdk.rules.findings import Finding, Severity
from nofx_sdk.rules.manifest import (
    APP_TYPES,
    MANIFEST_NAMES,
    ExtensionType,
    Manifest,
    ManifestSyntaxError,
    line_of,
    load_manifest_document,
)
from nofx_sdk.rules.payloads import (
    BUILT_IN_CONNECTORS,
    CONNECTOR_VALIDATOR,
    WORKFLOW_VALIDATOR,
    schema_errors,
    workflow_connectors,
)
from nofx_sdk.rules.secret_detection import find_secrets
from nofx_sdk.rules.semver import InvalidRange, InvalidVersion, Version, VersionRange

MAX_MANIFEST_BYTES = 256 * 1024
MAX_SCANNED_FILE_BYTES = 2 * 1024 * 1024

__all__ = ["PackageContext", "ReadPackage", "check_payload", "read_package", "scan_package", "validate_package"]


@dataclass(frozen=True)
class PackageContext:
    """What the checks need to know about the world beyond the package."""

    platform_version: str = "0.1.0"
    # The extension id this upload belongs to (None for a first upload or a local check).
    expected_id: str | None = None
    # Versions this extension already has (any status): a new one must be higher than all of them.
    earlier_versions: tuple[str, ...] = ()
    # Published versions of every other extension, for dependency resolution.
    catalog: Mapping[str, Sequence[PublishedVersion]] = field(default_factory=dict)
    # (id, name) of other publishers' extensions, for the name-squatting check.
    others: tuple[tuple[str, str], ...] = ()
    allow_private_addresses: bool = False
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    known_connectors: frozenset[str] = BUILT_IN_CONNECTORS


@dataclass
class _Loaded:
    name: str | None = None
    text: str | None = None
    document: Any = None
    manifest: Manifest | None = None
    findings: list[Finding] = field(default_factory=list)


def read_package(data: bytes, limits: ArchiveLimits | None = None) -> ReadPackage:
    """Open a package once for all the steps' checks."""
    return open_package(data, limits or ArchiveLimits())


def _load(package: ReadPackage) -> _Loaded:
    cached = getattr(package, "_loaded", None)
    if isinstance(cached, _Loaded):
        return cached
    loaded = _Loaded()
    package._loaded = loaded  # type: ignore[attr-defined]
    if package.archive is None:
        loaded.findings.append(Finding("MKT-V001", f"The package is not a readable zip archive ({package.error})."))
        return loaded
    names = package.names()
    loaded.name = next((n for n in MANIFEST_NAMES if n in names), None)
    if loaded.name is None:
        loaded.findings.append(
            Finding("MKT-V002", f"No manifest at the package's root: add {MANIFEST_NAMES[0]} (or .yaml).")
        )
        return loaded
    raw = package.read(loaded.name, MAX_MANIFEST_BYTES)
    if raw is None:
        loaded.findings.append(
            Finding("MKT-V003", f"The manifest is larger than {MAX_MANIFEST_BYTES} bytes.", file=loaded.name)
        )
        return loaded
    try:
        loaded.text = raw.decode("utf-8")
        loaded.document = load_manifest_document(loaded.text, loaded.name)
    except UnicodeDecodeError:
        loaded.findings.append(Finding("MKT-V003", "The manifest is not UTF-8 text.", file=loaded.name))
        return loaded
    except ManifestSyntaxError as exc:
        loaded.findings.append(Finding("MKT-V003", f"The manifest is {exc}.", file=loaded.name, line=exc.line))
        return loaded
    if not isinstance(loaded.document, dict):
        loaded.findings.append(Finding("MKT-V004", "The manifest must be an object (a mapping).", file=loaded.name))
        return loaded
    try:
        loaded.manifest = Manifest.model_validate(loaded.document)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = tuple(p for p in error["loc"] if isinstance(p, str | int))
            where = ".".join(str(p) for p in path) or "(manifest)"
            message = str(error["msg"]).removeprefix("Value error, ")
            loaded.findings.append(
                Finding("MKT-V004", f"{where}: {message}", file=loaded.name, line=line_of(loaded.text, path))
            )
    return loaded


def loaded_document(package: ReadPackage) -> tuple[Any, list[Finding]]:
    """The manifest as plain data (even when it breaks the schema) and the findings of reading it."""
    loaded = _load(package)
    return loaded.document, list(loaded.findings)


def manifest_of(package: ReadPackage) -> Manifest | None:
    """The package's manifest when it is valid, else None (validate_package says why)."""
    return _load(package).manifest


def _at(loaded: _Loaded, *path: str | int) -> dict[str, Any]:
    return {"file": loaded.name, "line": line_of(loaded.text or "", path)}


def validate_package(package: ReadPackage, context: PackageContext) -> list[Finding]:
    """MKT-V001..V011: the manifest, the version, dependencies, platform range, entry point, configSchema."""
    loaded = _load(package)
    findings = list(loaded.findings)
    manifest = loaded.manifest
    if manifest is None:
        return findings
    if context.expected_id and manifest.id != context.expected_id:
        findings.append(
            Finding(
                "MKT-V011",
                f"The manifest's id {manifest.id!r} is not the extension {context.expected_id!r} "
                "this version is uploaded to.",
                **_at(loaded, "id"),
            )
        )
    earlier = []
    for text in context.earlier_versions:
        try:
            earlier.append(Version.parse(text))
        except InvalidVersion:
            continue
    if earlier and manifest.semver <= max(earlier):
        findings.append(
            Finding(
                "MKT-V005",
                f"Version {manifest.version} is not higher than {max(earlier)}, the highest earlier version; "
                "versions are immutable and each new one must be higher.",
                **_at(loaded, "version"),
            )
        )
    try:
        platform_ok = VersionRange.parse(manifest.requires.platform).allows(Version.parse(context.platform_version))
    except (InvalidRange, InvalidVersion):
        platform_ok = False
    if not platform_ok:
        findings.append(
            Finding(
                "MKT-V008",
                f"requires.platform {manifest.requires.platform!r} does not include this platform's version "
                f"{context.platform_version}.",
                **_at(loaded, "requires", "platform"),
            )
        )
    resolution = resolve(
        extension_id=manifest.id,
        dependencies=[(d.id, d.version) for d in manifest.dependencies],
        catalog=context.catalog,
    )
    index = {d.id: i for i, d in enumerate(manifest.dependencies)}
    for dep_id, range_text, why in resolution.unresolved:
        at = _at(loaded, "dependencies", index[dep_id]) if dep_id in index else {"file": loaded.name, "line": None}
        findings.append(Finding("MKT-V006", f"Dependency {dep_id} {range_text} cannot be resolved: {why}.", **at))
    if resolution.cycle:
        findings.append(
            Finding(
                "MKT-V007",
                f"Dependencies form a cycle: {' -> '.join(resolution.cycle)}.",
                **_at(loaded, "dependencies"),
            )
        )
    if manifest.entry_point and manifest.type not in APP_TYPES:
        entry = manifest.entry_point
        if code_analysis_escapes(entry) or entry not in package.names():
            findings.append(
                Finding("MKT-V009", f"entryPoint {entry!r} is not a file in the package.", **_at(loaded, "entryPoint"))
            )
    for position, shot in enumerate(manifest.screenshots):
        data = None if code_analysis_escapes(shot.path) else package.read(shot.path, MAX_SCREENSHOT_BYTES)
        if data is None or image_type(data) is None:
            findings.append(
                Finding(
                    "MKT-V012",
                    f"Screenshot {shot.path!r} is not a PNG or JPEG file of at most {MAX_SCREENSHOT_BYTES // 1024} KiB "
                    "in the package.",
                    **_at(loaded, "screenshots", position, "path"),
                )
            )
    if manifest.config_schema is not None:
        try:
            Draft202012Validator.check_schema(manifest.config_schema)
        except SchemaError as exc:
            findings.append(
                Finding(
                    "MKT-V010",
                    f"configSchema is not a valid JSON Schema: {exc.message}",
                    **_at(loaded, "configSchema", *tuple(exc.path)),
                )
            )
    return findings


def code_analysis_escapes(path: str) -> bool:
    return path.startswith("/") or ".." in PurePosixPath(path).parts or "\\" in path


def payload_of(package: ReadPackage, manifest: Manifest) -> tuple[str | None, str | None, Any, str | None]:
    """(name, text, document, error) of the declarative payload file, when the type has one."""
    name = manifest.entry_point
    if manifest.type in APP_TYPES or not name or name not in package.names():
        return None, None, None, None
    raw = package.read(name, MAX_MANIFEST_BYTES)
    if raw is None:
        return name, None, None, f"larger than {MAX_MANIFEST_BYTES} bytes"
    try:
        text = raw.decode("utf-8")
        return name, text, load_manifest_document(text, name), None
    except UnicodeDecodeError:
        return name, None, None, "not UTF-8 text"
    except ManifestSyntaxError as exc:
        return name, None, None, str(exc)


def _skeleton(text: str) -> str:
    """A name reduced to what a reader sees: lower case, look-alike characters folded, separators dropped."""
    folded = text.lower().translate(str.maketrans("01i35$", "olless"))
    folded = folded.replace("rn", "m").replace("vv", "w")
    return "".join(ch for ch in folded if ch.isalnum())


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _similar(a: str, b: str, *, max_distance: int) -> bool:
    return a == b or (min(len(a), len(b)) >= 6 and _distance(a, b) <= max_distance)


def _squatted(manifest: Manifest, others: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """(other id, "id" or "name") when the manifest's id or name reads like another publisher's."""
    own_id, own_name = _skeleton(manifest.id), _skeleton(manifest.name)
    own_short = _skeleton(manifest.id.split(".", 1)[1])
    for other_id, other_name in others:
        if other_id == manifest.id:
            continue
        their_short = _skeleton(other_id.split(".", 1)[-1])
        if _similar(own_id, _skeleton(other_id), max_distance=2) or _similar(own_short, their_short, max_distance=1):
            return other_id, "id"
        if _similar(own_name, _skeleton(other_name), max_distance=1):
            return other_id, "name"
    return None


def scan_package(package: ReadPackage, context: PackageContext) -> list[Finding]:
    """MKT-S001..S012: archive limits and shape, secrets, scripts, egress, squatting."""
    findings = archive_findings(package)
    if package.archive is None:
        return findings
    for entry in package.safe_entries():
        raw = package.read(entry.name, MAX_SCANNED_FILE_BYTES)
        if raw is None:
            continue
        if code_analysis.is_executable(entry.name, raw[:8]):
            findings.append(
                Finding(
                    "MKT-S008",
                    "Executable code in a package never runs on the platform; extensions are declarative or "
                    "externally hosted apps.",
                    file=entry.name,
                    severity=Severity.WARNING,
                )
            )
        if b"\x00" in raw[:8192]:
            continue
        text = raw.decode("utf-8", errors="replace")
        for line, kind in find_secrets(text):
            findings.append(
                Finding(
                    "MKT-S006",
                    f"Possible {kind} committed in this file. Remove it and rotate it; secrets belong in "
                    'configuration fields marked "secret": true, entered at install time.',
                    file=entry.name,
                    line=line,
                )
            )
        for line, what in code_analysis.dangerous_calls(entry.name, text):
            findings.append(Finding("MKT-S007", f"This script {what}.", file=entry.name, line=line))
    loaded = _load(package)
    manifest = loaded.manifest
    if manifest is None:
        return findings
    findings.extend(_egress_findings(package, loaded, manifest, context))
    squat = _squatted(manifest, context.others)
    if squat:
        other_id, what = squat
        findings.append(
            Finding(
                "MKT-S011",
                f"The {what} is confusingly similar to {other_id!r}, another publisher's extension; "
                "an operator will review it.",
                **_at(loaded, what),
            )
        )
    return findings


def _egress_findings(
    package: ReadPackage, loaded: _Loaded, manifest: Manifest, context: PackageContext
) -> list[Finding]:
    findings: list[Finding] = []
    declared = manifest.permissions.egress
    for i, host in enumerate(declared):
        if egress.is_too_broad(host):
            findings.append(
                Finding(
                    "MKT-S010",
                    f"Egress host {host!r} would allow a whole top-level domain; name the hosts you contact.",
                    **_at(loaded, "permissions", "egress", i),
                )
            )
        elif egress.is_private_host(host) and not context.allow_private_addresses:
            findings.append(
                Finding(
                    "MKT-S009",
                    f"Egress host {host!r} is a private, loopback or link-local address; extensions may only "
                    "contact public hosts.",
                    **_at(loaded, "permissions", "egress", i),
                )
            )
    contacted: list[tuple[str, dict[str, Any]]] = []
    if manifest.app is not None:
        for key in ("baseUrl", "registrationUrl", "webhookUrl"):
            url = getattr(
                manifest.app, {"baseUrl": "base_url", "registrationUrl": "registration_url"}.get(key, "webhook_url")
            )
            if url:
                contacted.append((str(url), _at(loaded, "app", key)))
    name, text, document, _ = payload_of(package, manifest)
    if manifest.type == ExtensionType.CONNECTOR and isinstance(document, dict):
        for key in ("baseUrl", "base_url"):  # the marketplace's descriptive format, the framework's
            if isinstance(document.get(key), str):
                contacted.append((document[key], {"file": name, "line": line_of(text or "", (key,))}))
        auth = document.get("auth")
        for key in ("authorizeUrl", "tokenUrl"):
            if isinstance(auth, dict) and isinstance(auth.get(key), str):
                contacted.append((auth[key], {"file": name, "line": line_of(text or "", ("auth", key))}))
    for url, at in contacted:
        host = egress.host_of(url)
        if not host:
            continue
        if egress.is_private_host(host) and not context.allow_private_addresses:
            findings.append(
                Finding(
                    "MKT-S009",
                    f"{url} points at a private, loopback or link-local address; extensions may only contact "
                    "public hosts.",
                    **at,
                )
            )
        elif not egress.host_allowed(host, declared):
            findings.append(
                Finding(
                    "MKT-S012",
                    f"{host} is contacted but not declared in permissions.egress; declare it so installers "
                    "can see and consent to it.",
                    **at,
                )
            )
    return findings


def check_payload(package: ReadPackage, context: PackageContext) -> list[Finding]:
    """MKT-T001..T003: the connector manifest or workflow definition against its schema and known connectors."""
    manifest = manifest_of(package)
    if manifest is None or manifest.type in APP_TYPES:
        return []
    name, text, document, error = payload_of(package, manifest)
    if name is None:
        return []
    is_connector = manifest.type == ExtensionType.CONNECTOR
    rule_id = "MKT-T001" if is_connector else "MKT-T002"
    what = "connector manifest" if is_connector else "workflow definition"
    if error:
        return [Finding(rule_id, f"The {what} is {error}.", file=name)]
    if is_connector and isinstance(document, dict) and "manifest_version" in document:
        # The connector framework's own format: the framework's schema decides (the pipeline's test step
        # also rehearses it on recorded responses).
        return framework_manifest_findings(document, file=name)
    validator = CONNECTOR_VALIDATOR if is_connector else WORKFLOW_VALIDATOR
    findings = [
        Finding(
            rule_id,
            f"{'.'.join(str(p) for p in path) or '(root)'}: {message}",
            file=name,
            line=line_of(text or "", path),
        )
        for path, message in schema_errors(validator, document)
    ]
    if not is_connector and isinstance(document, dict):
        known = context.known_connectors | {d.id for d in manifest.dependencies}
        for path, connector in workflow_connectors(document):
            if connector not in known:
                findings.append(
                    Finding(
                        "MKT-T003",
                        f"The workflow uses connector {connector!r}, which is neither built in nor one of the "
                        "extension's dependencies.",
                        file=name,
                        line=line_of(text or "", path),
                    )
                )
    return findings


def framework_manifest_findings(document: Any, *, file: str) -> list[Finding]:
    """MKT-T001 for each way a framework-format connector manifest breaks the framework's schema and rules."""
    return [
        Finding("MKT-T001", f"{error.get('field') or '(root)'}: {error['message']}", file=file)
        for error in validate_manifest(document)
    ]


MAX_SCREENSHOT_BYTES = 1024 * 1024


def image_type(data: bytes) -> str | None:
    """The media type of a screenshot's bytes by their signature (PNG or JPEG), or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None

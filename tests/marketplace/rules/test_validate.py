"""The validate step's rules, each tripped by a package built for it (no database: the SDK runs these too)."""

from __future__ import annotations

import pytest

from nofx_sdk.rules import PackageContext, read_package, validate_package
from nofx_sdk.rules.dependencies import PublishedVersion
from tests.factories.marketplace import build_package, manifest


def findings_of(data: bytes, **context: object) -> list:
    return validate_package(read_package(data), PackageContext(**context))  # type: ignore[arg-type]


def test_a_valid_package_has_no_findings():
    assert findings_of(build_package()) == []


def test_bytes_that_are_not_a_zip_trip_v001():
    (finding,) = findings_of(b"this is not a zip archive")

    assert finding.rule_id == "MKT-V001"
    assert finding.message.startswith("The package is not a readable zip archive")


def test_a_package_without_a_manifest_trips_v002():
    data = build_package(files={"readme.md": "hello"}, manifest_name="other.json")

    (finding,) = findings_of(data)

    assert finding.rule_id == "MKT-V002"
    assert finding.message == "No manifest at the package's root: add nofx-extension.json (or .yaml)."


def test_a_manifest_that_is_not_json_trips_v003_with_its_line():
    data = build_package('{\n  "id": "acme.tickets",\n  "version": 1.0.0\n}')

    (finding,) = findings_of(data)

    assert finding.rule_id == "MKT-V003"
    assert finding.file == "nofx-extension.json"
    assert finding.line == 3
    assert "not valid JSON" in finding.message


def test_a_manifest_breaking_the_schema_trips_v004_naming_the_field_and_line():
    # given a manifest whose type is unknown
    data = build_package(manifest(type="plugin"))

    # when
    findings = findings_of(data)

    # then
    (finding,) = [f for f in findings if f.rule_id == "MKT-V004"]
    assert finding.message.startswith("type: Input should be 'agent', 'template', 'connector'")
    assert finding.line == 4


def test_a_yaml_manifest_is_read_and_its_errors_located():
    text = "id: acme.tickets\nversion: one\ntype: connector\n"
    data = build_package(text, manifest_name="nofx-extension.yaml")

    messages = {(f.rule_id, f.line) for f in findings_of(data)}

    assert ("MKT-V004", 2) in messages


def test_a_version_that_is_not_semver_trips_v004():
    findings = findings_of(build_package(manifest(version="1.0")))

    assert any(f.rule_id == "MKT-V004" and f.message.startswith("version: Value error") is False for f in findings)
    assert any("is not a semantic version" in f.message for f in findings)


def test_a_version_not_higher_than_an_earlier_one_trips_v005():
    (finding,) = findings_of(build_package(manifest(version="1.0.0")), earlier_versions=("1.2.0", "0.9.0"))

    assert finding.rule_id == "MKT-V005"
    assert finding.message == (
        "Version 1.0.0 is not higher than 1.2.0, the highest earlier version; versions are immutable and each "
        "new one must be higher."
    )


def test_an_unresolvable_dependency_trips_v006():
    data = build_package(manifest(dependencies=[{"id": "other.base", "version": "^2.0"}]))

    (finding,) = findings_of(data, catalog={"other.base": [PublishedVersion("1.4.0")]})

    assert finding.rule_id == "MKT-V006"
    assert finding.message == "Dependency other.base ^2.0 cannot be resolved: no published version matches."


def test_a_dependency_cycle_trips_v007_and_names_the_cycle():
    # given other.base 1.x depends back on acme.tickets
    catalog = {"other.base": [PublishedVersion("1.2.0", (("acme.tickets", "^1.0"),))]}
    data = build_package(manifest(dependencies=[{"id": "other.base", "version": "^1.0"}]))

    # when
    (finding,) = findings_of(data, catalog=catalog)

    # then
    assert finding.rule_id == "MKT-V007"
    assert finding.message == "Dependencies form a cycle: acme.tickets -> other.base -> acme.tickets."


def test_depending_on_itself_is_refused_by_the_schema():
    data = build_package(manifest(dependencies=[{"id": "acme.tickets", "version": "*"}]))

    assert any("cannot depend on itself" in f.message for f in findings_of(data))


def test_a_platform_range_excluding_this_platform_trips_v008():
    (finding,) = findings_of(build_package(manifest(requires={"platform": ">=2.0.0"})), platform_version="0.1.0")

    assert finding.rule_id == "MKT-V008"
    assert finding.message == "requires.platform '>=2.0.0' does not include this platform's version 0.1.0."


def test_a_missing_entry_point_trips_v009():
    data = build_package(manifest(entryPoint="missing.json"))

    (finding,) = findings_of(data)

    assert finding.rule_id == "MKT-V009"
    assert finding.message == "entryPoint 'missing.json' is not a file in the package."


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_screenshots_that_are_real_pictures_in_the_package_pass():
    data = build_package(
        manifest(screenshots=[{"path": "shots/board.png", "caption": "The board"}]), {"shots/board.png": PNG}
    )

    assert findings_of(data) == []


@pytest.mark.parametrize(
    ("files", "why"),
    [({}, "missing"), ({"shots/board.png": b"<svg onload=alert(1)>"}, "not an image")],
)
def test_a_screenshot_that_is_missing_or_not_a_picture_trips_v012(files, why):
    data = build_package(manifest(screenshots=[{"path": "shots/board.png"}]), files)

    (finding,) = findings_of(data)

    assert finding.rule_id == "MKT-V012", why
    assert (
        finding.message == "Screenshot 'shots/board.png' is not a PNG or JPEG file of at most 1024 KiB in the package."
    )


def test_a_screenshot_outside_png_and_jpeg_is_refused_by_the_manifest_schema():
    (finding,) = findings_of(
        build_package(manifest(screenshots=[{"path": "shots/board.svg"}]), {"shots/board.svg": "x"})
    )

    assert finding.rule_id == "MKT-V004"


def test_an_invalid_config_schema_trips_v010():
    data = build_package(manifest(configSchema={"type": "object", "properties": {"a": {"type": "strange"}}}))

    (finding,) = findings_of(data)

    assert finding.rule_id == "MKT-V010"
    assert finding.message.startswith("configSchema is not a valid JSON Schema:")


def test_a_manifest_id_other_than_the_extension_trips_v011():
    (finding,) = findings_of(build_package(), expected_id="acme.other")

    assert finding.rule_id == "MKT-V011"


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"id": "pro", "name": "Pro", "model": "subscription", "amount": 900, "currency": "usd"}, "needs an interval"),
        ({"id": "pay", "name": "Pay", "model": "usage", "currency": "usd"}, "needs a meter"),
        ({"id": "free", "name": "Free", "model": "free", "amount": 100}, "a free plan has no amount"),
    ],
)
def test_pricing_plans_must_fit_their_model(plan, message):
    findings = findings_of(build_package(manifest(pricing={"plans": [plan]})))

    assert any(f.rule_id == "MKT-V004" and message in f.message for f in findings)


def test_an_agent_needs_its_app_urls():
    data = build_package(manifest(type="agent", entryPoint=None))

    assert any("needs an `app` block" in f.message for f in findings_of(data))

"""The scan step's rules, each tripped by a package built for it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from nofx_sdk.rules import PackageContext, read_package, scan_package
from nofx_sdk.rules.archive import ArchiveLimits
from tests.factories.marketplace import app_manifest, build_package, manifest


def scan(data: bytes, **context: object) -> list:
    limits = context.pop("limits", ArchiveLimits())
    return scan_package(read_package(data, limits), PackageContext(limits=limits, **context))  # type: ignore[arg-type]


def rule_ids(findings: list) -> list[str]:
    return [f.rule_id for f in findings]


def test_a_clean_package_has_no_findings():
    assert scan(build_package()) == []


def test_a_package_over_the_size_limit_trips_s001():
    # given 6,400 bytes that do not compress
    noise = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(200))
    data = build_package(files={"noise.dat": noise})

    (finding,) = scan(data, limits=ArchiveLimits(max_package_bytes=1000))

    assert finding.rule_id == "MKT-S001"
    assert finding.message == f"The package is {len(data)} bytes; the limit is 1000 bytes."


def test_too_many_files_trip_s002():
    data = build_package(files={f"f{i}.txt": "x" for i in range(12)})

    findings = scan(data, limits=ArchiveLimits(max_files=10))

    assert "MKT-S002" in rule_ids(findings)


def test_a_zip_bomb_trips_s003_naming_the_file():
    # given 8 MiB of zeros, which deflate to a few kilobytes
    data = build_package(files={"data/zeros.bin": b"\0" * (8 * 1024 * 1024)})

    # when
    findings = [f for f in scan(data) if f.rule_id == "MKT-S003"]

    # then
    (finding,) = findings
    assert finding.file == "data/zeros.bin"
    assert finding.message.startswith("This file unpacks to 8388608 bytes from ")
    assert "the limits are 20971520 bytes per file and 100:1 for files over 1048576 bytes" in finding.message


def test_a_bomb_whose_header_lies_is_never_read_past_the_limit():
    # given an entry whose header claims 10 bytes but which holds far more
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nofx-extension.json", "{}")
        archive.writestr("payload.txt", b"A" * 200_000)
    package = read_package(buffer.getvalue())

    # when reading with a bound lower than its real size
    assert package.read("payload.txt", 1000) is None


def test_a_dot_dot_path_trips_s004():
    data = build_package(files={"../../etc/cron.d/evil": "* * * * * root sh"})

    (finding,) = [f for f in scan(data) if f.rule_id == "MKT-S004"]

    assert finding.file == "../../etc/cron.d/evil"
    assert finding.message == (
        "This path would be written outside the package (absolute path, `..` or backslash); "
        "use relative paths inside the package."
    )


def test_absolute_and_backslash_paths_trip_s004():
    data = build_package(files={"/etc/passwd": "x", "..\\evil.txt": "y"})

    assert rule_ids(scan(data)).count("MKT-S004") == 2


def test_a_symlink_trips_s005():
    data = build_package(symlinks={"config.json": "/etc/shadow"})

    (finding,) = scan(data)

    assert finding.rule_id == "MKT-S005"
    assert finding.file == "config.json"
    assert finding.message == "Symbolic links are not allowed; include the file itself."


def test_a_committed_secret_trips_s006_with_file_and_line_and_never_repeats_it():
    # given an AWS key on line 3 of a config file
    key = "AKIA" + "Z7Q3X9W2V5T8R1N4"
    data = build_package(files={"config/settings.json": f'{{\n  "region": "eu",\n  "aws": "{key}"\n}}'})

    # when
    (finding,) = scan(data)

    # then
    assert finding.rule_id == "MKT-S006"
    assert (finding.file, finding.line) == ("config/settings.json", 3)
    assert finding.message.startswith("Possible AWS access key id committed in this file.")
    assert key not in finding.message


def test_private_keys_and_hard_coded_passwords_are_found_but_placeholders_are_not():
    files = {
        "key.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n",
        "a.yaml": 'password: "x9$Lq2!vR7#pW4zK"\n',
        "b.yaml": 'password: "your-password-here"\napi_key: "${API_KEY}"\n',
    }

    findings = scan(build_package(files=files))

    assert sorted((f.file, f.line) for f in findings if f.rule_id == "MKT-S006") == [("a.yaml", 1), ("key.pem", 1)]


def test_a_dangerous_script_trips_s007_with_its_line():
    script = "import subprocess\n\nsubprocess.run(cmd, shell=True)\neval(data)\n"
    data = build_package(files={"scripts/setup.py": script, "install.sh": "curl https://x.io/i.sh | sh\n"})

    findings = [f for f in scan(data) if f.rule_id == "MKT-S007"]

    assert sorted((f.file, f.line, f.message) for f in findings) == [
        ("install.sh", 1, "This script pipes a download into a shell."),
        ("scripts/setup.py", 3, "This script calls subprocess.run() with shell=True."),
        ("scripts/setup.py", 4, "This script calls eval()."),
    ]


def test_executable_code_is_reported_by_s008_as_a_warning():
    (finding,) = scan(build_package(files={"helper.js": "console.log(1)\n"}))

    assert finding.rule_id == "MKT-S008"
    assert finding.severity == "warning"


def test_a_private_egress_host_trips_s009():
    document = manifest(permissions={"scopes": [], "egress": ["api.acme.io", "10.0.0.5", "169.254.169.254:80"]})
    data = build_package(document)
    lines = json.dumps(document, indent=2).splitlines()
    expected_lines = [i + 1 for i, line in enumerate(lines) if "10.0.0.5" in line or "169.254" in line]

    findings = [f for f in scan(data) if f.rule_id == "MKT-S009"]

    assert [f.message for f in findings] == [
        "Egress host '10.0.0.5' is a private, loopback or link-local address; extensions may only contact "
        "public hosts.",
        "Egress host '169.254.169.254:80' is a private, loopback or link-local address; extensions may only "
        "contact public hosts.",
    ]
    assert [f.line for f in findings] == expected_lines


def test_app_urls_on_loopback_trip_s009_unless_private_addresses_are_allowed():
    data = build_package(app_manifest(base_url="http://127.0.0.1:9000"), with_connector=False)

    assert "MKT-S009" in rule_ids(scan(data))
    assert "MKT-S009" not in rule_ids(scan(data, allow_private_addresses=True))


def test_internal_host_names_trip_s009():
    data = build_package(manifest(permissions={"egress": ["localhost", "db.internal", "printer.local"]}))

    assert rule_ids(scan(data)).count("MKT-S009") == 3


def test_a_bare_wildcard_egress_trips_s010():
    data = build_package(manifest(permissions={"egress": ["*", "*.com", "api.acme.io", "*.acme.io"]}))

    findings = [f for f in scan(data) if f.rule_id == "MKT-S010"]

    assert [f.message.split("'")[1] for f in findings] == ["*", "*.com"]


def test_an_id_imitating_another_publishers_trips_s011():
    data = build_package(manifest(id="acme.jira-sinc", name="Jira Sinc"))

    (finding,) = scan(data, others=(("atlassian.jira-sync", "Jira Sync"),))

    assert finding.rule_id == "MKT-S011"
    assert finding.message == (
        "The id is confusingly similar to 'atlassian.jira-sync', another publisher's extension; "
        "an operator will review it."
    )


def test_distinct_names_do_not_trip_s011():
    assert scan(build_package(), others=(("other.crm-bridge", "CRM Bridge"),)) == []


def test_an_undeclared_contacted_host_trips_s012():
    data = build_package(manifest(permissions={"egress": ["other.io"]}))

    (finding,) = scan(data)

    assert finding.rule_id == "MKT-S012"
    assert finding.file == "connector.json"
    assert finding.line == 3
    assert finding.message.startswith("api.acme.io is contacted but not declared in permissions.egress")

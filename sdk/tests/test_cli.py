"""The `nofx` command, in process, against the fake platform of the SDK's own pytest plugin."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from nofx_sdk.cli import main
from nofx_sdk.scaffold import EXTENSION_TYPES


def nofx(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def connector(tmp_path: Path) -> Path:
    target = tmp_path / "tickets"
    assert nofx("ext", "init", "connector", str(target), "--id", "acme.tickets").exit_code == 0
    return target


@pytest.mark.parametrize("ext_type", EXTENSION_TYPES)
def test_a_new_extension_of_every_type_validates_and_tests_cleanly(tmp_path, ext_type):
    # given
    target = tmp_path / ext_type
    # when
    created = nofx("ext", "init", ext_type, str(target), "--id", f"acme.my-{ext_type}", "--json")
    validated = nofx("ext", "validate", str(target), "--json")
    tested = nofx("ext", "test", str(target), "--json")
    # then
    assert created.exit_code == 0, created.output
    assert validated.exit_code == 0, validated.output
    assert json.loads(validated.stdout) == {"ok": True, "findings": []}
    assert tested.exit_code == 0, tested.output
    assert json.loads(tested.stdout)["ok"] is True


def test_init_refuses_a_bad_id_and_a_directory_that_is_not_empty(tmp_path):
    # given
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    # when
    bad_id = nofx("ext", "init", "connector", str(tmp_path / "new"), "--id", "NoDot")
    not_empty = nofx("ext", "init", "connector", str(tmp_path / "full"), "--id", "acme.x")
    unknown_type = nofx("ext", "init", "plugin", str(tmp_path / "p"), "--id", "acme.x")
    # then
    assert bad_id.exit_code == 2
    assert "publisher.extension-name" in bad_id.output
    assert not_empty.exit_code == 2
    assert unknown_type.exit_code == 2


def test_validate_reports_the_platforms_rule_and_message_and_exits_1(connector):
    # given a manifest that asks for egress to a private address
    manifest = json.loads((connector / "nofx-extension.json").read_text())
    manifest["permissions"]["egress"] = ["10.0.0.5"]
    (connector / "nofx-extension.json").write_text(json.dumps(manifest, indent=2))
    # when
    result = nofx("ext", "validate", str(connector), "--json")
    # then
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert "MKT-S009" in {f["rule_id"] for f in findings}


def test_validate_says_when_there_is_no_manifest(tmp_path):
    # when
    result = nofx("ext", "validate", str(tmp_path))
    # then
    assert result.exit_code == 2
    assert "nofx-extension.json" in result.output


def test_test_fails_when_a_recorded_record_lacks_the_id_field(connector):
    # given
    recordings = {"GET /tickets": {"status": 200, "body": {"results": [{"title": "no id"}]}}}
    (connector / "tests" / "recordings.json").write_text(json.dumps(recordings))
    # when
    result = nofx("ext", "test", str(connector), "--json")
    # then
    assert result.exit_code == 1
    assert json.loads(result.stdout)["checks"] == [
        {"name": "resource ticket", "ok": False, "messages": ["record 0 has no 'id' (the idField)"]}
    ]


def test_test_reports_a_broken_workflow_definition_with_the_platforms_rule(tmp_path):
    # given
    target = tmp_path / "flow"
    nofx("ext", "init", "workflow", str(target), "--id", "acme.flow")
    (target / "workflow.json").write_text(json.dumps({"name": "x"}))
    # when
    result = nofx("ext", "test", str(target), "--json")
    # then
    assert result.exit_code == 1
    assert {f["rule_id"] for f in json.loads(result.stdout)["findings"]} == {"MKT-T002"}


def test_pack_writes_the_same_bytes_twice_and_leaves_tests_out(connector):
    # when
    first = json.loads(nofx("ext", "pack", str(connector), "--json").stdout)
    second = json.loads(nofx("ext", "pack", str(connector), "--json").stdout)
    # then
    assert first["sha256"] == second["sha256"]
    names = zipfile.ZipFile(io.BytesIO(Path(first["path"]).read_bytes())).namelist()
    assert sorted(names) == ["connector.json", "nofx-extension.json"]


def test_publish_follows_the_pipeline_to_published(connector, nofx_cli_env):
    # when
    result = nofx("ext", "publish", str(connector), "--json", env=nofx_cli_env)
    # then
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"]["status"] == "published"


def test_publish_shows_why_the_pipeline_rejected_the_version_and_exits_1(connector, nofx_cli_env):
    # given a connector manifest that breaks the connector schema
    (connector / "connector.json").write_text(json.dumps({"name": "x"}))
    # when
    result = nofx("ext", "publish", str(connector), env=nofx_cli_env)
    # then
    assert result.exit_code == 1
    assert "MKT-T001" in result.output
    assert "rejected" in result.output


def test_versions_and_yank_work_on_the_published_version(connector, nofx_cli_env, nofx_platform):
    # given
    nofx("ext", "publish", str(connector), env=nofx_cli_env)
    # when
    yanked = nofx("ext", "yank", "acme.tickets", "0.1.0", "--reason", "broken auth", "--json", env=nofx_cli_env)
    listed = nofx("ext", "versions", "acme.tickets", "--json", env=nofx_cli_env)
    missing = nofx("ext", "yank", "acme.tickets", "9.9.9", "--reason", "x", env=nofx_cli_env)
    # then
    assert yanked.exit_code == 0, yanked.output
    assert [(v["version"], v["status"]) for v in json.loads(listed.stdout)["versions"]] == [("0.1.0", "yanked")]
    assert missing.exit_code == 2


def test_commands_that_need_the_platform_exit_3_when_not_signed_in_or_refused(connector, tmp_path, nofx_platform):
    # given
    nobody = {"NOFX_CONFIG_DIR": str(tmp_path / "empty")}
    wrong = {**nobody, "NOFX_BASE_URL": nofx_platform.url, "NOFX_TOKEN": "not-the-token"}
    # when
    unsigned = nofx("ext", "versions", "acme.tickets", env=nobody)
    refused = nofx("ext", "publish", str(connector), "--json", env=wrong)
    # then
    assert unsigned.exit_code == 3
    assert "nofx login" in unsigned.output
    assert refused.exit_code == 3
    assert json.loads(refused.stdout)["ok"] is False


def test_login_with_an_api_key_stores_it_privately_and_later_commands_use_it(tmp_path, nofx_platform, connector):
    # given
    env = {"NOFX_CONFIG_DIR": str(tmp_path / "cfg")}
    # when
    login = nofx("login", "--base-url", nofx_platform.url, "--api-key", nofx_platform.token, env=env)
    listed = nofx("ext", "versions", "acme.tickets", "--json", env=env)
    # then
    assert login.exit_code == 0
    credentials = tmp_path / "cfg" / "credentials.json"
    assert credentials.stat().st_mode & 0o077 == 0
    assert listed.exit_code == 0
    assert json.loads(listed.stdout) == {"ok": True, "versions": []}


def test_login_needs_exactly_one_way_to_sign_in(tmp_path):
    # when
    neither = nofx("login", env={"NOFX_CONFIG_DIR": str(tmp_path)})
    both = nofx("login", "--api-key", "k", "--client-id", "c", env={"NOFX_CONFIG_DIR": str(tmp_path)})
    # then
    assert neither.exit_code == 2
    assert both.exit_code == 2


def test_dev_verifies_and_delivers_the_sample_events_to_the_apps_handler(tmp_path):
    # given
    target = tmp_path / "agent"
    nofx("ext", "init", "agent", str(target), "--id", "acme.agent")
    # when
    result = nofx("ext", "dev", str(target), "--once", "--port", "0", "--json")
    # then
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [d["status"] for d in report["deliveries"]] == [200, 200]

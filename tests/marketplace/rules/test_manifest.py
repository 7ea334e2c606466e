"""The manifest models, their published JSON Schema, and the scopes extensions may ask for."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from apps.accounts.roles import PERMISSIONS
from apps.marketplace.management.commands.marketplace_manifest_schema import SCHEMA_FILE, rendered_schema
from nofx_sdk.rules.manifest import API_SCOPES, Manifest, line_of, manifest_json_schema
from tests.factories.marketplace import app_manifest, manifest


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text() == rendered_schema(), "run `manage.py marketplace_manifest_schema` and commit it"


def test_the_published_schema_is_a_valid_json_schema_that_accepts_valid_manifests():
    schema = manifest_json_schema()
    Draft202012Validator.check_schema(schema)

    validator = Draft202012Validator(schema)

    assert list(validator.iter_errors(manifest())) == []
    assert list(validator.iter_errors(app_manifest())) == []
    assert list(validator.iter_errors(manifest(type="plugin")))


def test_every_scope_an_extension_may_ask_for_is_a_platform_permission():
    assert set(API_SCOPES) <= set(PERMISSIONS)


def test_secret_configuration_fields_are_the_ones_marked_secret():
    assert Manifest.model_validate(manifest()).secret_config_fields() == ["apiKey"]


@pytest.mark.parametrize(
    ("path", "line"),
    [(("id",), 2), (("permissions", "egress", 0), 5), (("permissions", "missing"), 3), (("nothing",), None)],
)
def test_line_of_finds_where_a_value_sits_in_json(path, line):
    # lines: 1 {, 2 "id", 3 "permissions": {, 4 "egress": [, 5 "x.io"
    text = json.dumps({"id": "a.b", "permissions": {"egress": ["x.io"]}}, indent=1)

    assert line_of(text, path) == line

"""The client cannot drift from the API: every operation it calls is in the committed OpenAPI schema with the
same method and path, and every query parameter it may send is one the schema declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nofx_sdk.client import OPERATIONS

REPOSITORY = Path(__file__).resolve().parents[2]

SCHEMA = yaml.safe_load((REPOSITORY / "docs" / "api" / "openapi.yaml").read_text())


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_client_operation_exists_in_the_schema_with_its_method_path_and_parameters(name):
    # given
    operation = OPERATIONS[name]
    # when
    path_item = SCHEMA["paths"].get(operation.path)
    # then
    assert path_item is not None, f"{name}: {operation.path} is not in docs/api/openapi.yaml"
    assert operation.method.lower() in path_item, f"{name}: {operation.method} {operation.path} is not in the schema"
    parameters = path_item[operation.method.lower()].get("parameters", []) + path_item.get("parameters", [])
    query = {p["name"] for p in parameters if p.get("in") == "query"}
    path_params = {p["name"] for p in parameters if p.get("in") == "path"}
    assert set(operation.query) <= query, f"{name}: {set(operation.query) - query} are not query parameters"
    assert set(re.findall(r"{(\w+)}", operation.path)) == path_params


def test_the_drift_check_would_notice_an_operation_the_schema_lacks():
    # given a path the API does not have
    # when / then
    assert "/api/v1/publisher-versions/{id}/undo/" not in SCHEMA["paths"]

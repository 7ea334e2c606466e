"""The committed OpenAPI schema is an artifact of the code: it must match what the code generates."""

from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import call_command

COMMITTED = Path(settings.BASE_DIR) / "docs" / "api" / "openapi.yaml"


def test_the_committed_schema_is_up_to_date(tmp_path):
    # when
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(generated))
    # then
    assert yaml.safe_load(generated.read_text()) == yaml.safe_load(COMMITTED.read_text()), (
        "docs/api/openapi.yaml is stale: run `make schema` and commit the result."
    )


def test_every_error_response_uses_the_problem_shape():
    schema = yaml.safe_load(COMMITTED.read_text())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    content = response.get("content", {})
                    assert list(content) == ["application/problem+json"], f"{method.upper()} {path} {code}"

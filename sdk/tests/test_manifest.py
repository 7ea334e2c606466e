from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from nofx_sdk.manifest import Manifest, load_json_schema, manifest_json_schema

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_packaged_json_schema_is_the_one_the_models_generate():
    # when / then
    assert load_json_schema() == json.loads(json.dumps(manifest_json_schema(), sort_keys=True))


def test_every_example_manifest_satisfies_both_the_json_schema_and_the_models():
    # given
    validator = Draft202012Validator(load_json_schema())
    for example in sorted(EXAMPLES.iterdir()):
        document = json.loads((example / "nofx-extension.json").read_text())
        # when
        errors = [e.message for e in validator.iter_errors(document)]
        # then
        assert errors == [], example.name
        assert Manifest.model_validate(document).id == document["id"]

"""Every example in sdk/examples/ passes `nofx ext validate` and `nofx ext test`, as CI promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nofx_sdk.cli import main
from nofx_sdk.scaffold import EXTENSION_TYPES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_there_is_an_example_of_every_extension_type():
    # when
    types = {json.loads((d / "nofx-extension.json").read_text())["type"] for d in EXAMPLES.iterdir() if d.is_dir()}
    # then
    assert types == set(EXTENSION_TYPES)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
@pytest.mark.parametrize("command", ["validate", "test"])
def test_each_example_passes(example, command):
    # when
    result = CliRunner().invoke(main, ["ext", command, str(EXAMPLES / example), "--json"])
    # then
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True

"""Every `nofx ...` command in the developer guides' code blocks is a real command of the CLI, with real
options (and real choices for the extension type), so the docs cannot drift from the CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from nofx_sdk.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "developers"
GUIDES = ["sdk-cli.md", "tutorial-connector.md"]
CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


def documented_commands(text: str) -> list[str]:
    commands = []
    for block in CODE_BLOCK.findall(text):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("nofx ") or line == "nofx":
                commands.append(line)
    return commands


def problems_with(command_line: str) -> list[str]:
    """What is wrong with a command line, by the CLI's own definition of its commands and options."""
    tokens = shlex.split(command_line)[1:]
    command: click.Command = main
    while isinstance(command, click.Group) and tokens and not tokens[0].startswith("-"):
        sub = command.get_command(click.Context(command), tokens[0])
        if sub is None:
            return [f"{tokens[0]!r} is not a command of {command.name}"]
        command, tokens = sub, tokens[1:]
    if isinstance(command, click.Group) and not tokens:
        return [f"{command_line!r} names a group, not a command"]
    options = {"--help"} | {
        name for p in command.params for name in [*p.opts, *p.secondary_opts] if name.startswith("-")
    }
    found = [
        f"{t.split('=', 1)[0]!r} is not an option of {command.name}"
        for t in tokens
        if t.startswith("-") and t != "-" and t.split("=", 1)[0] not in options
    ]
    choices = [p for p in command.params if isinstance(p, click.Argument) and isinstance(p.type, click.Choice)]
    positionals = [t for t in tokens if not t.startswith("-")]
    for parameter in choices:
        if positionals and positionals[0] not in parameter.type.choices:
            found.append(f"{positionals[0]!r} is not one of {parameter.type.choices}")
    return found


@pytest.mark.parametrize("guide", GUIDES)
def test_every_nofx_command_in_the_guide_is_a_real_command_with_real_options(guide):
    # given
    commands = documented_commands((DOCS / guide).read_text())
    # when
    problems = {line: problems_with(line) for line in commands}
    # then
    assert commands, f"{guide} shows no nofx command"
    assert {line: found for line, found in problems.items() if found} == {}


def test_the_check_catches_an_unknown_command_an_unknown_option_and_a_bad_type():
    # when / then
    assert problems_with("nofx ext launch tickets")
    assert problems_with("nofx ext publish tickets --force")
    assert problems_with("nofx ext init plugin x --id acme.x")
    assert problems_with("nofx ext") == ["'nofx ext' names a group, not a command"]
    assert problems_with("nofx ext validate tickets --json") == []

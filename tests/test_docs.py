"""Every command, subcommand and option is documented (README.md + docs/*.md)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from qxframe.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = README + "".join(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("docs/*.md")))


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for every command and subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))


def documented_commands() -> set[str]:
    """``qxframe a b`` phrases in the docs, with ``a|b|c`` alternatives spelled out."""
    found = set()
    for words in re.findall(r"qxframe((?: [a-z]+(?:\|[a-z]+)*)+)", DOCS):
        path: list[list[str]] = [[]]
        for word in words.split():
            path = [[*p, alt] for p in path for alt in word.split("|")]
            found.update("qxframe " + " ".join(p) for p in path)
    return found


COMMANDS = list(commands(build_parser()))


def test_the_parser_has_the_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"push contacts", "push transactions", "push workflow", "sandbox"} <= names
    assert {"retry contacts", "retry transactions", "retry workflow"} <= names


@pytest.mark.parametrize("path", [" ".join(path) for path, _ in COMMANDS])
def test_every_command_is_documented(path):
    assert f"qxframe {path}" in documented_commands(), f"`qxframe {path}` is not in the docs"


@pytest.mark.parametrize(
    ("path", "option"),
    [
        (" ".join(path), option)
        for path, parser in COMMANDS
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ],
)
def test_every_option_is_documented(path, option):
    assert f"`{option}" in DOCS, f"{option} of `qxframe {path}` is not in the docs"


@pytest.mark.parametrize("command", ["qxframe push", "qxframe retry", "qxframe sandbox"])
def test_the_readme_names_each_command(command):
    assert command in README

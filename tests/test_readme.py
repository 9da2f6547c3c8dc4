"""The README's notebook example runs as written, against the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_block_after(heading: str) -> str:
    section = README.split(f"## {heading}", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python example under '## {heading}'"
    return match.group(1)


@pytest.mark.parametrize("heading", ["In a notebook", "The sandbox"])
def test_readme_example_runs(heading, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(python_block_after(heading), f"README:{heading}", "exec"), namespace)


def test_readme_names_the_two_commands():
    assert "make demo" in README and "make test" in README

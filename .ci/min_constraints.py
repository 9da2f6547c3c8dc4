"""Print pip constraints pinning every declared floor of pyproject.toml (``make test-min``).

Each ``name>=X`` of ``[project] dependencies`` and of the ``pandas`` and ``widgets``
extras becomes ``name==X``, so the venv made with them holds exactly the versions
pyproject declares as the lowest it supports. Test tools (the ``dev`` extra's own
entries) are not pinned: they are not what users install.

``--check``: instead, exit 1 unless the running interpreter has exactly those versions
installed (``make test-min`` runs it, so the floors tested are the floors declared).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("pandas", "widgets")
_FLOOR = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*$")


def floors(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = list(project["dependencies"])
    for extra in EXTRAS:
        specs += project["optional-dependencies"][extra]
    pins = []
    for spec in specs:
        match = _FLOOR.match(spec)
        if match is None:
            raise SystemExit(f"{spec!r}: every dependency needs a plain 'name>=X' floor")
        name, _extras, version = match.groups()
        pins.append(f"{name}=={version}")
    return pins


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def check(pins: list[str]) -> list[str]:
    """The pins the running interpreter does not have, each with what it has instead."""
    from importlib.metadata import PackageNotFoundError, version

    wrong = []
    for pin in pins:
        name, want = pin.split("==")
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "nothing"
        if have == "nothing" or _release(have) != _release(want):
            wrong.append(f"{name}: declared floor {want}, installed {have}")
    return wrong


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    pins = floors(root / "pyproject.toml")
    if "--check" not in sys.argv[1:]:
        print("\n".join(pins))
    elif wrong := check(pins):
        raise SystemExit("not at the declared floors:\n  " + "\n  ".join(wrong))
    else:
        print(f"at the declared floors: {', '.join(pins)}")

"""Print pip constraints pinning every declared floor of pyproject.toml (``make test-min``).

Each ``name>=X`` of ``[project] dependencies`` and of the ``pandas`` and ``widgets``
extras becomes ``name==X``, so the venv made with them holds exactly the versions
pyproject declares as the lowest it supports. Test tools (the ``dev`` extra's own
entries) are not pinned: they are not what users install.
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


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print("\n".join(floors(root / "pyproject.toml")))

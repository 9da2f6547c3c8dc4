"""Benchmarks f and g run at toy size and return checked figures (no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root holds bench/

from bench import imports
from bench._common import SMOKE


def test_f_and_g_run_and_their_pushes_did_their_work() -> None:
    f, g = imports.run_f(SMOKE), imports.run_g(SMOKE)
    n_import, n_api = imports.F_SIZES["smoke"]
    assert f.data["import"]["ok"] == n_import == f.data["import"]["members"]
    assert f.data["api"]["ok"] == n_api
    people, per = imports.G_SIZES["smoke"]
    for path in ("import", "search"):
        assert g.data[path]["ok"] == people * per
        assert g.data[path]["held"] == (people, people * per)
    assert g.data["import"]["by_family"].get("search", 0) == 0
    assert g.data["import"]["jobs"] == 1  # the fewest that hold every person
    assert g.data["search"]["by_family"]["search"] == people
    assert all(any(r.met is not None for r in fig.rows) for fig in (f, g))

"""The benchmarks run, at toy size: each returns a figure with a checked row, and the report
renders. Structure only — no timing is asserted here (the figures are in BENCHMARKS.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root holds bench/

from bench import (
    batch,
    cpu,
    latency,
    memory,
    rate,
    reads,
    report,
    sandbox_alone,
    small_push,
    sync,
    transactions,
)
from bench._common import SMOKE, Figure, machine

MODULES = [sandbox_alone, latency, rate, transactions, cpu, memory, batch, small_push, reads, sync]


@pytest.fixture(scope="module")
def figures() -> list[Figure]:
    return [module.run(SMOKE) for module in MODULES]


def test_each_benchmark_returns_a_figure_with_checked_rows(figures: list[Figure]) -> None:
    assert [f.key for f in figures] == ["0", "a", "b", "c", "d", "e", "h", "i", "r", "w"]
    for figure in figures:
        assert figure.title and figure.setup and figure.seconds > 0
        assert any(row.met is not None for row in figure.rows), figure.key
        assert all(isinstance(row.value, str) and row.value for row in figure.rows)


def test_pushes_did_their_work(figures: list[Figure]) -> None:
    by_key = {f.key: f.data for f in figures}
    rows = round(SMOKE.b_limit / 60 * SMOKE.b_seconds)
    pushes = [p for m in by_key["b"].values() for p in [*m["runs"], m["baseline"]]]
    assert len(pushes) == 2 * len(SMOKE.b_latencies) * (SMOKE.b_repeats + 1)
    assert all(p["succeeded"] == p["rows"] for p in pushes)
    assert {p["rows"] for p in pushes} >= {rows, 2 * rows}  # contacts; transactions (2 each)
    people = SMOKE.c_people
    assert by_key["c"]["contacts"] == people
    assert by_key["c"]["transactions"] == people * SMOKE.c_per_person
    assert by_key["e"]["cli"] in (True, False)
    assert set(by_key["e"]["peak_mb"]) == set(SMOKE.e_rows)
    assert by_key["h"]["succeeded"] == by_key["h"]["rows"] == SMOKE.h_rows
    pages = -(-SMOKE.r_members // 50)  # a list gives 50 members a page
    assert by_key["r"]["read_calls"] == pages and by_key["r"]["writes"] == [0, 0]
    assert by_key["r"]["plan_list_calls"] == 1 + pages
    assert by_key["r"]["plan_search_calls"] == 1 + SMOKE.r_members
    week = by_key["w"]  # the weekly re-push: the journal sent changed + new + left, no more
    moved = week["changed"] + week["new"] + week["left"]
    assert week["api"]["writes_sync"] == moved and week["api"]["writes_full"] == SMOKE.w_people
    assert week["api"]["counts"]["unchanged"] == SMOKE.w_people - week["changed"] - week["left"]


def test_the_loop_of_d_matches_qxframe_bodies(figures: list[Figure]) -> None:
    row = next(r for r in figures[4].rows if r.label.startswith("same statuses"))
    assert row.value.startswith("yes")


def test_report_renders_every_figure(figures: list[Figure]) -> None:
    text = report.render(figures, machine() | {"load_end": "0"}, SMOKE, "now", 1.0)
    assert text.startswith("# Benchmarks")
    for figure in figures:
        assert f"## {figure.key}. {figure.title}" in text

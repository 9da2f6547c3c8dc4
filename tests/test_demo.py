"""``make demo``: the three actions on the sample files, each reported under its name."""

from __future__ import annotations

from pathlib import Path

from qxframe import demo

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def test_demo_pushes_the_three_samples_and_reports_each_under_its_action(capsys):
    assert demo.main([str(SAMPLES)]) == 0
    out = capsys.readouterr().out
    for action in ("upsert_contacts", "upsert_transactions", "trigger_workflow"):
        assert f"== {action}: 300 rows in " in out
    assert "The sandbox now holds:" in out and "workflow events" in out

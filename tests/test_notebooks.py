"""What the notebooks and docs/notebooks.md say about the sandbox client's rate limits
stays true (issue 22, D12: they once said the sandbox client needed ``rate_limits=``,
and the value they passed lowered its limits 100 times).

The notebooks themselves run under nbval in ``make test``; this file reads their text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import qxframe as qx
import qxframe.widgets as qxw
from qxframe._sandbox import UNLIMITED
from qxframe.delivery._config import DEFAULT_RATE_LIMITS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WRITE_FAMILIES = ("contacts", "search", "transactions")
# what the texts say, as they say it
QUALTRICS_LIMIT = re.compile(
    r"([\d,]+)\s+contact,\s+search\s+and\s+transaction\s+writes\s+a\s+minute"
)
TRIGGER_LIMIT = re.compile(r"([\d,]+)\s+(?:workflow\s+triggers|events\s+a\s+minute)")
SANDBOX_LIMIT = re.compile(r"`sb\.client_rate_limits`[,:]\s+([\d,]+)\s+requests\s+a\s+minute")


def cells(kind: str) -> list[tuple[str, str]]:
    """``(notebook name, source)`` of every cell of ``kind`` in notebooks/."""
    found = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == kind:
                found.append((path.name, "".join(cell["source"])))
    return found


def explanations() -> list[tuple[str, str]]:
    """Every text that explains ``rate_limits``: notebook prose, and the docs' paragraph."""
    texts = [(name, text) for name, text in cells("markdown") if "rate_limits" in text]
    docs = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    texts += [("docs/notebooks.md", p) for p in docs.split("\n\n") if "rate_limits" in p]
    return texts


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_notebooks_are_the_five_the_readme_names():
    assert len(NOTEBOOKS) == 5
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "the five example\nnotebooks" in readme or "the five example notebooks" in readme
    assert "four example" not in readme


def test_no_notebook_lowers_the_sandbox_client_s_limits():
    for name, source in cells("code"):
        assert not re.search(r"\.client\([^)]*rate_limits", source), name


#: the texts that explain both limits in full (notebook 03 says less: its numbers are
#: checked all the same)
FULL = {"01_quickstart.ipynb", "02_transactions_bulk.ipynb", "docs/notebooks.md"}


def test_the_explanations_are_there():
    names = {name for name, _text in explanations()}
    assert names >= FULL


@pytest.mark.parametrize(("where", "text"), explanations())
def test_what_each_explanation_says_of_rate_limits_is_true(where, text):
    qualtrics = QUALTRICS_LIMIT.search(text)
    sandbox = SANDBOX_LIMIT.search(text)
    if where in FULL:
        assert qualtrics and sandbox, f"{where} explains rate_limits without both limits"
    assert "needs `rate_limits=`" not in text and "need `rate_limits=`" not in text
    if qualtrics:
        assert all(number(qualtrics[1]) == DEFAULT_RATE_LIMITS[f] for f in WRITE_FAMILIES)
    if sandbox:
        assert number(sandbox[1]) == UNLIMITED
    for triggers in TRIGGER_LIMIT.finditer(text):
        assert number(triggers[1]) == DEFAULT_RATE_LIMITS["workflows"]
    with qx.sandbox() as sb:
        client = sb.client()
        panel = qxw.connect(sandbox=sb)
        try:
            for family in WRITE_FAMILIES:  # the sandbox limits none of them by default
                assert client.rate_limits[family] == sb.client_rate_limits[family] == UNLIMITED
                assert panel.client is not None
                assert panel.client.rate_limits[family] == UNLIMITED
            default = qx.Client(api_token="x" * 40, datacenter="iad1")
            assert default.rate_limits["transactions"] == DEFAULT_RATE_LIMITS["transactions"]
            default.close()
        finally:
            panel.disconnect()
            client.close()
    slower = re.search(r"\{\"transactions\": ([\d,]+)\}.*?(\d+) times", text, re.DOTALL)
    if slower:  # "a value such as … would only slow the push down, 100 times"
        assert UNLIMITED / number(slower[1]) == number(slower[2])

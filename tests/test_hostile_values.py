"""Values at the edges (issue 20, defects 9 and 10): NaN and infinities in object fields are
``invalid`` rows naming the key, never silently dropped; mapping thousands of columns to
one object field does a fixed number of whole-frame operations (linear in the columns)."""

from __future__ import annotations

import polars as pl
import pytest

import qxframe as qx
from qxframe._prepare import prepare
from tests.helpers import bodies

NAN, INF = float("nan"), float("inf")
CONSTANTS = {
    "contacts": {"directory_id": "POOL_1"},
    "transactions": {"directory_id": "POOL_1", "mailing_list_id": "CG_1"},
    "workflow": {"workflow_url": "https://x.qualtrics.com/h"},
}


def prepared(frame: pl.DataFrame, action: str, mapping=None):
    return prepare(frame, action, mapping=mapping, constants=CONSTANTS[action], allowed_origin=None)


def invalid(frame: pl.DataFrame, action: str, mapping=None) -> dict[int, tuple[str, str]]:
    out = prepared(frame, action, mapping).invalid
    return {r["row"]: (r["error_code"], r["error_message"]) for r in out.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("action", "field"), [("contacts", "embedded_data"), ("transactions", "transaction_data")]
)
def test_nan_and_infinities_in_flat_columns_and_lists_make_rows_invalid(action, field):
    frame = pl.DataFrame(
        {
            "ext_ref": ["ok", "nan", "inf", "list", "neg"],
            "score": [1.5, NAN, INF, 2.0, -INF],
            "tags": [[1.0], [1.0], None, [1.5, NAN], None],
        }
    )
    found = invalid(frame, action, {field: ["score", "tags"]})
    assert set(found) == {1, 2, 3, 4}
    assert {code for code, _ in found.values()} == {f"{field}_unsupported_type"}
    assert '"score (NaN or infinity)"' in found[1][1] and "fill_nan" in found[1][1]
    assert '"tags (NaN or infinity)"' in found[3][1]
    valid = prepared(frame, action, {field: ["score", "tags"]}).valid
    assert valid["row"].to_list() == [0]


def test_nan_in_json_object_text_makes_the_row_invalid():
    frame = pl.DataFrame(
        {
            "ext_ref": ["a", "b", "c", "d"],
            "embedded_data": ['{"x": 1}', '{"x": NaN}', '{"y": [1, Infinity]}', '{"z": -Infinity}'],
        }
    )
    found = invalid(frame, "contacts")
    assert sorted(found) == [1, 2, 3]
    assert '"y (NaN or infinity)"' in found[2][1]


def test_nan_in_a_workflow_event_makes_the_row_invalid():
    frame = pl.DataFrame(
        {"event": ["a", "b", "c"], "v": [1.0, NAN, 2.0], "l": [[1.0], [2.0], [INF]]}
    )
    found = invalid(frame, "workflow")
    assert sorted(found) == [1, 2]
    assert {code for code, _ in found.values()} == {"event_payload_unsupported_type"}


def test_a_nan_row_is_never_sent_and_the_rest_are(sb):
    frame = pl.DataFrame({"ext_ref": ["a", "b"], "score": [1.5, NAN]})
    res = qx.upsert_contacts(
        frame,
        client=sb.client(),
        directory_id=sb.directory_id,
        mapping={"embedded_data": ["score"]},
    )
    assert res["status"].to_list() == ["success", "invalid"]
    assert sb.contacts().height == 1 and bodies(sb, "contacts") == 1


def test_finite_floats_still_go_as_python_writes_them():
    frame = pl.DataFrame({"ext_ref": ["a"], "x": [1e-05], "y": [1e16], "z": [0.1]})
    body = prepared(frame, "contacts", {"embedded_data": ["x", "y", "z"]}).valid["embedded_data"][0]
    assert body == '{"x":1e-05,"y":1e+16,"z":0.1}'


# -- 10. many columns to one object field ---------------------------------------------


#: A frame this wide is the mapped frame (the test maps 40 or 400 columns), not one key's
WHOLE_FRAME = 10


class Counted:
    """Counts whole-frame operations (each costs time in the frame's width)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = {"schema": 0, "with_columns": 0, "collect": 0}
        for name in ("schema",):
            prop = getattr(pl.DataFrame, name)

            def read(frame, _prop=prop, _name=name):
                self.calls[_name] += 1
                return _prop.fget(frame)

            monkeypatch.setattr(pl.DataFrame, name, property(read))
        original = pl.DataFrame.with_columns

        def with_columns(frame, *args, **kwargs):
            self.calls["with_columns"] += 1
            return original(frame, *args, **kwargs)

        monkeypatch.setattr(pl.DataFrame, "with_columns", with_columns)
        collect = pl.LazyFrame.collect

        def collecting(frame, *args, **kwargs):
            # a whole-frame collect (polars before 2 also collects a one-column select
            # internally: that is work on one key's column, not on the frame's width)
            if len(frame.collect_schema()) >= WHOLE_FRAME:
                self.calls["collect"] += 1
            return collect(frame, *args, **kwargs)

        monkeypatch.setattr(pl.LazyFrame, "collect", collecting)


def _wide(n: int) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    columns = {f"c{i}": [1.5 * i, 1e-05, 2.0] for i in range(n)}
    columns |= {f"s{i}": ["x", None, "y"] for i in range(n)}
    columns |= {f"l{i}": [[1], None, [2, 3]] for i in range(n)}
    frame = pl.DataFrame({"ext_ref": ["a", "b", "c"], **columns})
    return frame, {"embedded_data": list(columns)}


@pytest.mark.parametrize("action", ["contacts", "transactions"])
def test_mapping_many_columns_costs_no_more_whole_frame_work_than_a_few(monkeypatch, action):
    """Preparing 40 or 400 columns into one object field does the same number of
    whole-frame operations (schema reads, column replacements, collects): the work per
    key is on that key's column alone, so the time is linear in the columns."""
    counts = []
    for n in (40, 400):
        frame, mapping = _wide(n)
        counted = Counted(monkeypatch)
        out = prepared(frame, action, mapping)
        assert out.valid.height == 3
        counts.append(counted.calls)
        monkeypatch.undo()
    assert counts[0] == counts[1]
    assert out.valid["embedded_data"][0].startswith('{"c0":0.0,"c1":1.5,')

"""The preview's table: the first rows mapped, validated and built exactly as a push would.

Pure functions, no widget: :func:`preview_table` (the pipeline's own
:func:`~qxframe.actions._runner.preview`, plus the warnings of
:mod:`qxframe.widgets._hints`) and
:func:`table_html` (that table as HTML), and for a workflow :func:`paths_html`: the
JSONPath of every field of the bodies, with an example value — what a workflow's
conditions and piped text read. :mod:`qxframe.widgets._preview` is the skin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from qxframe._skins import ACTIONS, FUNCTIONS, Status, empty, field_paths, fields_for, preview
from qxframe.widgets import _html
from qxframe.widgets._hints import row_warnings

PREVIEW_COLUMNS = ("row", "status", "error_code", "error_message", "payload")


def action_name(action: str) -> str:
    """``"contacts"``, ``"transactions"`` or ``"workflow"`` (the public function names work too)."""
    function = FUNCTIONS.get(action.removeprefix("a"))
    name = function.name if function is not None else action
    fields_for(name)  # ConfigError for an unknown action
    return name


def preview_table(
    head: pl.DataFrame,
    action: str,
    *,
    mapping: Mapping[str, Any] | None = None,
    constants: Mapping[str, str | None] | None = None,
    allowed_origin: str | None = None,
    json_columns: Sequence[str] = (),
) -> pl.DataFrame:
    """One row per row of ``head``: ``row``, ``status`` (``valid``/``invalid``),
    ``error_code``, ``error_message``, ``payload`` (the exact JSON body a valid row would
    send, as a dry run gives it) and ``warning`` (see :mod:`qxframe.widgets._hints`; the
    row stays valid). Bad settings raise ``ConfigError`` as a push would.
    """
    name = action_name(action)
    constants = dict(constants or {})
    table = preview(
        ACTIONS[name],
        head,
        mapping=mapping,
        constants=constants,
        allowed_origin=allowed_origin,
        json_columns=json_columns,
    )
    if table.height == 0:
        table = empty()
    status = pl.when(pl.col("status") == Status.DRY_RUN).then(pl.lit("valid")).otherwise("status")
    table = table.with_columns(status.alias("status")).select(PREVIEW_COLUMNS)
    warnings = row_warnings(head, name, mapping, constants)
    table = table.join(warnings, on="row", how="left", maintain_order="left")
    return table.with_columns(pl.when(pl.col("status") == "valid").then("warning").alias("warning"))


def table_html(table: pl.DataFrame) -> str:
    """The preview table as HTML: row, status, problem, JSON body."""
    rows = [
        (
            _html.NOWRAP.format(_html.esc(r["row"])),
            _html.badge(r["status"]),
            _html.esc(r["error_message"]) + _warning(r.get("warning")),
            _html.code(r["payload"]),
        )
        for r in table.iter_rows(named=True)
    ]
    header = ("row", "status", "problem", "JSON body that would be sent")
    return _html.table(header, rows, css_class="qx-preview-table")


def paths_html(payloads: pl.Series) -> str:
    """The JSONPath of every field in ``payloads`` (the previewed JSON bodies), its JSON
    type, an example value and how many bodies hold it; empty when there is none."""
    paths = field_paths(payloads.to_list())
    if paths.is_empty():
        return ""
    rows = [
        (_html.code(r["path"]), _html.esc(r["type"]), _html.code(r["example"]), str(r["rows"]))
        for r in paths.iter_rows(named=True)
    ]
    header = ("JSONPath", "type", "example", "bodies")
    title = "<b>Fields of these bodies</b> (what a workflow's conditions read):"
    return title + _html.table(header, rows, css_class="qx-paths-table")


def _warning(text: str | None) -> str:
    return _html.message(f"⚠ {text}", "warning") if text else ""

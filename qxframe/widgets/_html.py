"""Small HTML helpers shared by the widgets: escaping, tables, status badges, messages.

Pure functions from values to HTML text; every value shown is escaped here, so no
widget builds markup from raw data.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

#: Colours of the status badges (background, text).
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "success": ("#e3f4e6", "#1b5e20"),
    "valid": ("#e3f4e6", "#1b5e20"),
    "dry_run": ("#e8eefb", "#1a3e8c"),
    "skipped": ("#eeeeee", "#444444"),
    "invalid": ("#fdecea", "#8a1c12"),
    "failed": ("#fff3e0", "#8a4b00"),
}

_TABLE_STYLE = (
    "border-collapse:collapse;font-size:12px;line-height:1.35;width:100%;table-layout:auto"
)
_CELL_STYLE = "border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top"
_CODE_STYLE = (
    "font-family:var(--jp-code-font-family,monospace);white-space:pre-wrap;"
    "word-break:break-all;margin:0"
)


def esc(value: Any) -> str:
    """``value`` as HTML text (``None`` as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def badge(status: str) -> str:
    """A coloured label for a row status (``success``, ``invalid``, …)."""
    background, colour = STATUS_COLOURS.get(status, ("#eeeeee", "#333333"))
    style = f"background:{background};color:{colour};border-radius:3px;padding:0 5px"
    return f'<span class="qx-status qx-status-{esc(status)}" style="{style}">{esc(status)}</span>'


def code(text: str | None) -> str:
    """Text shown as code, wrapped (a JSON body)."""
    return "" if text is None else f'<pre style="{_CODE_STYLE}">{esc(text)}</pre>'


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, css_class: str = "qx-table"
) -> str:
    """A table of already-escaped cell HTML under an escaped header."""
    head = "".join(f'<th style="{_CELL_STYLE}">{esc(name)}</th>' for name in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL_STYLE}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table class="{esc(css_class)}" style="{_TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def message(text: str, kind: str = "info") -> str:
    """A one-sentence message: ``info``, ``ok`` or ``error``."""
    colour = {"ok": "#1b5e20", "error": "#8a1c12"}.get(kind, "inherit")
    return f'<div class="qx-message qx-{esc(kind)}" style="color:{colour}">{esc(text)}</div>'

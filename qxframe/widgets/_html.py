"""Small HTML helpers shared by the widgets: escaping, tables, status badges, messages.

Pure functions from values to HTML text; every value shown is escaped here, so no
widget builds markup from raw data.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

from qxframe._skins import Status

#: Colours of the status badges (background, text).
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    Status.SUCCESS: ("#e3f4e6", "#1b5e20"),
    "valid": ("#e3f4e6", "#1b5e20"),
    Status.DRY_RUN: ("#e8eefb", "#1a3e8c"),
    Status.SKIPPED: ("#eeeeee", "#444444"),
    Status.INVALID: ("#fdecea", "#8a1c12"),
    Status.FAILED: ("#fff3e0", "#8a4b00"),
}

_TABLE_STYLE = (
    "border-collapse:collapse;font-size:12px;line-height:1.35;width:100%;table-layout:auto"
)
_CELL_STYLE = "border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top"
# A table never runs past its output area (at 1366 px, long codes, e-mails and reasons did):
# a value's over-long word may break anywhere, so the table can shrink to the width it has;
# the headers, row numbers and status badges never break.
_HEAD_STYLE = _CELL_STYLE + ";white-space:nowrap"
_VALUE_STYLE = _CELL_STYLE + ";overflow-wrap:anywhere"
NOWRAP = '<span style="white-space:nowrap">{}</span>'

# Wrap only where json_breaks put a break (after a comma or an opening bracket between
# values), or between words of a string; a single over-long token still breaks rather than
# overflowing (break-word, which unlike `anywhere` keeps the column's minimum width sane).
_CODE_STYLE = (
    "font-family:var(--jp-code-font-family,monospace);white-space:pre-wrap;"
    "word-break:normal;overflow-wrap:break-word;margin:0"
)


def esc(value: Any) -> str:
    """``value`` as HTML text (``None`` as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def badge(status: str) -> str:
    """A coloured label for a row status (``success``, ``invalid``, …)."""
    background, colour = STATUS_COLOURS.get(status, ("#eeeeee", "#333333"))
    style = (
        f"background:{background};color:{colour};border-radius:3px;padding:0 5px;white-space:nowrap"
    )
    return f'<span class="qx-status qx-status-{esc(status)}" style="{style}">{esc(status)}</span>'


def code(text: str | None) -> str:
    """A JSON body shown as code, wrapping at JSON boundaries (see :func:`json_breaks`)."""
    if text is None:
        return ""
    return f'<pre class="qx-json" style="{_CODE_STYLE}">{json_breaks(text)}</pre>'


def json_breaks(text: str) -> str:
    """``text`` (JSON) escaped, with a ``<wbr>`` (a break opportunity that adds no
    character) after each comma and opening bracket outside strings: copied text is the
    exact body."""
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        out.append(html.escape(char, quote=True))
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in ",{[":
            out.append("<wbr>")
    return "".join(out)


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, css_class: str = "qx-table"
) -> str:
    """A table of already-escaped cell HTML under an escaped header."""
    head = "".join(f'<th style="{_HEAD_STYLE}">{esc(name)}</th>' for name in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_VALUE_STYLE}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table class="{esc(css_class)}" style="{_TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def message(text: str, kind: str = "info") -> str:
    """A one-sentence message: ``info``, ``ok``, ``warning`` or ``error``."""
    colour = {"ok": "#1b5e20", "error": "#8a1c12", "warning": "#8a4b00"}.get(kind, "inherit")
    return f'<div class="qx-message qx-{esc(kind)}" style="color:{colour}">{esc(text)}</div>'


def status_bar(counts: dict[str, int]) -> str:
    """Counts per status as one horizontal bar (plain HTML/CSS), with a legend below."""
    total = sum(counts.values())
    shown = [(status, n) for status, n in counts.items() if n]
    segments = "".join(
        f'<div class="qx-bar-{esc(status)}" title="{esc(status)}: {n:,}" '
        f'style="flex:{n} 1 0;min-width:3px;background:{_bar_colour(status)}"></div>'
        for status, n in shown
    )
    legend = " &nbsp; ".join(
        f"{badge(status)} {n:,} ({100 * n / total:.1f}%)" for status, n in shown
    )
    bar_style = "display:flex;height:14px;border-radius:3px;overflow:hidden;margin:4px 0"
    return (
        f'<div class="qx-bar" style="{bar_style}">{segments}</div>'
        f'<div class="qx-bar-legend">{legend}</div>'
    )


def _bar_colour(status: str) -> str:
    return {
        Status.SUCCESS: "#43a047",
        "valid": "#43a047",
        Status.DRY_RUN: "#5c7cd6",
        Status.SKIPPED: "#9e9e9e",
        Status.INVALID: "#e53935",
        Status.FAILED: "#fb8c00",
        Status.NOT_SENT: "#bdbdbd",
    }.get(status, "#757575")


def download_link(data: bytes, filename: str, mime: str = "text/csv") -> str:
    """A link that downloads ``data`` as ``filename`` (the data is in the link itself)."""
    encoded = base64.b64encode(data).decode("ascii")
    size = f"{len(data) / 1024:,.0f} kB" if len(data) >= 1024 else f"{len(data)} bytes"
    style = (
        "display:inline-block;padding:2px 10px;border:1px solid #999;border-radius:3px;"
        "text-decoration:none;color:inherit"
    )
    return (
        f'<a class="qx-download" download="{esc(filename)}" href="data:{esc(mime)};base64,'
        f'{encoded}" style="{style}">⬇ Download {esc(filename)} ({size})</a>'
    )

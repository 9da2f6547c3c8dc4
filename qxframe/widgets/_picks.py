"""The preview's field pickers: one dropdown per field, and the mapping they amount to.

Each field's dropdown holds a *key*: a column (``("column", name)``), nothing
(:data:`NONE`), the whole row (:data:`WHOLE_ROW`, ``event_payload``'s default), several
columns as an object's keys (:data:`SEVERAL`, object fields, with a multi-select), an
expression given in the starting mapping (:data:`EXPRESSION`), or a destination constant
(:data:`CONSTANT`, shown and not editable). The pure functions decide what a field is
pre-set to (the same rules as :mod:`qxframe._mapping`) and turn keys back into a
``mapping``; :class:`Pickers` is the widget grid over them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w
import polars as pl

from qxframe._skins import Field, fields_for
from qxframe.exceptions import shorten
from qxframe.widgets import _html

Key = tuple[str, ...]
NONE: Key = ("none",)
WHOLE_ROW: Key = ("row",)
SEVERAL: Key = ("columns",)
EXPRESSION: Key = ("expression",)
CONSTANT: Key = ("constant",)


def column(name: str) -> Key:
    """The key of an input column."""
    return ("column", name)


def default_key(f: Field, columns: Sequence[str]) -> Key:
    """What the field is read from when the mapping says nothing about it
    (README, "Mapping: where each field comes from")."""
    for name in (f.name, f.alias):
        if name in columns:
            return column(name)
    return WHOLE_ROW if f.name == "event_payload" else NONE


def initial_key(
    f: Field,
    columns: Sequence[str],
    mapping: Mapping[str, Any],
    constants: Mapping[str, str | None],
) -> Key:
    """The key a field's dropdown starts at, given a starting mapping and the constants."""
    if constants.get(f.name):
        return CONSTANT
    source = mapping.get(f.name)
    if isinstance(source, str):
        return column(source)
    if isinstance(source, pl.Expr):
        return EXPRESSION
    if isinstance(source, list | tuple):
        return SEVERAL
    return default_key(f, columns)


def options_for(
    f: Field,
    columns: Sequence[str],
    constant: str | None = None,
    expression: pl.Expr | None = None,
) -> list[tuple[str, Key]]:
    """The ``(label, key)`` options of a field's dropdown."""
    if constant:
        return [(f"= {constant} (given)", CONSTANT)]
    if f.name == "event_payload":
        options = [("whole row (default)", WHOLE_ROW)]
    else:
        options = [("— not sent —", NONE)]
    options += [(name, column(name)) for name in columns]
    if f.kind == "object":
        options.append(("several columns as keys…", SEVERAL))
    if expression is not None:
        options.append((f"expression: {shorten(str(expression))}", EXPRESSION))
    return options


def mapping_of(
    action: str,
    columns: Sequence[str],
    keys: Mapping[str, Key],
    several: Mapping[str, Sequence[str]] | None = None,
    expressions: Mapping[str, pl.Expr] | None = None,
) -> dict[str, Any]:
    """The mapping the keys amount to, leaving out fields the defaults already give.

    A field set to nothing whose default would find a column maps to a null literal, so
    that the column is really left out.
    """
    mapping: dict[str, Any] = {}
    for f in fields_for(action):
        key = keys.get(f.name, default_key(f, columns))
        if key == SEVERAL:
            chosen = list((several or {}).get(f.name, ()))
            key = NONE if not chosen else key
        if key in (CONSTANT, default_key(f, columns)):
            continue
        if key == SEVERAL:
            mapping[f.name] = chosen
        elif key == EXPRESSION:
            mapping[f.name] = (expressions or {})[f.name]
        elif key == NONE:
            mapping[f.name] = pl.lit(None, dtype=pl.String)
        elif key[0] == "column":
            mapping[f.name] = key[1]
    return mapping


class Pickers:
    """A grid of one dropdown per field (and a multi-select for object fields)."""

    def __init__(
        self,
        action: str,
        columns: Sequence[str],
        mapping: Mapping[str, Any] | None,
        constants: Mapping[str, str | None],
    ) -> None:
        self.action = action
        self.columns = list(columns)
        start = dict(mapping or {})
        self.expressions = {k: v for k, v in start.items() if isinstance(v, pl.Expr)}
        self.dropdowns: dict[str, w.Dropdown] = {}
        self.several: dict[str, w.SelectMultiple] = {}
        self.chosen: dict[str, w.HTML] = {}
        self._callbacks: list[Callable[[], None]] = []
        self._quiet = False
        cells = []
        for f in fields_for(action):
            key = initial_key(f, self.columns, start, constants)
            options = options_for(
                f, self.columns, constants.get(f.name), self.expressions.get(f.name)
            )
            if key not in [value for _label, value in options]:  # a mapping naming no column
                options.append((f"{key[-1]} (not a column)", key))
            dropdown = w.Dropdown(
                description=f.name,
                options=options,
                value=key,
                disabled=key == CONSTANT,
                layout=w.Layout(width="auto"),
            )
            dropdown.style.description_width = "9.5em"
            dropdown.observe(self._changed, names="value")
            self.dropdowns[f.name] = dropdown
            cell: list[w.Widget] = [dropdown]
            if f.kind == "object":
                chosen = start.get(f.name) if key == SEVERAL else ()
                select = w.SelectMultiple(
                    options=self.columns,
                    value=tuple(c for c in chosen or () if c in self.columns),
                    rows=min(8, max(2, len(self.columns))),
                    layout=w.Layout(width="auto", margin="0 0 0 10em"),
                )
                select.observe(self._changed, names="value")
                self.several[f.name] = select
                self.chosen[f.name] = w.HTML(layout=w.Layout(margin="0 0 0 10em"))
                cell += [select, self.chosen[f.name]]
            cells.append(w.VBox(cell))
        self.box = w.GridBox(
            cells, layout=w.Layout(grid_template_columns="repeat(2, minmax(20em, 1fr))")
        )
        self._show_several()

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever a choice changes."""
        self._callbacks.append(callback)

    def keys(self) -> dict[str, Key]:
        return {name: dropdown.value for name, dropdown in self.dropdowns.items()}

    def mapping(self) -> dict[str, Any]:
        """The mapping the current choices amount to (see :func:`mapping_of`)."""
        several = {name: select.value for name, select in self.several.items()}
        return mapping_of(self.action, self.columns, self.keys(), several, self.expressions)

    def set_constants(self, constants: Mapping[str, str | None]) -> None:
        """Show new destination constants (a connect panel's directory changed)."""
        for f in fields_for(self.action):
            if not f.destination:
                continue
            dropdown = self.dropdowns[f.name]
            constant = constants.get(f.name)
            options = options_for(f, self.columns, constant)
            if list(dropdown.options) == options:
                continue
            key = CONSTANT if constant else default_key(f, self.columns)
            self._quiet = True  # one change for the caller, not one per trait
            try:
                dropdown.options = options
                dropdown.value = key
                dropdown.disabled = key == CONSTANT
            finally:
                self._quiet = False

    def choose(self, field_name: str, source: str | Sequence[str] | None) -> None:
        """Pick a column (a name), several columns (a list) or nothing (``None``) in code."""
        if source is None:
            self.dropdowns[field_name].value = NONE
        elif isinstance(source, str):
            self.dropdowns[field_name].value = column(source)
        else:
            self.several[field_name].value = tuple(source)
            self.dropdowns[field_name].value = SEVERAL

    def _changed(self, _change: Any) -> None:
        if self._quiet:
            return
        self._show_several()
        for callback in self._callbacks:
            callback()

    def _show_several(self) -> None:
        for name, select in self.several.items():
            shown = self.dropdowns[name].value == SEVERAL
            select.layout.display = None if shown else "none"
            label = self.chosen[name]
            label.layout.display = None if shown else "none"
            label.value = chosen_html(select.value)


def chosen_html(keys: Sequence[str]) -> str:
    """The keys a multi-select holds, spelled out (a list box hides what is scrolled away)."""
    if not keys:
        return "<i>no key chosen yet: ctrl/cmd-click the columns above</i>"
    names = ", ".join(f"<code>{_html.esc(key)}</code>" for key in keys)
    return f'<span class="qx-chosen">keys ({len(keys)}): {names}</span>'

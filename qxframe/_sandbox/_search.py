"""Contact search filters (docs/qualtrics-api.md §5): read from a body, matched to a contact.

A search body is ``{"filter": F}`` or ``{"filter": {"conjunction": "and", "filters":
[F, …]}}`` with 2 to 5 filters. A filter is one of (Qualtrics' search description):

- a text field (``email``, ``firstName``, ``lastName``, ``language``, ``phone``,
  ``extRef``) with ``eq`` or ``neq`` and a string ``value``, compared case-insensitively
  with surrounding spaces trimmed;
- ``created`` or ``lastModified`` with ``eq``, ``neq``, ``gt``, ``lt``, ``gte`` or
  ``lte`` and a ``value`` of ``yyyy-MM-dd`` (compared by day) or ``yyyy-MM-dd hh:mm:ss``
  (by second, UTC);
- ``inList`` with a boolean ``comparison`` (``true``: a member of the list) and a
  ``mailingListId`` instead of a value;
- ``infoFieldState`` with ``empty`` or ``notEmpty`` and a ``field`` (``email``,
  ``extRef``, ``firstName``, ``lastName``) instead of a value.

Anything else is a 400, as in Qualtrics. Pure functions, no state.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qxframe._sandbox._model import Contact
from qxframe._sandbox._rules import StoreError, norm

TEXT_FILTERS = ("email", "firstName", "lastName", "language", "phone", "extRef")
DATE_FILTERS = {"created": "created_at", "lastModified": "modified_at"}
STATE_FIELDS = ("email", "extRef", "firstName", "lastName")
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "lt": operator.lt,
    "gte": operator.ge,
    "lte": operator.le,
}
_DAY, _SECOND = "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Filter:
    """One search filter, checked: its type, comparison and operand."""

    filter_type: str
    comparison: str
    operand: str  # the value, the mailing list id, or the field

    @property
    def eq_text(self) -> tuple[str, str] | None:
        """(field, value) when this is an ``eq`` on a text field (an index lookup)."""
        if self.filter_type in TEXT_FILTERS and self.comparison == "eq" and norm(self.operand):
            return self.filter_type, self.operand
        return None

    def matches(self, contact: Contact) -> bool:
        kind = self.filter_type
        if kind in TEXT_FILTERS:
            same = norm(contact.fields.get(kind)) == norm(self.operand)
            return same == (self.comparison == "eq")
        if kind == "inList":
            return (self.operand in contact.lists) == (self.comparison == "true")
        if kind == "infoFieldState":
            empty = not norm(contact.fields.get(self.operand))
            return empty == (self.comparison == "empty")
        when: dt.datetime = getattr(contact, DATE_FILTERS[kind])
        shape = _SECOND if len(self.operand) > 10 else _DAY
        mine = when.astimezone(dt.UTC).strftime(shape)  # the shapes sort as they compare
        return _ORDER[self.comparison](mine, self.operand)


def parse_search(body: Any) -> list[Filter]:
    """The filters a search body asks for, AND-ed; 400 for a body Qualtrics refuses."""
    if not isinstance(body, dict) or set(body) != {"filter"}:
        raise StoreError(400, "QVAL_1", 'The search body must be {"filter": {...}}.')
    flt = body["filter"]
    if not isinstance(flt, dict) or "conjunction" not in flt:
        return [check_filter(flt)]
    if flt.get("conjunction") != "and" or set(flt) != {"conjunction", "filters"}:
        raise StoreError(
            400, "QVAL_1", 'A conjunction must be {"conjunction": "and", "filters": [...]}.'
        )
    filters = flt["filters"]
    if not isinstance(filters, list) or not 2 <= len(filters) <= 5:
        raise StoreError(400, "QVAL_1", "A conjunction takes between 2 and 5 filters.")
    return [check_filter(f) for f in filters]


def check_filter(flt: Any) -> Filter:
    """One filter of a search body, checked."""
    kind = flt.get("filterType") if isinstance(flt, dict) else None
    if kind in TEXT_FILTERS:
        return _text_filter(flt)
    if kind in DATE_FILTERS:
        return _date_filter(flt)
    if kind == "inList":
        return _list_filter(flt)
    if kind == "infoFieldState":
        return _state_filter(flt)
    raise StoreError(400, "QVAL_1", f"Invalid filterType: {kind!r}.")


def _keys(flt: dict[str, Any], operand: str) -> None:
    if set(flt) != {"filterType", "comparison", operand}:
        raise StoreError(
            400,
            "QVAL_1",
            f"A {flt['filterType']} filter needs exactly filterType, comparison, {operand}.",
        )


def _bad_comparison(flt: dict[str, Any]) -> StoreError:
    return StoreError(
        400, "QVAL_1", f"Invalid comparison for {flt['filterType']}: {flt['comparison']!r}."
    )


def _text_filter(flt: dict[str, Any]) -> Filter:
    _keys(flt, "value")
    if flt["comparison"] not in ("eq", "neq"):
        raise _bad_comparison(flt)
    if not isinstance(flt["value"], str):
        raise StoreError(
            400, "QVAL_1", f"Invalid value for filter {flt['filterType']}: expected a string."
        )
    return Filter(flt["filterType"], flt["comparison"], flt["value"])


def _date_filter(flt: dict[str, Any]) -> Filter:
    _keys(flt, "value")
    if flt["comparison"] not in _ORDER:
        raise _bad_comparison(flt)
    value = flt["value"].strip() if isinstance(flt["value"], str) else None
    for shape in (_DAY, _SECOND):
        try:
            if value is not None and dt.datetime.strptime(value, shape).strftime(shape) == value:
                return Filter(flt["filterType"], flt["comparison"], value)
        except ValueError:
            continue
    raise StoreError(
        400,
        "QVAL_1",
        f"Invalid value for filter {flt['filterType']}: expected yyyy-MM-dd or "
        "yyyy-MM-dd hh:mm:ss.",
    )


def _list_filter(flt: dict[str, Any]) -> Filter:
    _keys(flt, "mailingListId")
    comparison = flt["comparison"]
    if isinstance(comparison, str) and comparison.lower() in ("true", "false"):
        comparison = comparison.lower() == "true"
    if not isinstance(comparison, bool):
        raise _bad_comparison(flt)
    if not isinstance(flt["mailingListId"], str):
        raise StoreError(400, "QVAL_1", "Invalid mailingListId for filter inList.")
    return Filter("inList", "true" if comparison else "false", flt["mailingListId"].strip())


def _state_filter(flt: dict[str, Any]) -> Filter:
    _keys(flt, "field")
    if flt["comparison"] not in ("empty", "notEmpty"):
        raise _bad_comparison(flt)
    if flt["field"] not in STATE_FIELDS:
        raise StoreError(
            400,
            "QVAL_1",
            f"Invalid field for filter infoFieldState: {flt['field']!r} (one of "
            f"{', '.join(STATE_FIELDS)}).",
        )
    return Filter("infoFieldState", flt["comparison"], flt["field"])

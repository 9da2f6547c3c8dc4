"""Request bodies, built purely from one canonical row (no I/O, no defaults invented).

Row builders (``contact_body`` …) take one row; column builders (``contact_bodies`` …)
take a whole ``valid`` frame and return the same bodies as compact JSON text, equal byte
for byte to ``compact_json(contact_body(row))`` but built in polars, for throughput (a
dry run of a million rows) and for the dry-run ``payload`` column.

A row is a dict of a ``valid`` frame row (``iter_rows(named=True)``): canonical values,
nulls as ``None``, object fields as compact JSON text. Every builder leaves out what is
null or absent (docs/architecture.md, "What is sent"): no ``language: "EN"``, no
``unsubscribed: false`` unless the row says so.

>>> contact_body({"email": "a@b.com", "language": None, "unsubscribed": False})
{'email': 'a@b.com', 'unsubscribed': False}
>>> search_body(("u1", None, "a@b.com"))["filter"]["conjunction"]
'and'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from qxframe._fields import field
from qxframe._jsontext import compact_json, json_object, member, value_text

LookupKey = tuple[str | None, str | None, str | None]

#: A contact's fields in the order Segment sends them; embedded data is JSON text.
_CONTACT_ORDER = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "ext_ref",
    "embedded_data",
    "language",
    "unsubscribed",
)
#: (row column, body key): the wire names come from the field catalogue.
_CONTACT_KEYS = tuple((name, field("contacts", name).body_key or name) for name in _CONTACT_ORDER)
_FILTER_TYPES = ("extRef", "phone", "email")
_loads = json.loads


def contact_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /directories/{id}/contacts`` for ``row``."""
    body: dict[str, Any] = {}
    for column, key in _CONTACT_KEYS:
        value = row.get(column)
        if value is not None:
            body[key] = _loads(value) if column == "embedded_data" else value
    return body


def lookup_key(row: Mapping[str, Any]) -> LookupKey | None:
    """(ext_ref, phone, email), trimmed, e-mail lower-cased, ``""`` as absent; ``None`` if all
    are absent. Rows with equal keys are the same person to a directory search.

    >>> lookup_key({"ext_ref": " u1 ", "email": "Bob@X.org", "phone": ""})
    ('u1', None, 'bob@x.org')
    """
    ext_ref = _trimmed(row.get("ext_ref"))
    phone = _trimmed(row.get("phone"))
    email = _trimmed(row.get("email"))
    if email is not None:
        email = email.lower()
    if ext_ref is None and phone is None and email is None:
        return None
    return ext_ref, phone, email


#: What normalisation trims (polars' ``strip_chars``: Unicode White_Space). Python's
#: ``str.strip()`` also strips the separators U+001C-U+001F, which would make a value that
#: passed validation as present an absent part of the lookup key.
_WHITESPACE = "".join(
    c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f"
)


def _trimmed(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip(_WHITESPACE)
    return text or None


def search_body(key: LookupKey) -> dict[str, Any]:
    """The body of ``POST …/contacts/search``: ``eq`` filters in order extRef, phone, email.

    >>> search_body(("u1", None, None))
    {'filter': {'filterType': 'extRef', 'comparison': 'eq', 'value': 'u1'}}
    """
    filters = [
        {"filterType": kind, "comparison": "eq", "value": value}
        for kind, value in zip(_FILTER_TYPES, key, strict=True)
        if value is not None
    ]
    if not filters:
        raise ValueError("a search needs at least one of ext_ref, phone, email")
    if len(filters) == 1:
        return {"filter": filters[0]}
    return {"filter": {"conjunction": "and", "filters": filters}}


def transaction_entry(
    row: Mapping[str, Any], *, contact_id: str | None, default_date: str
) -> dict[str, Any]:
    """One transaction, the value under its key in ``POST …/transactions``.

    ``contactId`` is left out when ``contact_id`` is ``None`` (a dry run whose contact would
    come from a lookup); ``data`` is ``{}`` when the row has none; the date is the row's,
    else ``default_date`` (the push's start, ``YYYY-MM-DD HH:MM:SS`` UTC).
    """
    entry: dict[str, Any] = {}
    if contact_id is not None:
        entry["contactId"] = contact_id
    mailing_list_id = row.get("mailing_list_id")
    if mailing_list_id is not None:
        entry["mailingListId"] = mailing_list_id
    entry["transactionDate"] = row.get("transaction_date") or default_date
    data = row.get("transaction_data")
    entry["data"] = _loads(data) if data is not None else {}
    return entry


#: The keys ``correlate=True`` adds to each workflow event: the push's id and the row.
CORRELATION_KEYS = ("qx_run", "qx_row")


def workflow_body(row: Mapping[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """The JSON body posted to the workflow URL: the row's ``event_payload`` object; with
    ``run_id`` (``correlate=True``), ``qx_run`` and ``qx_row`` last, replacing any keys of
    those names, so a person finds the push in the workflow's run history.

    >>> workflow_body({"row": 3, "event_payload": '{"a":1}'}, run_id="R1")
    {'a': 1, 'qx_run': 'R1', 'qx_row': 3}
    """
    payload = row.get("event_payload")
    body = _loads(payload) if payload is not None else {}
    if run_id is None:
        return body
    kept = {k: v for k, v in body.items() if k not in CORRELATION_KEYS}
    return kept | dict(zip(CORRELATION_KEYS, (run_id, row["row"]), strict=True))


# --- column builders: the same bodies as compact JSON text, one per row -------------------


def contact_members(frame: pl.DataFrame) -> list[tuple[str, pl.Expr]]:
    """``(body key, JSON text of its value)`` of each member a contact body of ``frame``
    can have, in body order; the text is null where the member is left out (embedded data
    is the JSON text of an object)."""
    members = []
    for column, key in _CONTACT_KEYS:
        if column in frame.columns:
            v = pl.col(column)
            text = v if column == "embedded_data" else value_text(v, frame.schema[column])
            members.append((key, text))
    return members


def contact_bodies(frame: pl.DataFrame) -> pl.Series:
    """``compact_json(contact_body(row))`` for every row of a ``valid`` frame."""
    members = [member(key, text) for key, text in contact_members(frame)]
    return _select(frame, json_object(members))


def transaction_entries(frame: pl.DataFrame, *, default_date: str) -> pl.Series:
    """``compact_json(transaction_entry(row, contact_id=row's contact_id, …))`` per row.

    ``contactId`` comes from the frame's ``contact_id`` column and is left out where that
    is null (the contact will come from a lookup).
    """
    members = []
    for column, key in (("contact_id", "contactId"), ("mailing_list_id", "mailingListId")):
        if column in frame.columns:
            members.append(member(key, value_text(pl.col(column), frame.schema[column])))
    date = pl.col("transaction_date") if "transaction_date" in frame.columns else pl.lit(None)
    members.append(
        member(
            "transactionDate", value_text(date.cast(pl.String).fill_null(default_date), pl.String())
        )
    )
    data = pl.col("transaction_data") if "transaction_data" in frame.columns else pl.lit(None)
    members.append(member("data", data.cast(pl.String).fill_null("{}")))
    return _select(frame, json_object(members))


def workflow_bodies(frame: pl.DataFrame, run_id: str | None = None) -> pl.Series:
    """``compact_json(workflow_body(row, run_id))`` for every row of a ``valid`` frame."""
    if run_id is not None:  # row by row: a correlated event's keys are replaced, not repeated
        rows = frame.iter_rows(named=True)
        bodies = [compact_json(workflow_body(row, run_id)) for row in rows]
        return pl.Series("payload", bodies, dtype=pl.String)
    if "event_payload" not in frame.columns:
        return pl.Series("payload", ["{}"] * frame.height, dtype=pl.String)
    return _select(frame, pl.col("event_payload").fill_null("{}"))


def _select(frame: pl.DataFrame, expr: pl.Expr) -> pl.Series:
    # with_columns, not select: a literal ({} for a row with no fields) must broadcast
    return frame.with_columns(expr.alias("_payload")).get_column("_payload").alias("payload")

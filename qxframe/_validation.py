"""The rules a row must pass before it is sent, as one pandera schema per action.

This module is where validation lives: the rule codes and their sentences (:data:`RULES`),
the checks, and the schema of each action. :mod:`qxframe._prepare` runs them on each
chunk; :mod:`qxframe.schemas` is the public face (the schemas and ``validate``).

The schemas check a *normalised* frame: snake_case field columns holding canonical
values (see ``qxframe._normalize``), plus diagnostic columns ``_<rule>`` that carry the
text of values normalisation could not convert (``_unsubscribed_not_boolean`` holds
``"yes"``). Every check is named by a stable rule code (:data:`RULES`, in the order a
row's first failure is chosen) and validation is lazy, so pandera's ``failure_cases``
lists every failing row by index.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe._fields import (
    diagnostic,
    diagnostic_rules,
    fields_for,
    identity_fields,
)
from qxframe._normalize import DATE_PATTERN
from qxframe.delivery._urls import is_allowed_workflow_url, redact
from qxframe.exceptions import shorten

if TYPE_CHECKING:  # pandera (and the pandas it pulls in) loads on first use, not on import
    import pandera.polars as pa


_OBJECT_HINT = 'give {"key": value} JSON text, a struct column, or a list of columns'
_UNSUPPORTED = (
    " key {value} has no faithful JSON form; convert that column first (a duration: "
    "pl.col(…).dt.total_seconds(); binary: pl.col(…).bin.encode('base64'); NaN or an "
    "infinity: pl.col(…).fill_nan(None) leaves the value out) or leave it out"
)

#: Rule code -> message; ``{value}`` is replaced by the quoted offending value.
RULES: dict[str, str] = {
    "directory_id_missing": 'directory_id is empty; pass directory_id="POOL_…" or fill the column',
    "directory_id_format": "directory_id {value} is not a directory id (POOL_…); copy it "
    "from client.directories()",
    "mailing_list_id_missing": 'mailing_list_id is empty; pass mailing_list_id="CG_…" or '
    "fill the column",
    "mailing_list_id_format": "mailing_list_id {value} is not a mailing list id (CG_…); copy "
    "it from client.mailing_lists(directory_id)",
    "workflow_url_missing": "workflow_url is empty; pass workflow_url= the URL of the "
    "workflow's JSON-event trigger, or fill the column",
    "workflow_url_not_allowed": "workflow_url {value} is neither https on a *.qualtrics.com "
    "host nor the client's own origin, and the API token is never sent elsewhere; copy the "
    "URL from the workflow's JSON-event trigger",
    "contact_id_format": "contact_id {value} is not a contact id (CID_…); fix it, or leave "
    "it empty to look the contact up by ext_ref, phone or email",
    "missing_identity": "the row has no {value}; give at least one so Qualtrics can tell "
    "which contact it is",
    "email_format": "e-mail {value} is not a valid address; fix or remove it",
    "unsubscribed_not_boolean": "unsubscribed {value} is not a boolean; use true/false or "
    "1/0, or leave it empty",
    "transaction_date_unparseable": "transaction_date {value} is not a date; use ISO-8601 "
    "(2024-05-01T13:45:10Z), epoch milliseconds, or leave it empty for the push's start",
    "embedded_data_not_object": "embedded_data {value} is not a JSON object; " + _OBJECT_HINT,
    "embedded_data_key_too_long": "embedded_data key {value} is longer than 200 characters; "
    "shorten it",
    "embedded_data_value_too_long": "embedded_data {value} has a value longer than 1024 "
    "characters; shorten it or leave it out",
    "embedded_data_unsupported_type": "embedded_data" + _UNSUPPORTED,
    "transaction_data_not_object": "transaction_data {value} is not a JSON object; " + _OBJECT_HINT,
    "transaction_data_key_too_long": "transaction_data key {value} is longer than 200 "
    "characters; shorten it",
    "transaction_data_value_too_long": "transaction_data {value} has a value longer than "
    "1024 characters; shorten it or leave it out",
    "transaction_data_unsupported_type": "transaction_data" + _UNSUPPORTED,
    "event_payload_not_object": "event_payload {value} is not a JSON object; " + _OBJECT_HINT,
    "event_payload_not_json": "event_payload: the cell of json column {value} is not JSON "
    "text (an object, an array, a number, true, false or a quoted string); fix it, or leave "
    "the column out of json_columns to send its text as a string",
    "event_payload_unsupported_type": "event_payload" + _UNSUPPORTED,
    "payload_too_large": "the workflow body is {value} bytes of JSON, over the 102,400-byte "
    "limit; send fewer or smaller fields",
}

Check = Callable[[Any], pl.LazyFrame]


def _rows(expr: Callable[[pl.Expr], pl.Expr]) -> Check:
    def check(data: Any) -> pl.LazyFrame:
        return data.lazyframe.select(expr(pl.col(data.key)).fill_null(True))

    return check


def _check(code: str, expr: Callable[[pl.Expr], pl.Expr]) -> pa.Check:
    return _pa().Check(_rows(expr), name=code, ignore_na=False)


def _matches(code: str, pattern: str) -> pa.Check:
    return _check(code, lambda c: c.is_null() | c.str.contains(pattern))


def _at_most_bytes(most: int) -> pa.Check:
    return _check("payload_too_large", lambda c: c.str.len_bytes() <= most)


def _allowed_url(name: str, allowed_origin: str | None) -> pa.Check:
    def check(data: Any) -> pl.LazyFrame:
        column = pl.col(data.key)
        urls = data.lazyframe.select(column.unique()).collect().to_series().to_list()
        allowed = [u for u in urls if u is not None and is_allowed_workflow_url(u, allowed_origin)]
        return data.lazyframe.select(column.is_null() | column.is_in(allowed))

    return _pa().Check(check, name=f"{name}_not_allowed", ignore_na=False)


def _has_identity(candidates: tuple[str, ...]) -> pa.Check:
    def check(data: Any) -> pl.LazyFrame:
        present = [c for c in candidates if c in data.lazyframe.collect_schema().names()]
        ok = (
            pl.any_horizontal([pl.col(c).is_not_null() for c in present])
            if present
            else pl.repeat(False, pl.len())
        )
        return data.lazyframe.select(ok.alias("has_identity"))

    return _pa().Check(check, name="missing_identity", ignore_na=False)


def _diagnostic(rule: str) -> tuple[str, pa.Column]:
    check = _check(rule, lambda c: c.is_null())
    return diagnostic(rule), _pa().Column(pl.String, checks=[check], nullable=True, required=False)


def _field_columns(action: str, allowed_origin: str | None) -> dict[str, pa.Column]:
    columns: dict[str, pa.Column] = {}
    for f in fields_for(action):
        checks: list[pa.Check] = []
        if f.destination and f.required:
            checks.append(_check(f"{f.name}_missing", lambda c: c.is_not_null()))
        if f.pattern is not None:
            code = f"{f.name}_format"
            checks.append(_matches(code, f"^{f.pattern.pattern}$"))
        if f.format is not None:
            checks.append(_matches(f"{f.name}_format", f.format))
        if f.kind == "url":
            checks.append(_allowed_url(f.name, allowed_origin))
        if f.kind == "date":
            checks.append(_matches(f"{f.name}_unparseable", DATE_PATTERN))
        if f.kind == "object":
            checks.append(_matches(f"{f.name}_not_object", r"^\{"))
        if f.max_bytes is not None:
            checks.append(_at_most_bytes(f.max_bytes))
        dtype = pl.Boolean if f.kind == "bool" else pl.String
        required = f.destination and f.required
        columns[f.name] = _pa().Column(dtype, checks=checks, nullable=True, required=required)
    return columns


@functools.lru_cache(maxsize=32)
def schema_for(action: str, allowed_origin: str | None = None) -> pa.DataFrameSchema:
    """The schema of ``action``; for workflows, ``allowed_origin`` is the client's origin."""
    columns = _field_columns(action, allowed_origin)
    for f in fields_for(action):
        for rule in diagnostic_rules(f):
            key, column = _diagnostic(rule)
            columns[key] = column
    identity = identity_fields(action)
    checks = [_has_identity(identity)] if identity else []
    return _pa().DataFrameSchema(columns, checks=checks, strict=False, name=f"{action}_schema")


def _pa() -> Any:
    import pandera.polars

    return pandera.polars


def message(code: str, value: Any, action: str = "contacts") -> str:
    """The sentence for a failure of rule ``code``, quoting ``value`` where that helps."""
    template = RULES.get(code, code.replace("_", " ") + " {value}; fix the value")
    if code == "missing_identity":
        *names, last = identity_fields(action)
        shown = f"{', '.join(names)} or {last}"
    elif code == "payload_too_large":
        shown = f"{len(str(value).encode()):,}"
    elif any(code.startswith(f.name) for f in fields_for(action) if f.kind == "url"):
        shown = _quote(redact(value))
    else:
        shown = _quote(value)
    return template.replace("{value}", shown).replace("  ", " ")


def _quote(value: Any, limit: int = 60) -> str:
    if value is None:
        return ""
    return json.dumps(shorten(str(value), limit), ensure_ascii=False)

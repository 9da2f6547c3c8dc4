"""The Qualtrics rules the sandbox applies to request bodies: pure functions, no state.

This module owns what makes a body acceptable: the contact fields and their types
(unknown keys are a 400, as in Qualtrics), search filters (types, comparisons, 2 to 5
filters under ``"conjunction": "and"``), the per-key checks of a transactions body, and
the ``skipToken`` encoding. A refusal is a :class:`StoreError` carrying the HTTP status,
an ``errorCode`` and a sentence; :mod:`._app` turns it into an error envelope.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Container
from typing import Any

# Write field name -> (read field name, deduplicationCriteria name, contacts() column).
CONTACT_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "firstName": ("firstName", "firstName", "first_name"),
    "lastName": ("lastName", "lastName", "last_name"),
    "email": ("email", "email", "email"),
    "phone": ("phoneNumber", "phone", "phone"),
    "extRef": ("externalDataReference", "externalDataReference", "ext_ref"),
    "language": ("language", None, "language"),
}
SEARCH_MAX_DEPTH = 10_000
_TX_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_BATCH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


class StoreError(Exception):
    """A request the rules refuse; the app answers ``status`` with an error envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def norm(value: str | None) -> str:
    return (value or "").strip().casefold()


def encode_skip(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def decode_skip(token: str | None) -> int:
    """Offset from a ``skipToken``; a token this sandbox did not hand out is a 400."""
    if token is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeError):
        raise StoreError(400, "QVAL_1", f"Invalid skipToken: {token!r}.") from None
    if offset < 0:
        raise StoreError(400, "QVAL_1", f"Invalid skipToken: {token!r}.")
    return offset


def encode_cursor(key: int) -> str:
    """A ``skipToken`` that resumes after the element whose ordering key is ``key``."""
    return base64.urlsafe_b64encode(f"after:{key}".encode()).decode()


def decode_cursor(token: str | None) -> int | None:
    """The ordering key a cursor ``skipToken`` resumes after (None: from the start)."""
    if token is None:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, key = text.partition(":")
        if prefix != "after":
            raise ValueError(text)
        return int(key)
    except (ValueError, binascii.Error, UnicodeError):
        raise StoreError(400, "QVAL_1", f"Invalid skipToken: {token!r}.") from None


def check_contact_body(body: Any) -> dict[str, Any]:
    """Validate a create-contact body as Qualtrics does: known keys, right types."""
    if not isinstance(body, dict):
        raise StoreError(400, "QVAL_1", "The request body must be a JSON object.")
    allowed = {*CONTACT_FIELDS, "embeddedData", "unsubscribed"}
    for key, value in body.items():
        if key not in allowed:
            raise StoreError(400, "QVAL_1", f"Unexpected json key provided: {key}")
        if key == "unsubscribed":
            ok = isinstance(value, bool)
        elif key == "embeddedData":
            ok = isinstance(value, dict) and all(_scalar(v) for v in value.values())
        else:
            ok = isinstance(value, str)
        if not ok:
            kind = {
                "unsubscribed": "a boolean",
                "embeddedData": "an object of strings, numbers and booleans",
            }.get(key, "a string")
            raise StoreError(400, "QVAL_1", f"Invalid value for {key}: expected {kind}.")
    return body


def check_list_body(body: Any, *, require_name: bool) -> tuple[str | None, str | None]:
    """``(name, ownerId)`` of a mailing-list create/update body; other keys are ignored."""
    if not isinstance(body, dict):
        raise StoreError(400, "QVAL_1", "The request body must be a JSON object.")
    name, owner = body.get("name"), body.get("ownerId")
    if require_name and not (isinstance(name, str) and name.strip()):
        raise StoreError(400, "QVAL_1", "A mailing list needs a name (a non-empty string).")
    for key, value in (("name", name), ("ownerId", owner)):
        if value is not None and not isinstance(value, str):
            raise StoreError(400, "QVAL_1", f"Invalid value for {key}: expected a string.")
    return name, owner


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def transaction_problem(
    tx: Any, contacts: Container[str], lists: Container[str]
) -> tuple[str, str] | None:
    """Why one transaction cannot be stored, as (short code, sentence), or None."""
    if not isinstance(tx, dict):
        return "invalid_transaction", "A transaction must be a JSON object."
    unknown = set(tx) - {"contactId", "mailingListId", "transactionDate", "data"}
    if unknown:
        return "invalid_transaction", f"Unexpected json key provided: {sorted(unknown)[0]}"
    contact_id, list_id = tx.get("contactId"), tx.get("mailingListId")
    if not isinstance(contact_id, str) or contact_id not in contacts:
        return "contact_not_found", (
            f"Contact {tx.get('contactId')!r} does not exist in this directory."
        )
    if not isinstance(list_id, str) or list_id not in lists:
        return "mailing_list_not_found", (
            f"Mailing list {tx.get('mailingListId')!r} does not exist in this directory."
        )
    date = tx.get("transactionDate")
    if not isinstance(date, str) or not _valid_date(date):
        return "invalid_transaction_date", (
            f"transactionDate {date!r} is not a date in the format YYYY-MM-DD HH:MM:SS."
        )
    data = tx.get("data")
    if not isinstance(data, dict) or not all(_scalar(v) for v in data.values()):
        return "invalid_transaction_data", (
            "data must be an object of strings, numbers and booleans."
        )
    return None


def check_batch_date(value: Any) -> str:
    """A batch's ``creationDate``: ISO 8601 in 24-hour UTC (``2019-08-24T14:15:22Z``)."""
    if not isinstance(value, str) or not _BATCH_DATE.fullmatch(value):
        raise StoreError(
            400,
            "QVAL_1",
            f"Invalid creationDate {value!r}: use 24-hour UTC like 2019-08-24T14:15:22Z.",
        )
    try:
        dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise StoreError(400, "QVAL_1", f"Invalid creationDate {value!r}.") from None
    return value


def _valid_date(value: str) -> bool:
    if not _TX_DATE.fullmatch(value):
        return False
    try:
        dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True

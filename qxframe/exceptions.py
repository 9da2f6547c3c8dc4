"""Every error qxframe raises, in one tree.

::

    QxError
    ├── ConfigError (ValueError)        bad settings, caught before any network use
    │   └── MappingError (KeyError)      a mapping names a column the frame lacks
    ├── ApiError                         Qualtrics answered with an error envelope
    │   ├── BadRequestError              400, and other 4xx not listed below
    │   ├── AuthError                    401 / 403: the token was refused
    │   ├── NotFoundError                404: unknown directory, list or contact
    │   ├── PayloadTooLargeError         413: split the request
    │   ├── RateLimitedError             429 after every retry was spent
    │   └── ServerError                  5xx after every retry was spent
    ├── TransportError                   the request could not be delivered (refused, timed out)
    ├── OutcomeUnknownError              a write may have landed; it was not re-sent
    └── StorageError                     the journal or results file could not be written

    KeyboardInterrupt
    └── PushInterrupted                  Ctrl-C, "interrupt kernel" or a handle's cancel()
        └── PushCancelled (asyncio.CancelledError)   the same, for an async push whose task
                                                     was cancelled

Any exception a push raises after it has read rows carries ``results``: the results frame
of every row read so far, with the outcomes known and ``not_sent`` for the rest (with
``out=``, the LazyFrame scanning that file), and ``sent``, the number of rows sent. When
rows were sent, the message says how many and how to go on (docs/architecture.md,
"Interrupts and partial failures"). ``PushInterrupted`` is a ``KeyboardInterrupt`` so that
a script stops as Ctrl-C always stops it; ``PushCancelled`` is also an
``asyncio.CancelledError`` so that cancelling an ``aupsert_*`` task is an ordinary
cancellation to asyncio (it never escapes the caller's event loop as a
``KeyboardInterrupt`` raised inside a task would).

Errors that replace a builtin also inherit it (``ConfigError`` is a ``ValueError``),
and every message ends with what to do about it. No message ever contains the API
token: error text is built only from Qualtrics' own ``errorMessage`` and from values
qxframe chose to show.

Two helpers put other text into a message: :func:`first_line` quotes a foreign error,
:func:`shorten` cuts a long value down to a readable length.

Errors coming from the network carry ``http_status``, ``error_code``, ``error_message``,
``request_id`` and ``attempts`` (how many HTTP attempts were spent), so that a failed row
in a results frame can be filled from the error alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "BadRequestError",
    "ConfigError",
    "MappingError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "PushCancelled",
    "PushInterrupted",
    "QxError",
    "RateLimitedError",
    "ServerError",
    "StorageError",
    "TransportError",
]


class QxError(Exception):
    """Base of every qxframe error.

    Attributes mirror a results-frame row so a failure can be reported per row.
    ``error_code`` is machine-readable (a Qualtrics ``errorCode`` or a qxframe code).
    """

    default_code = "error"
    results: Any = None  # set on errors a push raises after reading rows (see the module doc)
    sent: int = 0

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        request_id: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_code = error_code or self.default_code
        self.error_message = error_message or message
        self.request_id = request_id
        self.attempts = attempts

    def __str__(self) -> str:
        return self.message


class ConfigError(QxError, ValueError):
    """A setting is wrong (datacenter, ids, URLs); raised before anything is sent."""

    default_code = "config_error"


class MappingError(ConfigError, KeyError):
    """A mapping names a column the frame does not have."""

    default_code = "mapping_error"

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class ApiError(QxError):
    """Qualtrics answered with an error envelope (``meta.error``)."""

    default_code = "api_error"


class BadRequestError(ApiError):
    """400 (or another 4xx without its own class): the request was refused as sent."""

    default_code = "bad_request"


class AuthError(ApiError):
    """401 or 403: the API token is missing, wrong, or lacks a permission."""

    default_code = "unauthorized"


class NotFoundError(ApiError):
    """404: the directory, mailing list, contact or workflow trigger does not exist."""

    default_code = "not_found"


class PayloadTooLargeError(ApiError):
    """413: the body is too large for Qualtrics."""

    default_code = "payload_too_large"


class RateLimitedError(ApiError):
    """429 still answered after every retry was spent."""

    default_code = "rate_limited"


class ServerError(ApiError):
    """5xx still answered after every retry that was safe was spent."""

    default_code = "server_error"


class TransportError(QxError):
    """The request could not be delivered: connection refused, DNS, timeout."""

    default_code = "transport_error"


class StorageError(QxError):
    """A file a push keeps could not be written or read: its journal or its results file
    (a full disk, a read-only file system, a damaged file). The message names the file
    and what to do; ``path`` is the file. Raised after rows were sent, it carries
    ``.results`` and ``.sent`` like any error of a push."""

    default_code = "storage_error"

    def __init__(self, message: str, *, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class OutcomeUnknownError(QxError):
    """A write may have been processed, and re-sending it could duplicate it.

    Raised for a 500/502/504 answer or a timeout after the body was sent, on a write
    that is not safe to repeat. Check in Qualtrics before sending the row again.
    """

    default_code = "outcome_unknown"


class PushInterrupted(KeyboardInterrupt):
    """A push stopped by Ctrl-C, "interrupt kernel" or ``PushHandle.cancel()``.

    Nothing new was sent after the stop; requests in flight had a short grace to answer.
    ``results`` holds every row read so far (outcomes known, ``outcome_unknown`` for rows
    whose request went unanswered, ``not_sent`` for the rest); ``sent`` counts the rows
    sent. With a journal, running the same push again resumes it.
    """

    def __init__(self, message: str, *, results: Any = None, sent: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.results = results
        self.sent = sent

    def __str__(self) -> str:
        return self.message


class PushCancelled(PushInterrupted, asyncio.CancelledError):
    """An async push whose task was cancelled (also how asyncio sees Ctrl-C).

    Being a ``CancelledError``, it ends the task as cancelled instead of escaping the
    event loop; being a ``PushInterrupted``, ``except qx.PushInterrupted`` catches it.
    """


def first_line(exc: BaseException, *, with_kind: bool = False) -> str:
    """The first line of a foreign error's text, to quote it in a qxframe message.

    ``with_kind`` puts the error's type in front (``ZeroDivisionError: division by zero``);
    an error with no text is named by its type.

    >>> first_line(ValueError("bad\\nmore")), first_line(KeyError(), with_kind=True)
    ('bad', 'KeyError')
    """
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    kind = type(exc).__name__
    if not with_kind or not first:
        return first or kind
    return first if kind in first else f"{kind}: {first}"


def shorten(text: str, limit: int = 40) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and an ellipsis, in
    ``limit`` characters: a long value quoted in a message or a label.

    >>> shorten("abcdef", 4), shorten("abcd", 4)
    ('abc…', 'abcd')
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"

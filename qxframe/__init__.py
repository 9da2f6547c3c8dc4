"""qxframe: push rows of a dataframe to Qualtrics.

>>> import polars as pl
>>> import qxframe as qx
>>> frame = pl.DataFrame({"email": ["ann@example.com", "not-an-email"]})
>>> with qx.sandbox() as sb:
...     res = qx.upsert_contacts(frame, client=sb.client(), directory_id=sb.directory_id)
>>> res["status"].to_list(), res["error_code"].to_list()
(['success', 'invalid'], [None, 'email_format'])

The public names are listed in ``__all__``; everything in a module whose name starts
with an underscore is private.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from qxframe import schemas
from qxframe._plan import aplan_contacts, plan_contacts, settle_unknown
from qxframe._read import aread_contacts, read_contacts
from qxframe._results import rows_to_retry, summary
from qxframe.actions._public import (
    adelete_contacts,
    aremove_from_list,
    atrigger_workflow,
    aunsubscribe,
    aupsert_contacts,
    aupsert_transactions,
    delete_contacts,
    remove_from_list,
    trigger_workflow,
    unsubscribe,
    upsert_contacts,
    upsert_transactions,
)
from qxframe.delivery._client import Client
from qxframe.delivery._config import RetryPolicy
from qxframe.exceptions import (
    ApiError,
    AuthError,
    BadRequestError,
    ConfigError,
    MappingError,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    PushCancelled,
    PushInterrupted,
    QxError,
    RateLimitedError,
    ServerError,
    StorageError,
    TransportError,
)

if _TYPE_CHECKING:
    from qxframe._sandbox import Sandbox, sandbox

__version__ = "0.1.0"

#: Public names loaded on first use, each from its module: the sandbox (a web server,
#: starlette and uvicorn) costs about a fifth of ``import qxframe`` and most calls never
#: start one (docs/architecture.md, "Layers").
_LAZY = {"Sandbox": "qxframe._sandbox", "sandbox": "qxframe._sandbox"}


def __getattr__(name: str) -> _Any:
    """A name of :data:`_LAZY`, imported on first use (PEP 562) and kept."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ApiError",
    "AuthError",
    "BadRequestError",
    "Client",
    "ConfigError",
    "MappingError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "PushCancelled",
    "PushInterrupted",
    "QxError",
    "RateLimitedError",
    "RetryPolicy",
    "Sandbox",
    "ServerError",
    "StorageError",
    "TransportError",
    "adelete_contacts",
    "aplan_contacts",
    "aread_contacts",
    "aremove_from_list",
    "atrigger_workflow",
    "aunsubscribe",
    "aupsert_contacts",
    "aupsert_transactions",
    "delete_contacts",
    "plan_contacts",
    "read_contacts",
    "remove_from_list",
    "rows_to_retry",
    "sandbox",
    "schemas",
    "settle_unknown",
    "summary",
    "trigger_workflow",
    "unsubscribe",
    "upsert_contacts",
    "upsert_transactions",
]

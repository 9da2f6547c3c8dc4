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

from qxframe import schemas
from qxframe._results import rows_to_retry, summary
from qxframe._sandbox import Sandbox, sandbox
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
    TransportError,
)

__version__ = "0.1.0"

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
    "TransportError",
    "adelete_contacts",
    "aremove_from_list",
    "atrigger_workflow",
    "aunsubscribe",
    "aupsert_contacts",
    "aupsert_transactions",
    "delete_contacts",
    "remove_from_list",
    "rows_to_retry",
    "sandbox",
    "schemas",
    "summary",
    "trigger_workflow",
    "unsubscribe",
    "upsert_contacts",
    "upsert_transactions",
]

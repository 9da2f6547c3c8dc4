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
from qxframe._plan import aplan_contacts, plan_contacts, settle_unknown
from qxframe._read import aread_contacts, read_contacts
from qxframe._results import rows_to_retry, summary
from qxframe._sandbox import Sandbox, sandbox
from qxframe.actions._public import (
    atrigger_workflow,
    aupsert_contacts,
    aupsert_transactions,
    trigger_workflow,
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
    "aplan_contacts",
    "aread_contacts",
    "atrigger_workflow",
    "aupsert_contacts",
    "aupsert_transactions",
    "plan_contacts",
    "read_contacts",
    "rows_to_retry",
    "sandbox",
    "schemas",
    "settle_unknown",
    "summary",
    "trigger_workflow",
    "upsert_contacts",
    "upsert_transactions",
]

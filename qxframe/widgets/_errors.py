"""One sentence for whatever a panel's call raised, and what to do: never a traceback.

:func:`error_sentence` is written once for both places a panel reports an error:
connecting (the connect panel: a whoami check, the directory and list reads) and
pushing (the preview's Push: then the sentence starts with what was sent, and the advice
ends in pressing Push again). :func:`describe_error` and :func:`failure_text` are its two
uses. Messages come from qxframe's errors (which never carry the token) and are scrubbed
of it anyway (:func:`scrub`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from qxframe._skins import Status
from qxframe.exceptions import AuthError, ConfigError, QxError, TransportError

#: Where a token is found in Qualtrics, for the sentences that ask for another one.
TOKEN_HOME = "Account settings → Qualtrics IDs"


def error_sentence(
    exc: BaseException, where: str, *, pushing: bool, secret: str | None = None
) -> str:
    """Why a call to ``where`` failed and what to do, in one sentence.

    ``pushing``: the call was a push; the sentence then says how many rows it had sent
    (``exc.sent``, else the rows of ``exc.results`` that went out) and ends in what to do
    before pressing Push again.
    """
    then = ", then press Push again" if pushing else ""
    if isinstance(exc, KeyboardInterrupt):
        text = "it was cancelled. Press Push to send the rest (rows already sent are skipped)"
    elif isinstance(exc, AuthError) and exc.http_status == 403:
        text = (
            f"{where} accepted the token but refused access (403): the account needs API "
            f"access and permission to use XM Directory; ask your Brand Administrator{then}"
        )
    elif isinstance(exc, AuthError):
        text = f"{where} refused the token ({exc.http_status or 401}): " + (
            f"connect again with a valid token ({TOKEN_HOME}){then}"
            if pushing
            else f"check that you pasted the whole token ({TOKEN_HOME}) and that it "
            "belongs to this datacenter"
        )
    elif isinstance(exc, TransportError):
        text = (
            f"could not reach {where}: check the network{then}"
            if pushing
            else f"could not reach {where}: check the datacenter (the part before "
            "'.qualtrics.com' in your Qualtrics address) or base URL, and your network"
        )
    elif isinstance(exc, ConfigError):
        text = exc.message.rstrip(".")
    elif isinstance(exc, QxError):
        text = f"{where} answered with an error: {exc.message.rstrip('.')}"
    else:
        doing = "the push" if pushing else f"connecting to {where}"
        text = f"{doing} failed unexpectedly ({type(exc).__name__}: {exc})"
        if pushing:
            text += "; run the same push in code to see the details"
    if pushing:
        sent = getattr(exc, "sent", None) or rows_sent(getattr(exc, "results", None))
        head = f"The push stopped after sending {sent:,} rows" if sent else "Nothing was pushed"
        text = f"{head}: {text}"
    return scrub(text[:1].upper() + text[1:] + ".", secret)


def describe_error(exc: BaseException, where: str, secret: str | None = None) -> str:
    """One sentence saying why connecting to ``where`` failed and what to do."""
    return error_sentence(exc, where, pushing=False, secret=secret)


def failure_text(exc: BaseException, where: str, secret: str | None = None) -> str:
    """One sentence for what stopped a push, and what to do."""
    return error_sentence(exc, where, pushing=True, secret=secret)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by asterisks."""
    return text.replace(secret, "********") if secret else text


def rows_sent(results: Any) -> int:
    """How many rows of a push's (partial) results went out (``success`` or ``failed``)."""
    if not isinstance(results, pl.DataFrame) or "status" not in results.columns:
        return 0
    return results.filter(pl.col("status").is_in([Status.SUCCESS, Status.FAILED])).height

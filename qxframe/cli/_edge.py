"""The edge of the command: where the environment comes in and errors go out.

:func:`client` makes the client from the QUALTRICS_* variables (every subcommand that
talks to Qualtrics looks it up here, as ``_edge.client``, so that tests can replace it in
one place); :func:`at_edge` runs a subcommand's work and turns qxframe's errors into a
message on stderr and an exit status (0 ok, 1 some rows failed or an error after
sending, 2 usage, configuration or authentication errors, 130 interrupted). Errors are
converted to messages and exit codes here and nowhere else.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from qxframe.cli._output import in_cli_words


def at_edge(work: Any) -> int:
    """Run ``work``; turn qxframe's errors into a message on stderr (in the command's
    words, :func:`~qxframe.cli._output.in_cli_words`) and an exit status."""
    from qxframe.exceptions import AuthError, ConfigError, QxError

    try:
        return int(work())
    except (ConfigError, AuthError) as exc:
        _error(str(exc))
        return 1 if getattr(exc, "sent", 0) else 2  # raised after sending: exit 1
    except (QxError, OSError, sqlite3.Error) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt as exc:
        sent = getattr(exc, "sent", None)
        if sent is None:  # not a push's (PushInterrupted carries what it had sent)
            _error("interrupted.")
            return 130
        _error(
            f"interrupted; nothing more was sent ({sent} row(s) had been sent; the summary "
            "says what was done, and --out, if given, has every row read so far). With "
            "--journal, run the same command again to resume."
        )
        return 130


def _error(message: str) -> None:
    print(f"qxframe: {in_cli_words(message)}", file=sys.stderr)


def client(dry_run: bool) -> Any:
    """A client from the QUALTRICS_* variables (an API token and/or an OAuth client); a dry
    run without credentials needs none.

    Their values are stripped: one read from a file often ends with a newline, which no
    token, datacenter or URL has (and which an error message would not show).
    """
    import os

    from qxframe import Client

    env = {k: v.strip() for k, v in os.environ.items() if k.startswith("QUALTRICS_")}
    credentials = ("QUALTRICS_API_TOKEN", "QUALTRICS_CLIENT_ID", "QUALTRICS_CLIENT_SECRET")
    if dry_run and not any(env.get(name) for name in credentials):
        return None
    return Client.from_env(env)


def config_error(message: str) -> Exception:
    from qxframe.exceptions import ConfigError

    return ConfigError(message)

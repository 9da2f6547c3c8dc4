"""Small immutable settings: where the client talks to, its limits, and the secret token.

Nothing here does I/O. ``Secret`` keeps the API token out of every ``repr``/``str``;
``endpoint_base`` turns a datacenter or a ``base_url`` into the origin requests go to;
``resolve_rate_limits`` merges a user's per-family limits over the defaults; ``positive``
checks a count setting (``concurrency``, ``batch_size``, …).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from qxframe.delivery._urls import is_loopback_host, origin_of
from qxframe.exceptions import ConfigError

#: Endpoint families, each under its own rate limit.
FAMILIES: Final = ("contacts", "search", "transactions", "workflows", "reads", "imports")
#: The brand-wide budget every request also spends, whatever its family.
BRAND: Final = "brand"

#: Requests per minute per family (docs/qualtrics-api.md §11: writes and search 500/min, JSON-event
#: triggers 3,000/min, reads 3,000/min, import-job creates 100/min; all but the trigger
#: limit are inferred; docs/qualtrics-api.md §11).
DEFAULT_RATE_LIMITS: Final[Mapping[str, float]] = {
    "contacts": 500,
    "search": 500,
    "transactions": 500,
    "workflows": 3000,
    "reads": 3000,
    "imports": 100,
    # about 3,000 requests a minute across all calls of a brand (a vendor's connector
    # documentation, not first-party; docs/qualtrics-api.md §11)
    BRAND: 3000,
}

DEFAULT_DATACENTER: Final = "iad1"
_DATACENTER = re.compile(r"[A-Za-z0-9-]+")


def check_token(token: str, name: str = "api_token") -> str:
    """``token`` if it can go in an HTTP header as is (printable ASCII, no space); else
    ``ConfigError`` saying where the first bad character is, never what the token is.

    >>> check_token("abc123")
    'abc123'
    """
    for position, char in enumerate(token, start=1):
        if not "!" <= char <= "~":
            what = (
                "a line break"
                if char in "\r\n"
                else "a space"
                if char.isspace()
                else ("a character a token cannot have")
            )
            raise ConfigError(
                f"{name} has {what} at character {position}; copy it again from "
                "Qualtrics (Account settings → Qualtrics IDs), as one line."
            )
    return token


class Secret:
    """Holds a secret string; shows only asterisks when printed, logged or inspected."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it (a request header)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled; pass the token again where it is needed")


def check_datacenter(datacenter: str) -> str:
    """Return ``datacenter`` when it is a bare datacenter id (``iad1``, ``fra1``, ``ca1``).

    >>> check_datacenter("fra1")
    'fra1'
    """
    if not isinstance(datacenter, str) or not _DATACENTER.fullmatch(datacenter):
        raise ConfigError(
            f"Invalid datacenter ID {datacenter!r}: it must contain only letters, digits and "
            "hyphens (like 'iad1'). For any other host, pass base_url= instead."
        )
    return datacenter


def check_base_url(base_url: str) -> str:
    """Return the origin of ``base_url`` (``scheme://host[:port]``), without a trailing slash.

    Plain ``http://`` only on a loopback host (docs/architecture.md, "Where the token may go").

    >>> check_base_url("http://127.0.0.1:8765/")
    'http://127.0.0.1:8765'
    """
    if isinstance(base_url, str) and any(c.isspace() or not c.isprintable() for c in base_url):
        raise ConfigError(
            f"Invalid base_url {base_url!r}: it contains whitespace or a control character "
            "(a trailing newline from a file or an environment variable?); remove it."
        )
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Invalid base_url {base_url!r}: give an absolute http(s) URL such as "
            "'https://iad1.qualtrics.com' or 'http://127.0.0.1:8765'."
        )
    if parts.username or parts.password:
        raise ConfigError("Invalid base_url: it must not carry a user name or password.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"Invalid base_url {base_url!r}: plain http:// would send the API token over the "
            "network unencrypted. Use https://; plain http:// is allowed only on this machine "
            "(127.0.0.1, ::1 or localhost), where the sandbox runs."
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"Invalid base_url {base_url!r}: give the origin only (no path), "
            "e.g. 'https://acme.iad1.qualtrics.com'."
        )
    return origin_of(base_url)


def endpoint_base(datacenter: str, base_url: str | None) -> str:
    """The origin requests go to: ``base_url`` if given, else ``https://{datacenter}.qualtrics.com``."""
    if base_url is not None:
        return check_base_url(base_url)
    return f"https://{check_datacenter(datacenter)}.qualtrics.com"


def positive(name: str, value: int) -> int:
    """Return ``value`` when it is an ``int`` of at least 1, else raise ``ConfigError``.

    >>> positive("batch_size", 100)
    100
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}.")
    return value


def resolve_rate_limits(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """Merge per-minute limits given by the user over :data:`DEFAULT_RATE_LIMITS`."""
    limits = dict(DEFAULT_RATE_LIMITS)
    for family, per_minute in (overrides or {}).items():
        if family not in DEFAULT_RATE_LIMITS:
            raise ConfigError(
                f"Unknown rate-limit family {family!r}; use one of {', '.join(FAMILIES)}, "
                f"or {BRAND!r} for the budget of all of them together."
            )
        if (
            isinstance(per_minute, bool)
            or not isinstance(per_minute, int | float)
            or per_minute <= 0
        ):
            raise ConfigError(
                f"Rate limit for {family!r} must be a positive number of requests per minute, "
                f"not {per_minute!r}."
            )
        limits[family] = float(per_minute)
    return limits


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them.

    ``backoff`` is the first wait (seconds) when the server gives no ``Retry-After``;
    each further attempt doubles it, up to ``max_backoff``, with jitter.
    """

    max_attempts: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("RetryPolicy.max_attempts must be at least 1.")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError("RetryPolicy waits must not be negative.")

"""Where the API token may go, and how a URL is shown to people.

The API token is sent with every workflow trigger, so a workflow URL must be ``https`` on
``qualtrics.com`` or a subdomain of it, or exactly the origin (scheme, host, port) of the
client's own ``base_url`` (the sandbox, say). Hosts are compared after parsing, never by
substring, and a URL carrying userinfo (``user@host``) is refused outright. Plain
``http://`` is allowed only on a loopback host (``127.0.0.0/8``, ``::1``, ``localhost``),
where the sandbox runs: anywhere else the token would cross the network unencrypted
(docs/architecture.md, "Where the token may go").

>>> is_allowed_workflow_url("https://iad1.qualtrics.com/inbound-event/v1/x", None)
True
>>> is_allowed_workflow_url("https://x.qualtrics.com@evil.example/", None)
False
>>> is_allowed_workflow_url("http://127.0.0.1:8765/hook", "http://127.0.0.1:8765")
True
>>> is_allowed_workflow_url("http://iad1.qualtrics.com/hook", "http://iad1.qualtrics.com")
False
>>> redact("https://iad1.qualtrics.com/t?urlTokenId=abc&force_isolation=true")
'https://iad1.qualtrics.com/t?urlTokenId=***&force_isolation=true'
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from qxframe.exceptions import ConfigError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")
_SECRET_PARAM = re.compile(r"token|key|secret|passw|pwd|sig|auth|credential|session", re.I)


def _split(url: object) -> SplitResult | None:
    """Parse ``url``; ``None`` when it is not a clean absolute URL without userinfo."""
    if not isinstance(url, str) or not url:
        return None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or "@" in parts.netloc:
        return None
    return parts


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (default ports left out); ``ConfigError`` if none.

    >>> origin_of("HTTP://127.0.0.1:8765/API/v3/")
    'http://127.0.0.1:8765'
    """
    parts = _split(url)
    if parts is None:
        raise ConfigError(
            f"{redact(url)!r} is not an absolute URL; give one like https://iad1.qualtrics.com"
        )
    scheme, host, port = _origin(parts)
    shown = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        shown += f":{port}"
    return f"{scheme}://{shown}"


def is_qualtrics_host(host: str) -> bool:
    """True for ``qualtrics.com`` and its subdomains (a lower-case, parsed host)."""
    return bool(_HOST.fullmatch(host)) and (
        host == "qualtrics.com" or host.endswith(".qualtrics.com")
    )


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``).

    >>> [is_loopback_host(h) for h in ("127.0.0.9", "::1", "LOCALHOST", "10.0.0.1")]
    [True, True, True, False]
    """
    host = host.lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_private_channel(url: str) -> bool:
    """True when a request to ``url`` cannot show the token to the network: ``https``, or
    plain ``http`` to a loopback host.

    >>> is_private_channel("http://localhost:8765"), is_private_channel("http://iad1.qualtrics.com")
    (True, False)
    """
    parts = _split(url)
    if parts is None:
        return False
    scheme = parts.scheme.lower()
    return scheme == "https" or (scheme == "http" and is_loopback_host(parts.hostname or ""))


def is_allowed_workflow_url(url: str, allowed_origin: str | None) -> bool:
    """True when the token may be sent to ``url`` (see the module docstring)."""
    parts = _split(url)
    if parts is None:
        return False
    if parts.scheme.lower() == "https" and is_qualtrics_host((parts.hostname or "").lower()):
        return True
    if allowed_origin is None or not is_private_channel(url):
        return False
    allowed = _split(allowed_origin)
    return allowed is not None and _origin(parts) == _origin(allowed)


def redact(url: object) -> str:
    """``url`` for display: token-like query values and any password shown as ``***``."""
    if not isinstance(url, str):
        return repr(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    query = urlencode(
        [
            (k, "***" if _SECRET_PARAM.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

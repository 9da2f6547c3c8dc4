"""Bounds on one HTTP attempt: how many bytes its answer may hold, and how long it may take.

A server (or a proxy in front of it) can answer with more than any client should hold: a
250 KB gzip body that inflates to a gigabyte, a body that never ends, headers or a body
trickled a byte a second so that no single read ever times out. So every attempt:

- reads its answer through :func:`read_bounded`: the body is decompressed here (gzip and
  deflate, the encodings the client asks for), a slice at a time, and refused with
  :class:`UnreadableAnswer` once it holds more than ``limit`` bytes — a too-large answer
  costs at most ``limit`` plus one slice of memory, whatever its compression ratio;
- ends by :func:`attempt_deadline`: the client's ``connect`` plus ``read`` timeout,
  whatever the server trickles (httpx's own timeouts bound each read, not the answer).

:data:`MAX_RESPONSE_BYTES` (32 MiB, decompressed) is well above the largest answers qxframe
reads from Qualtrics: a search page holds at most 100 contacts; at Qualtrics' embedded-data
limits (a 200-character key, a 1,024-character value) a contact with 200 fields is about
250 KB, so a page is about 25 MB; an import report page of 10,000 entries (one job's most)
is about 5 MB; list pages hold at most 100 short elements.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

MAX_RESPONSE_BYTES = 32 * 2**20
ACCEPT_ENCODING = "gzip, deflate"  # what the client asks for, and all it will decode
SLICE = 64 * 1024  # bytes decompressed at a time
_FRAMING = ("content-encoding", "content-length", "transfer-encoding")


class UnreadableAnswer(Exception):
    """Internal: the answer was too large or could not be decoded (the message says which)."""


def attempt_deadline(timeouts: Mapping[str, Any] | None) -> float | None:
    """Seconds one attempt may take in all: ``connect`` + ``read`` of the request's timeout
    (httpx puts it in ``request.extensions["timeout"]``); None when either is unbounded.

    >>> attempt_deadline({"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0})
    6.0
    >>> attempt_deadline({"connect": None, "read": 3.0}) is None
    True
    """
    connect = (timeouts or {}).get("connect")
    read = (timeouts or {}).get("read")
    if connect is None or read is None:
        return None
    return float(connect) + float(read)


async def read_bounded(
    response: httpx.Response, request: httpx.Request, limit: int
) -> httpx.Response:
    """``response`` read whole and decompressed, as a new response without framing headers;
    :class:`UnreadableAnswer` once it would hold more than ``limit`` bytes or cannot be
    decoded. The original response is closed either way."""
    host = request.url.host
    try:
        held = response.content  # an in-process transport answers with the body read
    except httpx.ResponseNotRead:
        pass
    else:
        if len(held) > limit:
            raise UnreadableAnswer(_too_large(host, limit))
        return response
    try:
        declared = response.headers.get("Content-Length", "")
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if declared.isdigit() and encoding == "identity" and int(declared) > limit:
            raise UnreadableAnswer(_too_large(host, limit))
        decode = _decoder(encoding, host)
        parts: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            for piece in decode(raw):
                size += len(piece)
                if size > limit:
                    raise UnreadableAnswer(_too_large(host, limit))
                parts.append(piece)
    finally:
        await response.aclose()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _FRAMING]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(parts),
        request=request,
        extensions=response.extensions,
    )


def _too_large(host: str, limit: int) -> str:
    return (
        f"The answer from {host} was larger than {limit:,} bytes (decompressed), far larger "
        "than any Qualtrics answer; it was not read. Check base_url: something other than "
        "Qualtrics (a proxy, a gateway) may be answering."
    )


def _decoder(encoding: str, host: str) -> Callable[[bytes], Iterator[bytes]]:
    if encoding in ("identity", ""):
        return lambda raw: iter((raw,))
    if encoding == "gzip":
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflate = _Deflate()  # type: ignore[assignment]
    else:
        raise UnreadableAnswer(
            f"The answer from {host} was encoded as {encoding!r}, which qxframe did not ask "
            f"for ({ACCEPT_ENCODING}) and cannot read."
        )

    def decode(raw: bytes) -> Iterator[bytes]:
        data = raw
        while data:
            try:
                piece = inflate.decompress(data, SLICE)
            except zlib.error as exc:
                raise UnreadableAnswer(
                    f"The answer from {host} is not valid {encoding} ({exc}); it was not read."
                ) from exc
            yield piece
            data = inflate.unconsumed_tail
            if inflate.eof:
                return

    return decode


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped, or raw (the first bytes decide)."""

    def __init__(self) -> None:
        self._inflate: Any = None
        self.unconsumed_tail = b""
        self.eof = False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inflate is None:
            zlib_wrapped = len(data) >= 2 and (data[0] * 256 + data[1]) % 31 == 0
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        piece: bytes = self._inflate.decompress(data, max_length)
        self.unconsumed_tail, self.eof = self._inflate.unconsumed_tail, self._inflate.eof
        return piece

"""A hostile server for the tests: a loopback proxy in front of a sandbox that lies.

:class:`HostileProxy` listens on 127.0.0.1 and passes each request to an upstream server
(a started sandbox), then answers with what a rule says instead of, or made from, the
upstream's answer: an HTML gateway page on a 200, truncated JSON, wrong types, a huge or
gzip-bomb body, a body or headers that trickle a byte at a time, an absurd
``Retry-After``, a page token that repeats. ``forward=False`` answers without asking the
upstream (nothing is stored); otherwise the upstream has done the work (a create landed)
and only its answer is replaced.

Every answer closes its connection, so a client never reads one lie as the start of the
next answer. The proxy speaks just enough HTTP/1.1 for httpx: a request line, headers and
a ``Content-Length`` body.

    with HostileProxy(sb.base_url) as proxy:
        proxy.on("POST", "/contacts", html())          # every contact create
        client = qx.Client(api_token=sb.api_token, base_url=proxy.url)
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "content-encoding", "host"}


@dataclass(frozen=True)
class Answer:
    """What the proxy sends back. ``byte_delay`` trickles the body one byte at a time,
    ``head_delay`` the status line and headers; ``length`` overrides ``Content-Length``."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    byte_delay: float = 0.0
    head_delay: float = 0.0
    length: int | None = None


@dataclass(frozen=True)
class Seen:
    """A request as the proxy saw it, and the upstream's answer when it was forwarded."""

    method: str
    path: str  # with the query string
    body: bytes
    upstream: Answer | None = None

    def json(self) -> Any:
        assert self.upstream is not None, "this rule did not forward the request"
        return json.loads(self.upstream.body)


Rewrite = Answer | Callable[[Seen], Answer]


@dataclass
class Rule:
    method: str
    path: str
    rewrite: Rewrite
    forward: bool
    times: int | None  # None: every matching request


# -- answers ---------------------------------------------------------------------------


def json_answer(value: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(
        status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
    )


def envelope(result: Any, status: int = 200) -> Answer:
    """A success envelope whose ``result`` is ``result`` (any type: a lie about shapes)."""
    return json_answer(
        {"result": result, "meta": {"httpStatus": f"{status} - OK", "requestId": "hostile"}}, status
    )


def html(status: int = 200) -> Answer:
    """A gateway's error page, answered with ``status``."""
    page = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    return Answer(status, page, {"Content-Type": "text/html"})


def truncated(seen: Seen) -> Answer:
    """The upstream's answer cut in the middle of its JSON."""
    assert seen.upstream is not None
    return replace(seen.upstream, body=seen.upstream.body[: max(1, len(seen.upstream.body) // 2)])


def gzip_bomb(inflated: int) -> Answer:
    """A small gzip body that inflates to ``inflated`` bytes of JSON-looking text."""
    chunk = b" " * (1 << 20)
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts, left = [out.compress(b'{"result": "')], inflated
    while left > 0:
        parts.append(out.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    parts.append(out.flush())
    return Answer(
        200, b"".join(parts), {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )


def gzipped(answer: Answer) -> Answer:
    return replace(
        answer,
        body=gzip.compress(answer.body),
        headers={**answer.headers, "Content-Encoding": "gzip"},
    )


def trickle(answer: Answer, byte_delay: float = 0.0, head_delay: float = 0.0) -> Answer:
    return replace(answer, byte_delay=byte_delay, head_delay=head_delay)


# -- the proxy -------------------------------------------------------------------------


class HostileProxy:
    """A loopback HTTP proxy in front of ``upstream`` whose rules rewrite answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []  # each request and what the upstream answered it
        self.arrived: list[tuple[str, str]] = []  # (method, path) of each request, once read
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    def on(
        self,
        method: str,
        path: str,
        rewrite: Rewrite,
        *,
        forward: bool = True,
        times: int | None = None,
    ) -> HostileProxy:
        """Answer requests whose method is ``method`` and whose path contains ``path``
        with ``rewrite`` (the latest rule added wins), ``times`` times or always."""
        with self._lock:
            self.rules.insert(0, Rule(method.upper(), path, rewrite, forward, times))
        return self

    def count(self, method: str, path: str) -> int:
        """How many requests like these reached the proxy (counted when read, before any
        answer: a client that gave up on one while it was forwarded still sent it)."""
        with self._lock:
            arrived = list(self.arrived)
        return sum(m == method and path in p for m, p in arrived)

    def start(self) -> HostileProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.url = started.result(10)
        return self

    def stop(self) -> None:
        async def shut() -> None:
            for task in list(self._tasks):
                task.cancel()
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> HostileProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> str:
        self._upstream = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            seen = await self._read(reader)
            with self._lock:
                self.arrived.append((seen[0], seen[1]))
            answer = await self._answer(seen)
            await self._write(writer, answer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip()] = value.strip()
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
        body = await reader.readexactly(length) if length else b""
        return method, path, headers, body

    async def _answer(self, request: tuple[str, str, dict[str, str], bytes]) -> Answer:
        method, path, headers, body = request
        rule = self._rule(method, path)
        upstream = None
        if rule is None or rule.forward:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
            sent["Accept-Encoding"] = "identity"
            got = await self._upstream.request(method, path, headers=sent, content=body)
            kept = {k: v for k, v in got.headers.items() if k.lower() not in HOP_HEADERS}
            content = got.content.replace(self.upstream.encode(), self.url.encode())
            upstream = Answer(got.status_code, content, kept)
        seen = Seen(method, path, body, upstream)
        with self._lock:
            self.seen.append(seen)
        if rule is None:
            assert upstream is not None
            return upstream
        try:
            return rule.rewrite(seen) if callable(rule.rewrite) else rule.rewrite
        except Exception as exc:  # a broken rule shows in the test, not only in a log
            return Answer(599, f"hostile rule failed: {exc!r}".encode())

    def _rule(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and rule.path in path.split("?")[0]:
                    if rule.times is not None:
                        if rule.times == 0:
                            continue
                        rule.times -= 1
                    return rule
        return None

    async def _write(self, writer: asyncio.StreamWriter, answer: Answer) -> None:
        length = len(answer.body) if answer.length is None else answer.length
        lines = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}"]
        lines += [f"{k}: {v}" for k, v in answer.headers.items()]
        lines += [f"Content-Length: {length}", "Connection: close", "", ""]
        await _send(writer, "\r\n".join(lines).encode("latin-1"), answer.head_delay)
        await _send(writer, answer.body, answer.byte_delay)


async def _send(writer: asyncio.StreamWriter, data: bytes, delay: float) -> None:
    if not delay:
        writer.write(data)
        await writer.drain()
        return
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(delay)


def _reason(status: int) -> str:
    try:
        return httpx.codes(status).phrase
    except ValueError:
        return "Whatever"

"""The sandbox in a process of its own, so it shares neither CPU time nor a GIL with the
client being measured.

:class:`RemoteSandbox` starts ``qx.sandbox(**knobs)`` in a spawned child process and
talks to it over a pipe. It has the attributes and frames the benchmarks read from a
local sandbox (``base_url``, ``api_token``, the ids, ``reset()``, ``requests()``,
``contacts()``, ``transactions()``), plus ``cpu_seconds()``: the child's CPU so far.
Frames cross the pipe as Arrow IPC bytes.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from typing import Any

import polars as pl

import qxframe as qx

_IDS = ("base_url", "api_token", "directory_id", "plain_directory_id", "mailing_list_id")
#: Embedded data of each seeded member (``seed_members``): a string and a number.
SEEDED_EMBEDDED = ("plan", "score")
_FRAMES = ("requests", "contacts", "transactions")
START_TIMEOUT = 60.0


def _serve(conn: Connection, knobs: dict[str, Any]) -> None:
    with qx.sandbox(**knobs) as sb:
        conn.send({name: getattr(sb, name) for name in _IDS})
        while True:
            command = conn.recv()
            if command == "stop":
                break
            if command == "reset":
                sb.reset()
                conn.send(None)
            elif command == "cpu":
                conn.send(time.process_time())
            elif isinstance(command, tuple) and command[0] == "seed_members":
                conn.send(_seed_members(sb, command[1]))
            elif command in _FRAMES:
                buffer = io.BytesIO()
                getattr(sb, command)().write_ipc(buffer)
                conn.send(buffer.getvalue())


def _seed_members(sb: Any, count: int) -> int:
    """``count`` members of ``sb.mailing_list_id`` put straight into the store (no HTTP)."""
    store = sb._store
    for n in range(count):
        body = {
            "extRef": f"M{n:07d}",
            "email": f"member{n}@example.com",
            "firstName": "Ann",
            "embeddedData": {"plan": ("free", "pro", "team")[n % 3], "score": n % 1000},
        }
        store.upsert_contact(sb.directory_id, body, mailing_list_id=sb.mailing_list_id)
    return count


class RemoteSandbox:
    """``qx.sandbox(**knobs)`` served by a child process for the length of a ``with`` block."""

    def __init__(self, **knobs: Any) -> None:
        self._knobs = knobs
        self._conn: Connection | None = None
        self._process: Any = None
        self.base_url = self.api_token = self.directory_id = ""
        self.plain_directory_id = self.mailing_list_id = ""

    def __enter__(self) -> RemoteSandbox:
        context = mp.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._knobs), daemon=True)
        self._process.start()
        if not self._conn.poll(START_TIMEOUT):
            self.__exit__()
            raise RuntimeError("the sandbox process did not start")
        for name, value in self._conn.recv().items():
            setattr(self, name, value)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send("stop")
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()

    def _ask(self, command: str) -> Any:
        assert self._conn is not None, "use RemoteSandbox in a with block"
        self._conn.send(command)
        return self._conn.recv()

    def client(self, **kwargs: Any) -> qx.Client:
        """A client for this sandbox; every limit lifted unless ``rate_limits`` is given."""
        from bench._common import LIFTED

        kwargs.setdefault("rate_limits", LIFTED)
        return qx.Client(api_token=self.api_token, base_url=self.base_url, **kwargs)

    def reset(self) -> None:
        self._ask("reset")

    def cpu_seconds(self) -> float:
        return float(self._ask("cpu"))

    def seed_members(self, count: int) -> int:
        """Put ``count`` members in ``mailing_list_id`` (ext_ref, e-mail, first name, two
        embedded-data fields), straight into the store: no request is logged."""
        return int(self._ask(("seed_members", count)))

    def _frame(self, name: str) -> pl.DataFrame:
        return pl.read_ipc(io.BytesIO(self._ask(name)))

    def requests(self) -> pl.DataFrame:
        return self._frame("requests")

    def contacts(self) -> pl.DataFrame:
        return self._frame("contacts")

    def transactions(self) -> pl.DataFrame:
        return self._frame("transactions")

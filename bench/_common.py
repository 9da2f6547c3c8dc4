"""What every benchmark shares: sizes, result types, the machine, data generators, timers."""

from __future__ import annotations

import functools
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from qxframe.delivery._config import BRAND, FAMILIES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

#: Per-minute limits high enough never to bind: "client limits lifted".
LIFTED = dict.fromkeys((*FAMILIES, BRAND), 1_000_000)
#: The five embedded-data columns of the generated contacts (str, int, float, bool, str).
EMBEDDED = ["plan", "score", "ratio", "active", "city"]
POOL = "POOL_bench"


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs. :data:`FULL` is the one BENCHMARKS.md reports."""

    name: str
    raw_requests: int = 3000  # sandbox alone
    a_rows: int = 2000
    a_latency: float = 0.05
    a_concurrency: int = 16
    a_loop_rows: int = 2000  # rows the sequential loop posts (all of them in FULL)
    a_repeats: int = 3
    b_limit: int = 600  # requests a minute per family, sandbox and client
    b_seconds: float = 30.0  # each push: enough rows for this long at the limit
    b_latencies: tuple[float, ...] = (0.3, 1.0)  # seconds the sandbox takes per answer
    b_repeats: int = 3
    c_people: int = 2000
    c_per_person: int = 5
    c_latency: float = 0.005
    c_concurrency: int = 16
    c_repeats: int = 3
    h_rows: int = 1_000_000
    h_repeats: int = 2
    d_rows: int = 1_000_000
    d_repeats: int = 3
    e_rows: tuple[int, int] = (1_000_000, 4_000_000)
    r_members: int = 20_000  # list members read back, and rows planned
    r_latency: float = 0.3  # seconds the sandbox takes per answer
    i_rows: int = 10
    i_repeats: int = 15
    w_people: int = 20_000  # the weekly re-push (figure w)
    w_memory_people: tuple[int, int] = (20_000, 1_000_000)  # its peak memory, small and large
    time_limit: float = 420.0  # seconds any one measurement may run before it is cut short


FULL = Sizes("full")
QUICK = replace(
    FULL,
    name="quick",
    raw_requests=1000,
    a_loop_rows=300,
    a_repeats=1,
    b_seconds=15.0,
    b_latencies=(0.3,),
    b_repeats=1,
    c_people=500,
    c_repeats=1,
    h_rows=200_000,
    h_repeats=1,
    d_rows=200_000,
    d_repeats=1,
    e_rows=(250_000, 1_000_000),
    r_members=2_000,
    i_repeats=5,
    w_people=5_000,
    w_memory_people=(5_000, 100_000),
)
SMOKE = replace(
    FULL,
    name="smoke",
    raw_requests=40,
    a_rows=40,
    a_latency=0.01,
    a_loop_rows=10,
    a_repeats=1,
    b_limit=1200,
    b_seconds=1.5,
    b_latencies=(0.01,),
    b_repeats=1,
    c_people=10,
    c_per_person=2,
    c_latency=0.0,
    c_repeats=1,
    h_rows=500,
    h_repeats=1,
    d_rows=2000,
    d_repeats=1,
    e_rows=(2000, 4000),
    r_members=120,
    r_latency=0.01,
    i_repeats=1,
    w_people=200,
    w_memory_people=(200, 600),
    time_limit=60.0,
)


@dataclass
class Row:
    """One line of a figure's table; ``met`` is None for lines without a target."""

    label: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Figure:
    key: str
    title: str
    setup: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def check(self, label: str, value: float, fmt: str, target: float, at_most: bool) -> bool:
        """Add a row for ``value`` against ``target`` (``≤`` if ``at_most`` else ``≥``)."""
        met = value <= target if at_most else value >= target
        sign = "≤" if at_most else "≥"
        self.rows.append(Row(label, fmt.format(value), f"{sign} {fmt.format(target)}", met))
        return met

    def info(self, label: str, value: str) -> None:
        self.rows.append(Row(label, value))


def timed(run: Callable[[Sizes], Figure]) -> Callable[[Sizes], Figure]:
    """Record how long a benchmark took, setup and baselines included."""

    @functools.wraps(run)
    def wrapper(sizes: Sizes) -> Figure:
        started, load = time.perf_counter(), _load()
        figure = run(sizes)
        figure.seconds = time.perf_counter() - started
        figure.info("load average (1 / 5 / 15 min), before → after", f"{load} → {_load()}")
        return figure

    return wrapper


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """``"median (min – max, n runs)"``: what a repeated figure reports."""
    low, mid, high = (fmt.format(v) for v in (min(values), median(values), max(values)))
    return f"{mid} (min {low}, max {high}; {len(values)} runs)"


def runs(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    """``"a, b, c"``: every repeat, so the spread is visible next to the median."""
    return ", ".join(fmt.format(v) for v in values)


class Deadline:
    """A time bound for a loop: ``if deadline.passed(): break``."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self.end


# -- warming up ---------------------------------------------------------------------------


@functools.cache
def warm_up() -> float:
    """Seconds the first dry runs in this process took (pandera import, schema build).

    Called before timed pushes so a one-time cost does not count as throughput; the
    figure is reported on its own by benchmark d.
    """
    import qxframe as qx

    started = time.perf_counter()
    frame = contacts(10)
    qx.upsert_contacts(frame, directory_id=POOL, dry_run=True, progress=False)
    tx = transactions(2, 2)
    qx.upsert_transactions(
        tx, directory_id=POOL, mailing_list_id="CG_bench", dry_run=True, progress=False
    )
    return time.perf_counter() - started


# -- generated data ------------------------------------------------------------------------


def _pick(values: Sequence[str | None], step: int = 1) -> pl.Expr:
    index = (pl.col("i") // step) % len(values)
    return index.replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def contacts(n: int, *, offset: int = 0, bad_email_every: int = 0) -> pl.DataFrame:
    """``n`` deterministic contacts: ids, names (some non-ASCII) and five embedded columns.

    Every e-mail is distinct; with ``bad_email_every=k`` one row in ``k`` carries a
    malformed e-mail (``invalid`` in a push) and another one in ``k`` none at all.
    """
    i = pl.col("i")
    email = pl.format("person{}@example.com", i)
    if bad_email_every:
        email = (
            pl.when(i % bad_email_every == 1)
            .then(pl.format("person{} at example.com", i))
            .when(i % bad_email_every == 2)
            .then(pl.lit(None, pl.String))
            .otherwise(email)
        )
    return pl.select(pl.int_range(offset, offset + n, dtype=pl.Int64).alias("i")).select(
        ext_ref=pl.format("X{}", i.cast(pl.String).str.zfill(9)),
        email=email,
        first_name=_pick(["Ann", "Bob", "Zoë", "李", "O'Brien"]),
        last_name=_pick(["Smith", "Müller", "Nguyen", "García"], step=5),
        plan=_pick(["free", "pro", "team"], step=3),
        score=(i * 7919) % 1000,
        ratio=((i * 2_654_435_761) % 1_000_003) / 1_000_003,
        active=i % 2 == 0,
        city=_pick(["Paris", "Zürich", None, "Oslo", "Lagos"], step=7),
    )


def transactions(people: int, per_person: int, *, seed: int = 7) -> pl.DataFrame:
    """``per_person`` transactions for each of ``people`` new people, rows shuffled."""
    i, p = pl.col("i"), pl.col("p")
    frame = pl.select(pl.int_range(0, people * per_person, dtype=pl.Int64).alias("i"))
    frame = frame.with_columns(p=i // per_person).select(
        ext_ref=pl.format("P{}", p.cast(pl.String).str.zfill(7)),
        email=pl.format("buyer{}@example.com", p),
        first_name=_pick(["Ann", "Bob", "Zoë", "李"]),
        order_id=pl.format("O{}", i),
        amount=((i * 7919) % 100_000) / 100,
        transaction_date=pl.lit("2026-03-04T05:06:07Z"),
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


# -- measuring -----------------------------------------------------------------------------


def thread_cpu_seconds(name_prefix: str) -> float | None:
    """User + system CPU seconds of this process's thread named ``name_prefix…`` (Linux)."""
    for thread in threading.enumerate():
        if thread.name.startswith(name_prefix) and thread.native_id is not None:
            try:
                stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            except OSError:
                return None
            fields = stat.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def cpu_seconds() -> float:
    """CPU seconds of this whole process so far (every thread)."""
    return time.process_time()


# -- the machine ---------------------------------------------------------------------------


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def machine() -> dict[str, str]:
    """The facts a reader needs to compare these figures with their own."""
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "unknown"
    dirty = (
        " (with uncommitted changes by others in the tree)" if _git("status", "--porcelain") else ""
    )
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "polars": _version("polars"),
        "httpx": _version("httpx"),
        "httpcore": _version("httpcore"),
        "anyio": _version("anyio"),
        "sniffio": _version("sniffio"),
        "uvicorn": _version("uvicorn"),
        "starlette": _version("starlette"),
        "pandera": _version("pandera"),
        "qxframe": _git("rev-parse", "--short", "HEAD") + dirty,
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }

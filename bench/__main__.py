"""``python -m bench``: run the benchmarks and write BENCHMARKS.md.

    python -m bench                  # everything, full size: rewrites BENCHMARKS.md
    python -m bench --quick          # smaller sizes: bench/out/BENCHMARKS.quick.md
    python -m bench --only a,d       # some figures: bench/out/BENCHMARKS.partial.md

A benchmark that raises is reported as failed and the others still run; the exit code is
1 if any did.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bench import (
    batch,
    cpu,
    imports,
    latency,
    memory,
    rate,
    reads,
    report,
    sandbox_alone,
    small_push,
    sync,
    transactions,
)
from bench._common import FULL, OUT, QUICK, ROOT, Figure, Row, Sizes, machine

BENCHMARKS: dict[str, Callable[[Sizes], Figure]] = {
    "0": sandbox_alone.run,
    "a": latency.run,
    "b": rate.run,
    "c": transactions.run,
    "d": cpu.run,
    "e": memory.run,
    "h": batch.run,
    "f": imports.run_f,
    "g": imports.run_g,
    "r": reads.run,
    "i": small_push.run,
    "w": sync.run,
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument(
        "--only", metavar="KEYS", help=f"comma-separated figures among {','.join(BENCHMARKS)}"
    )
    parser.add_argument("--output", metavar="PATH", help="where to write the Markdown report")
    args = parser.parse_args(argv)
    keys = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [k for k in keys if k not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose among {list(BENCHMARKS)}")
    args.keys = keys
    return args


def _output(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    if args.quick:
        return OUT / "BENCHMARKS.quick.md"
    if args.only:
        return OUT / "BENCHMARKS.partial.md"
    return ROOT / "BENCHMARKS.md"


def _failed(key: str, error: BaseException) -> Figure:
    figure = Figure(key, "FAILED", f"The benchmark raised {type(error).__name__}: {error}")
    figure.rows.append(Row("ran to the end", "no", "yes", False))
    return figure


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    host = machine()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = time.perf_counter()
    figures: list[Figure] = []
    failures = 0
    for key in args.keys:
        print(f"bench {key}: running…", file=sys.stderr, flush=True)
        try:
            figure = BENCHMARKS[key](sizes)
        except Exception as error:  # report it and go on with the others
            traceback.print_exc()
            figure, failures = _failed(key, error), failures + 1
        figures.append(figure)
        verdicts = ", ".join(f"{r.label}: {r.value}" for r in figure.rows if r.met is not None)
        print(f"bench {key}: {figure.seconds:.0f} s — {verdicts}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    host["load_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    OUT.mkdir(parents=True, exist_ok=True)
    raw = {"when": when, "sizes": asdict(sizes), "machine": host, "seconds": seconds}
    raw["figures"] = [asdict(f) for f in figures]
    (OUT / "results.json").write_text(json.dumps(raw, indent=2, default=str) + "\n")
    output = _output(args)
    output.write_text(report.render(figures, host, sizes, when, seconds))
    print(f"bench: wrote {output} in {seconds / 60:.1f} min", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

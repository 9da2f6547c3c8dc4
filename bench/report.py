"""BENCHMARKS.md from the figures of one run: summary, machine, how to reproduce, method,
then one section per figure with its setup, its table and its notes."""

from __future__ import annotations

from collections.abc import Sequence

from bench._common import Figure, Sizes

METHOD = """\
- **Ratios, same run.** The machine is shared and noisy, so no figure is an absolute
  number on its own: each is divided by a baseline measured in the same run, on the same
  machine, against the same sandbox (the ideal of a, the loops of a and d, the limit of b,
  the planned and Segment's call counts of c, the first size of e).
- **The sandbox** is `qx.sandbox(...)`, the embedded server every user gets: uvicorn in a
  thread of the benchmark process, on a real loopback socket (127.0.0.1). Figure 0
  measures what it serves and what it costs in CPU, so it is known not to be what limits
  a–c. Its request log (`sb.requests()`) is where calls and 429s are counted.
- **Warm-up.** A tiny dry run per action runs first, so importing pandera and building
  the schemas (a one-time cost, reported in d) does not count as throughput. Each
  client opens its connections (a `whoami`) before it is timed.
- **Repeats.** Short measurements alternate with their baseline and are repeated; the
  median is reported and every run listed. Long ones (the loops, b, e) run once.
- **Peak memory** (e) is the `ru_maxrss` of a fresh process per size, read with
  `os.wait4` by a small launcher process. Read straight from the benchmark process it
  would be wrong: Linux carries the high-water mark of the image a child was forked from
  across `exec`, so every child would report at least the benchmark process's own peak
  (a `python -c pass` started from a process that had touched 800 MB reports 810 MB).
- **Bounds.** Every loop is bounded in count (the rows it was given) and in time (a
  deadline, then it stops and reports what it did); HTTP timeouts are 30 s.
- **Generated inputs** are deterministic (`bench/_common.py`) and written to a temporary
  directory that is removed afterwards; raw numbers go to `bench/out/results.json`."""


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def summary(figures: Sequence[Figure]) -> str:
    lines = ["| | figure | measured | target | met |", "|---|---|---|---|---|"]
    for figure in figures:
        for row in figure.rows:
            if row.met is not None:
                lines.append(
                    f"| {figure.key} | {_cell(row.label)} | {_cell(row.value)} | "
                    f"{_cell(row.target)} | {_met(row.met)} |"
                )
    return "\n".join(lines)


def section(figure: Figure) -> str:
    lines = [f"## {figure.key}. {figure.title}", "", figure.setup, ""]
    lines += ["| measurement | value | target | met |", "|---|---|---|---|"]
    for row in figure.rows:
        lines.append(
            f"| {_cell(row.label)} | {_cell(row.value)} | {_cell(row.target)} | {_met(row.met)} |"
        )
    lines.append("")
    for note in figure.notes:
        lines += [note, ""]
    lines.append(f"_This benchmark took {figure.seconds:.0f} s._")
    return "\n".join(lines)


def machine_section(machine: dict[str, str]) -> str:
    m = machine
    return "\n".join(
        [
            f"- {m['nproc']} cores (`nproc`), {m['cpu']}, {m['ram']} RAM; {m['os']}",
            f"- Python {m['python']}; polars {m['polars']}; httpx {m['httpx']} (httpcore "
            f"{m['httpcore']}, anyio {m['anyio']}, sniffio {m['sniffio']}); uvicorn "
            f"{m['uvicorn']}; starlette {m['starlette']}; pandera {m['pandera']}",
            f"- qxframe at commit {m['qxframe']}",
            f"- load average (1 / 5 / 15 min) at the start: {m['load']}; at the end: "
            f"{m.get('load_end', 'unknown')}",
        ]
    )


def render(
    figures: Sequence[Figure], machine: dict[str, str], sizes: Sizes, when: str, seconds: float
) -> str:
    missed = [f"{f.key}" for f in figures for r in f.rows if r.met is False]
    verdict = (
        "Every target is met."
        if not missed
        else f"Targets missed in: {', '.join(sorted(set(missed)))} (why: in each section)."
    )
    parts = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`.venv/bin/python -m bench`, sizes `{sizes.name}`) on "
        f"{when}; the run took {seconds / 60:.1f} minutes. Do not edit by hand: change "
        "`bench/` and run it again. {verdict}".replace("{verdict}", verdict),
        "",
        "## Summary",
        "",
        summary(figures),
        "",
        "## Machine",
        "",
        machine_section(machine),
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make bench          # every figure at full size (≈ 12 min); rewrites BENCHMARKS.md",
        "make bench-quick    # smaller sizes (≈ 2 min); writes bench/out/BENCHMARKS.quick.md",
        ".venv/bin/python -m bench --only a,d   # some figures; bench/out/BENCHMARKS.partial.md",
        "```",
        "",
        "Raw numbers of the last run: `bench/out/results.json` (git-ignored). One module per "
        "figure in `bench/`; `tests/test_bench_smoke.py` runs each at toy size.",
        "",
        "## Method",
        "",
        METHOD,
        "",
    ]
    for figure in figures:
        parts += [section(figure), ""]
    return "\n".join(parts).rstrip() + "\n"

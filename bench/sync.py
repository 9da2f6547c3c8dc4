"""w. The weekly re-push: a journal sends only what changed (DESIGN §7, issue 18 item 8).

Week 1 pushes ``w_people`` contacts into a deduplicating directory and a mailing list;
week 2's export has 2 % of them changed, 1 % gone and 1 % new. Side by side in one run,
for ``method="api"`` and ``"import"``: week 2's HTTP writes (POST, PUT, DELETE in the
sandbox's request log) with the journal (and ``on_leave="remove"``) against a full re-push
without one. Also: client CPU to decide a row (key, body digest, journal lookup:
``Resume.split`` on week 2's prepared rows, timed alone), the journal's bytes per person,
and the client CPU of week 1 with a journal over week 1 without one. Then the peak RSS of
a process of its own syncing both weeks from CSV files (results to files) at a small and a
large size (``w_memory_people``: 20,000 and 1,000,000 at full size), beside the same two
pushes without a journal. Ratios of the same run; nothing here is asserted in a test
(tests/test_bench_smoke.py runs it at toy size).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

import qxframe as qx
from bench._common import Figure, Sizes, contacts, cpu_seconds, timed, warm_up
from bench._remote import RemoteSandbox
from bench.memory import LIMIT_MB, MAX_GROWTH, measure
from qxframe._journal import Journal
from qxframe._prepare import prepare
from qxframe.actions._registry import ACTIONS
from qxframe.actions._resume import Resume

MAPPING = {"embedded_data": ["plan", "score", "city"]}
WRITES_PER_MINUTE = 500  # Qualtrics' per-row contact writes (docs/qualtrics-api.md §11)
#: First pushes with and without a journal, alternated: one pair's ratio moved by 0.2 from
#: run to run on this machine; the median of three is what the figure checks.
FIRST_PUSH_PAIRS = 3


def weeks(people: int) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Week 1, and week 2 with 2 % changed, 1 % gone, 1 % new (no phone: import carries all)."""
    week1 = contacts(people).drop("first_name", "last_name")
    changed, gone, new = people // 50, people // 100, people // 100
    i = pl.int_range(pl.len())
    week2 = week1.with_columns(
        plan=pl.when(i < changed).then(pl.lit("enterprise")).otherwise(pl.col("plan"))
    ).slice(0, people - gone)
    week2 = pl.concat([week2, contacts(new, offset=people).drop("first_name", "last_name")])
    return week1, week2, {"changed": changed, "left": gone, "new": new}


def _writes(sb: RemoteSandbox, before: int) -> int:
    log = sb.requests().slice(before)
    return log.filter(pl.col("method").is_in(["POST", "PUT", "DELETE"])).height


@timed
def run(sizes: Sizes) -> Figure:
    people = sizes.w_people
    week1, week2, moved = weeks(people)
    wanted = moved["changed"] + moved["new"] + moved["left"]
    figure = Figure(
        "w",
        "The weekly re-push",
        f"Week 1: {people:,} contacts into a deduplicating directory and a mailing list; "
        f"week 2: {moved['changed']:,} changed (2 %), {moved['left']:,} left (1 %), "
        f"{moved['new']:,} new (1 %). Week 2's HTTP writes with the journal "
        '(`on_leave="remove"`) against a full re-push without one, for `method="api"` and '
        '`"import"`; a sandbox in its own process (latency 0, limits lifted).',
    )
    warm_up()
    data: dict[str, object] = {"people": people, **moved}
    folder = Path(tempfile.mkdtemp(prefix="qxbench-sync-"))
    with RemoteSandbox(import_rate=1_000_000) as sb, sb.client() as client:
        client.whoami()
        where = dict(client=client, directory_id=sb.directory_id, progress=False)
        where["mailing_list_id"] = sb.mailing_list_id
        journals: dict[str, Path] = {}
        for method in ("api", "import"):
            ratios = []
            for pair in range(FIRST_PUSH_PAIRS):  # alternating: the machine's drift hits both
                journal = journals[method] = folder / f"{method}-{pair}.qxj"  # week 2: the last
                sb.reset()
                cpu = cpu_seconds()
                qx.upsert_contacts(week1, **where, mapping=MAPPING, method=method)
                plain_cpu = cpu_seconds() - cpu
                sb.reset()
                cpu = cpu_seconds()
                qx.upsert_contacts(week1, **where, mapping=MAPPING, method=method, journal=journal)
                ratios.append((cpu_seconds() - cpu) / plain_cpu)
            ratio = statistics.median(ratios)
            before = sb.requests().height
            res = qx.upsert_contacts(
                week2, **where, mapping=MAPPING, method=method, journal=journal,
                on_leave="remove",
            )  # fmt: skip
            synced = _writes(sb, before)
            before = sb.requests().height
            qx.upsert_contacts(week2, **where, mapping=MAPPING, method=method)
            full = _writes(sb, before)
            counts = qx.summary(res)
            data[method] = {
                "writes_sync": synced, "writes_full": full, "counts": counts,
                "first_push_cpu_ratio": ratio, "first_push_cpu_ratios": ratios,
            }  # fmt: skip
            if method == "api":
                figure.check(
                    "api: week 2 writes ÷ (changed + new + left)",
                    synced / wanted, "{:.2f}", 1.05, at_most=True,
                )  # fmt: skip
            carried = res.filter(pl.col("operation") != "unchanged").height
            figure.info(
                f"{method}: week 2 rows sent (removals included), journal vs full re-push",
                f"{carried:,} vs {week2.height:,}",
            )
            figure.info(
                f"{method}: week 2 writes, journal vs full re-push",
                f"{synced:,} vs {full:,} "
                f"(create {counts.get('create', 0):,}, update {counts.get('update', 0):,}, "
                f"unchanged {counts.get('unchanged', 0):,}, remove {counts.get('remove', 0):,})",
            )
            figure.check(
                f"{method}: client CPU of a first push, journal ÷ none",
                ratio, "{:.2f}", 1.5, at_most=True,
            )  # fmt: skip
            figure.info(
                f"{method}: the same, each of {FIRST_PUSH_PAIRS} alternating pairs (the median "
                "is checked)",
                ", ".join(f"{r:.2f}" for r in ratios),
            )
        size = _bytes(journals["api"]) / people
        figure.check("journal bytes per person", size, "{:.0f}", 200, at_most=True)
        us, calls = _decide_us(week2, sb.directory_id, sb.mailing_list_id, journals["api"])
        figure.check("client CPU µs to decide an unchanged row", us, "{:.1f}", 10.0, at_most=True)
        figure.info(
            "the same, each of 4 calls (the first warms up; the median of the others is checked)",
            ", ".join(f"{c:.1f}" for c in calls),
        )
    minutes_full = 1_000_000 / WRITES_PER_MINUTE
    minutes_sync = 1_000_000 * wanted / people / WRITES_PER_MINUTE
    figure.notes.append(
        f"At {WRITES_PER_MINUTE} per-row writes a minute, 1,000,000 people re-pushed whole "
        f"take {minutes_full:,.0f} minutes every week; with the journal, this week-2 mix "
        f"({wanted / people:.0%} of them) takes {minutes_sync:,.0f} minutes."
    )
    data.update(journal_bytes_per_person=size, decide_us=us)
    data["memory"] = _memory(sizes, figure, folder)
    figure.data = data
    return figure


def _memory(sizes: Sizes, figure: Figure, folder: Path) -> dict[str, object]:
    """Peak RSS of a process that syncs week 1 then week 2 from CSV files (results to a
    file), at a small and a large size, each against a fresh sandbox in its own process;
    and of the same two pushes without a journal (their share of the growth is not the
    journal's)."""
    peaks: dict[str, dict[int, float]] = {"journal": {}, "none": {}}
    seen: dict[str, object] = {}
    for people in sizes.w_memory_people:
        week1, week2, _ = weeks(people)
        files = [folder / f"week1-{people}.csv", folder / f"week2-{people}.csv"]
        week1.write_csv(files[0])
        week2.write_csv(files[1])
        del week1, week2
        for kind in ("journal", "none"):
            with RemoteSandbox(import_rate=1_000_000) as sb:
                command = [
                    sys.executable, "-m", "bench.sync", "--child", sb.base_url, sb.api_token,
                    sb.directory_id, sb.mailing_list_id,
                    str(folder / f"memory-{people}.qxj") if kind == "journal" else "-",
                    *map(str, files), str(folder / f"out-{kind}-{people}"),
                ]  # fmt: skip
                child = measure(command, folder, max(sizes.time_limit, people / 500))
            if child.exit_code != 0:
                figure.notes.append(f"the {people:,}-person push failed: {child.output[-400:]}")
                continue
            peaks[kind][people] = child.peak_mb
            cpu = seen[f"{kind}-{people}"] = json.loads(child.output.strip().splitlines()[-1])
            figure.info(
                f"peak RSS, {people:,} people, "
                + ("journal" if kind == "journal" else "no journal (full re-push)")
                + ": week 1 by import, then week 2 (CPU µs a row of each)",
                f"{child.peak_mb:,.0f} MB ({cpu['week1_us']:.1f} µs, {cpu['week2_us']:.1f} µs)",
            )
    small, large = sizes.w_memory_people
    if all(len(p) == 2 for p in peaks.values()):
        ours = peaks["journal"]
        figure.check(f"peak RSS, {large:,} people (MB)", ours[large], "{:,.0f}", LIMIT_MB,
                     at_most=True)  # fmt: skip
        figure.check(
            f"peak RSS growth from {small:,} to {large:,} people",
            ours[large] / ours[small] - 1, "{:.0%}", MAX_GROWTH, at_most=True,
        )  # fmt: skip
        none = peaks["none"]
        figure.info(
            f"the same growth without a journal; the journal's share at {large:,} people",
            f"{none[large] / none[small] - 1:.0%}; {ours[large] - none[large]:+,.0f} MB",
        )
    return {"peak_mb": peaks, "children": seen}


def _child(argv: list[str]) -> int:
    """Push week 1 (import) then week 2 from CSV files, results to parquet files: with a
    journal and ``on_leave="remove"``, or (journal ``-``) without one, as full re-pushes.
    Print the CPU µs a row of each week as JSON."""
    url, token, directory, mailing_list, journal, week1, week2, out = argv
    from bench._common import LIFTED

    client = qx.Client(api_token=token, base_url=url, rate_limits=LIFTED)
    synced = journal != "-"
    where = dict(
        client=client, directory_id=directory, mailing_list_id=mailing_list, mapping=MAPPING,
        method="import", journal=journal if synced else None, progress=False,
    )  # fmt: skip
    spent, rows = [], 0
    for n, path in enumerate((week1, week2)):
        started = time.process_time()
        extra = {"on_leave": "remove"} if n and synced else {}
        results = qx.upsert_contacts(path, **where, **extra, out=f"{out}-{n}.parquet")
        counts = results.group_by("status").len().collect()
        spent.append(time.process_time() - started)
        if counts.filter(pl.col("status").is_in(["failed", "invalid"])).height:
            print(counts, file=sys.stderr)
            return 1
        # week 1's rows from its results (one a row), not by scanning the CSV file here:
        # polars maps the whole file, which would add its size to this process's peak
        rows = rows or int(counts["len"].sum())
    print(json.dumps({"week1_us": spent[0] / rows * 1e6, "week2_us": spent[1] / rows * 1e6}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 10 and sys.argv[1] == "--child":
        raise SystemExit(_child(sys.argv[2:]))


def _bytes(path: Path) -> int:
    """The journal's size on disk once its WAL is folded in."""
    with Journal(path) as journal:
        journal._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def _decide_us(
    week: pl.DataFrame, directory: str, mailing_list: str, path: Path
) -> tuple[float, list[float]]:
    """CPU µs a row for :meth:`Resume.split` on a week the journal holds unchanged: the
    median of three calls after a first one, and all four (the first pays for what a
    sync pays once: the journal's pages read from disk, polars' first calls; a sync of
    1,000,000 people makes 50)."""
    constants = {"directory_id": directory, "mailing_list_id": mailing_list}
    valid = prepare(
        week, "contacts", mapping=MAPPING, constants=constants, allowed_origin=None
    ).valid
    times: list[float] = []
    for _ in range(4):
        with Journal(path, writable=False) as journal:
            resume = Resume(journal, ACTIONS["contacts"])
            resume.key_fields = tuple(json.loads(journal.meta("key_fields") or "[]"))
            started = time.process_time()
            done, sent, _ = resume.split(valid)
            spent = time.process_time() - started
        assert sent.height == 0 and done.height == valid.height, "every row should be unchanged"
        times.append(spent / valid.height * 1e6)
    return statistics.median(times[1:]), times

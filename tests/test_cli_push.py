"""``qxframe push`` and ``qxframe retry``: options, output, exit status, resuming after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import qxframe as qx
from qxframe import cli
from qxframe._sinks import read_results
from qxframe.cli import _edge
from tests.helpers import sigkill_once_recorded

ROOT = Path(__file__).resolve().parent.parent
CONTACTS_CSV = ROOT / "data" / "samples" / "contacts.csv"


@pytest.fixture(scope="module")
def live():
    with qx.sandbox(seed=8) as sb:
        yield sb


@pytest.fixture
def sb(live, monkeypatch):
    """The sandbox, with QUALTRICS_* pointing at it; the CLI's client is told its limits."""
    live.reset()
    monkeypatch.setenv("QUALTRICS_BASE_URL", live.base_url)
    monkeypatch.setenv("QUALTRICS_API_TOKEN", live.api_token)
    monkeypatch.setattr(_edge, "client", lambda dry_run: live.client())
    return live


@pytest.fixture
def no_env(monkeypatch):
    for name in ("QUALTRICS_API_TOKEN", "QUALTRICS_BASE_URL", "QUALTRICS_DATACENTER"):
        monkeypatch.delenv(name, raising=False)


def write_csv(tmp_path, frame: pl.DataFrame, name: str = "in.csv") -> str:
    path = tmp_path / name
    frame.write_csv(path)
    return str(path)


PEOPLE = pl.DataFrame(
    {"email": ["a@example.com", "b@example.com", "c@example.com"], "plan": ["x", "y", "z"]}
)


# -- help and usage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["push", "--help"],
        ["push", "contacts", "--help"],
        ["push", "transactions", "--help"],
        ["push", "workflow", "--help"],
        ["retry", "--help"],
        ["retry", "contacts", "--help"],
        ["retry", "transactions", "--help"],
        ["retry", "workflow", "--help"],
        ["sandbox", "--help"],
    ],
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    assert "usage: qxframe" in capsys.readouterr().out


def test_push_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["push", "transactions", "--help"])
    out = capsys.readouterr().out
    for option in ("--directory-id", "--mailing-list-id", "--map", "--dry-run", "--concurrency"):
        assert option in out
    for option in ("--batch-size", "--out", "--journal", "--no-progress"):
        assert option in out
    assert "--token" not in out and "QUALTRICS_API_TOKEN" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["push"],
        ["push", "contacts"],
        ["push", "people", "x.csv"],
        ["push", "contacts", "x.csv", "--concurrency", "0"],
        ["push", "contacts", "x.csv", "--workflow-url", "https://x.qualtrics.com/"],
        ["retry", "contacts", "results.csv"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--concurrency", "0"], "argument --concurrency: N must be a positive integer, not 0."),
        (["--batch-size", "-3"], "argument --batch-size: N must be a positive integer, not -3."),
        (["--concurrency", "2.5"], "argument --concurrency: N must be a whole number, not '2.5'"),
    ],
)
def test_n_options_are_checked_as_the_library_checks_them(argv, said, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["push", "transactions", "x.csv", *argv])
    assert exit_info.value.code == 2
    assert said in capsys.readouterr().err


def test_python_dash_m_qxframe_works():
    done = subprocess.run(
        [sys.executable, "-m", "qxframe", "push", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "contacts" in done.stdout


# -- configuration errors exit 2 --------------------------------------------------------------


def test_missing_token_exits_2(tmp_path, no_env, capsys):
    status = cli.main(["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", "POOL_a"])
    assert status == 2
    assert "QUALTRICS_API_TOKEN is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--directory-id", "oops"], "--directory-id"),
        (["--directory-id", "POOL_a", "--map", "email"], "FIELD=COLUMN"),
        (["--directory-id", "POOL_a", "--map", "email=nope"], "nope"),
        (["--directory-id", "POOL_a", "--map", "mail=email"], "not a field"),
        (["--directory-id", "POOL_a", "--map", "email=email", "--map", "email=plan"], "twice"),
        (["--directory-id", "POOL_a", "--out", "results.txt"], ".csv or .parquet"),
        ([], "need --directory-id"),
    ],
)
def test_configuration_errors_exit_2(tmp_path, no_env, capsys, extra, message):
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--dry-run", *extra]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path, no_env, capsys):
    argv = ["push", "contacts", str(tmp_path / "nope.csv"), "--directory-id", "POOL_a"]
    assert cli.main([*argv, "--dry-run"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_refused_token_exits_2_and_is_never_echoed(sb, tmp_path, monkeypatch, capsys):
    secret = "sekrit-token-123"
    monkeypatch.setattr(_edge, "client", lambda dry_run: qx.Client(secret, base_url=sb.base_url))
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "token" in captured.err.lower()
    assert secret not in captured.out + captured.err


def test_the_token_comes_from_the_environment(sb, tmp_path, monkeypatch, capsys):
    monkeypatch.undo()  # the real _edge.client: Client.from_env()
    monkeypatch.setenv("QUALTRICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("QUALTRICS_API_TOKEN", sb.api_token)
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE.head(1)), "--directory-id"]
    assert cli.main([*argv, sb.directory_id, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert sb.api_token not in captured.out + captured.err
    assert sb.contacts()["email"].to_list() == ["a@example.com"]


def test_an_oauth_client_comes_from_the_environment(sb, tmp_path, monkeypatch, capsys):
    monkeypatch.undo()  # the real _edge.client: Client.from_env()
    monkeypatch.delenv("QUALTRICS_API_TOKEN", raising=False)
    monkeypatch.setenv("QUALTRICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("QUALTRICS_CLIENT_ID", sb.oauth_client_id)
    monkeypatch.setenv("QUALTRICS_CLIENT_SECRET", sb.oauth_client_secret + "\n")
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE.head(1)), "--directory-id"]
    assert cli.main([*argv, sb.directory_id, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert sb.oauth_client_secret not in captured.out + captured.err
    assert sb.contacts()["email"].to_list() == ["a@example.com"]
    assert sb.requests()["path"].to_list()[0] == "/oauth2/token"


# -- pushes ------------------------------------------------------------------------------------


def test_dry_run_needs_no_token_and_writes_bodies(tmp_path, no_env, capsys):
    out = tmp_path / "preview.parquet"
    argv = ["push", "contacts", str(CONTACTS_CSV), "--directory-id", "POOL_abc", "--dry-run"]
    status = cli.main([*argv, "--map", "embedded_data=plan,city", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 1  # the sample has invalid rows on purpose
    results = read_results(out)
    assert results.height == 300 and results["row"].to_list() == list(range(300))
    counts = qx.summary(results)
    assert re.search(rf"dry_run +{counts['dry_run']}\n", printed)
    assert "invalid         14   (missing_identity 8, email_format 5" in printed
    assert f"Results: {out}" in printed
    body = results.filter(pl.col("status") == "dry_run")["payload"][0]
    assert '"embeddedData":{"plan":"pro","city":"Reykjavík"}' in body


def test_push_all_good_exits_0(sb, tmp_path, capsys):
    out = tmp_path / "r.csv"
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    assert cli.main([*argv, "--out", str(out), "--map", "embedded_data=plan"]) == 0
    assert "success          3" in capsys.readouterr().out
    assert read_results(out)["status"].to_list() == ["success"] * 3
    held = sorted(json.loads(e)["plan"] for e in sb.contacts()["embedded_data"])
    assert held == ["x", "y", "z"]


@pytest.mark.parametrize(("method", "jobs"), [("import", 1), ("api", 0)])
def test_method_chooses_import_jobs_or_one_request_per_contact(sb, tmp_path, capsys, method, jobs):
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    argv += ["--mailing-list-id", sb.mailing_list_id, "--method", method, "--import-jobs", "2"]
    assert cli.main(argv) == 0
    assert "success          3" in capsys.readouterr().out
    assert sb.imports().height == jobs
    assert sb.mailing_list_members().height == 3


def test_transactions_and_workflow(sb, tmp_path, capsys):
    source = write_csv(tmp_path, PEOPLE)
    argv = ["push", "transactions", source, "--directory-id", sb.directory_id, "--batch-size", "2"]
    argv += ["--mailing-list-id", sb.mailing_list_id, "--map", "transaction_data=plan"]
    assert cli.main(argv) == 0
    assert sb.transactions().height == 3
    assert cli.main(["push", "workflow", source, "--workflow-url", sb.workflow_url]) == 0
    assert sb.workflow_events().height == 3
    assert sb.workflow_url.split("=")[-1] not in capsys.readouterr().out


def test_failures_exit_1_and_the_summary_lists_outcome_unknown_rows(sb, tmp_path, capsys):
    sb.fail_next("workflows", status=500, after_commit=True)
    argv = ["push", "workflow", write_csv(tmp_path, PEOPLE), "--workflow-url", sb.workflow_url]
    assert cli.main([*argv, "--concurrency", "1"]) == 1
    printed = capsys.readouterr().out
    assert "failed           1   (outcome_unknown 1)" in printed
    assert "Outcome unknown" in printed and "rows 0" in printed
    assert "add --out" in printed


def test_journal_rerun_skips_and_exits_0(sb, tmp_path, capsys):
    source = write_csv(tmp_path, PEOPLE)
    argv = ["push", "contacts", source, "--directory-id", sb.plain_directory_id]
    argv += ["--journal", str(tmp_path / "j.sqlite")]
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "again.csv")]) == 0
    assert "skipped          3" in capsys.readouterr().out
    assert sb.contacts().height == 3


# -- retry ---------------------------------------------------------------------------------------


def test_retry_resends_failed_rows_but_not_unknown_ones(sb, tmp_path, capsys):
    frame = pl.DataFrame({"n": [str(i) for i in range(5)]})
    source, first = write_csv(tmp_path, frame), tmp_path / "first.csv"
    base = ["--workflow-url", sb.workflow_url, "--concurrency", "1"]
    sb.fail_next("workflows", status=400)  # row 0: refused
    sb.fail_next("workflows", status=500, after_commit=True)  # row 1: outcome unknown
    assert cli.main(["push", "workflow", source, *base, "--out", str(first)]) == 1
    assert read_results(first)["status"].to_list() == ["failed"] * 2 + ["success"] * 3
    capsys.readouterr()
    again = tmp_path / "again.parquet"
    status = cli.main(["retry", "workflow", str(first), source, *base, "--out", str(again)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "Not re-sent: 1 row(s) ended outcome_unknown" in printed and "rows 1" in printed
    assert "Retrying 1 row(s)" in printed
    assert read_results(again).select("row", "status").rows() == [(0, "success")]
    assert sorted(sb.workflow_events()["payload"]) == sorted(
        ['{"n":"0"}', '{"n":"1"}', '{"n":"2"}', '{"n":"3"}', '{"n":"4"}']
    )


def test_retry_checks_that_results_and_file_match(sb, tmp_path, capsys):
    results = tmp_path / "r.csv"
    assert cli.main(["push", "contacts", str(CONTACTS_CSV), "--dry-run", "--out", str(results),
                     "--directory-id", "POOL_abc"]) == 1  # fmt: skip
    argv = [
        "retry",
        "contacts",
        str(results),
        write_csv(tmp_path, PEOPLE),
        "--directory-id",
        "POOL_a",
    ]
    assert cli.main(argv) == 2
    assert "300 rows but" in capsys.readouterr().err


# -- resuming after SIGKILL ----------------------------------------------------------------------


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "qxframe", *args, "--no-progress"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("action", ["transactions", "contacts"])
def test_a_push_killed_with_sigkill_resumes_without_duplicates(action, tmp_path):
    rows = 40 if action == "transactions" else 24  # ~8 contact writes a second (Qualtrics' limit)
    frame = pl.DataFrame(
        {
            "email": [
                f"p{i // 2 if action == 'transactions' else i}@example.com" for i in range(rows)
            ],
            "order_id": [f"o{i}" for i in range(rows)],
        }
    )
    source, journal = write_csv(tmp_path, frame), tmp_path / "j.sqlite"
    with qx.sandbox(latency=0.05, seed=3) as sb:
        env = {**os.environ, "QUALTRICS_BASE_URL": sb.base_url, "QUALTRICS_API_TOKEN": sb.api_token}
        args = ["push", action, source, "--directory-id", sb.plain_directory_id]
        args += ["--journal", str(journal), "--concurrency", "2"]
        if action == "transactions":
            args += ["--mailing-list-id", sb.plain_mailing_list_id, "--batch-size", "4"]
            args += ["--map", "transaction_data=order_id"]
        else:
            args += ["--map", "embedded_data=order_id"]

        first = run_cli(args, env)
        done_before = sigkill_once_recorded(first, journal, 3, within=20)

        out = tmp_path / "second.csv"
        second = run_cli([*args, "--out", str(out)], env)
        _, err = second.communicate(timeout=60)
        assert second.returncode in (0, 1), err.decode()
        results = read_results(out)
        held_contacts, held_transactions = sb.contacts(), sb.transactions()

    assert results["row"].to_list() == list(range(rows))  # every input row, once
    statuses = dict(results.group_by("status").len().iter_rows())
    assert statuses.get("skipped", 0) == done_before >= 3
    assert set(statuses) <= {"skipped", "success", "failed"}
    failed = results.filter(pl.col("status") == "failed")
    assert (failed["error_code"] == "outcome_unknown").all()  # rows in flight at the kill
    assert failed.height <= 2 * (4 if action == "transactions" else 1)  # one request per slot
    assert second.returncode == (1 if failed.height else 0)

    emails = held_contacts["email"]
    assert emails.n_unique() == emails.len()  # no duplicate contacts
    if action == "transactions":
        assert emails.len() == rows // 2  # one per person: a redone lookup finds the contact
        names = held_transactions["data"].str.json_path_match("$.order_id")
        ids, name = held_transactions["transaction_id"], "o{}"
    else:
        names, ids, name = emails, held_contacts["contact_id"], "p{}@example.com"
    assert names.n_unique() == names.len()  # nothing landed twice
    landed = dict(zip(names, ids, strict=True))
    done = results.filter(pl.col("status").is_in(["skipped", "success"]))
    for row, qualtrics_id in done.select("row", "qualtrics_id").iter_rows():
        assert landed[name.format(row)] == qualtrics_id  # done rows landed, with their ids
    maybe = {name.format(row) for row in failed["row"]}
    assert set(landed) - {name.format(row) for row in done["row"]} <= maybe


# -- files as people have them (subprocesses: standard input, exit status) ---------------------


def qxframe(args: list[str], *, stdin: bytes = b"", env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUALTRICS_")}
    command = [sys.executable, "-m", "qxframe", *args]
    return subprocess.run(command, input=stdin, env={**base, **(env or {})}, capture_output=True)


def test_version():
    done = qxframe(["--version"])
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"qxframe {qx.__version__}"


def test_standard_input_and_a_delimiter(tmp_path):
    out = tmp_path / "r.csv"
    argv = ["push", "contacts", "-", "--directory-id", "POOL_abc", "--dry-run", "--out", str(out)]
    done = qxframe([*argv, "--delimiter", ";"], stdin=b"email;plan\ra@example.com;x\rb@x.org;y\r")
    assert done.returncode == 0, done.stderr
    results = read_results(out)
    assert results["status"].to_list() == ["dry_run"] * 2
    assert '"email":"b@x.org"' in results["payload"][1]


def test_a_tsv_file(tmp_path, no_env, capsys):
    path = tmp_path / "in.tsv"
    path.write_text("email\tplan\na@example.com\tx\n")
    argv = ["push", "contacts", str(path), "--directory-id", "POOL_abc", "--dry-run"]
    assert cli.main(argv) == 0
    assert "dry_run          1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"email,plan\na@example.com,x\nb@example.com,y,z\n", b"line 3: this row has 3 fields"),
        (b"email,plan,email\na@example.com,x,y\n", b"columns 1 and 3 of the header"),
        (b'email,plan\na@example.com,5" screen\nb@example.com,y\n', b"line 2: a stray quote"),
        (b"email,plan\nb@example.com,Jos\xe9\n", b"first bad byte on line 2"),
        (b"\x1f\x8b not really gzip", b"cannot read"),
    ],
)
def test_bad_or_unreadable_input_exits_2_naming_the_line(tmp_path, data, message):
    path = tmp_path / ("in.csv.gz" if data.startswith(b"\x1f") else "in.csv")
    path.write_bytes(data)
    done = qxframe(["push", "contacts", str(path), "--directory-id", "POOL_abc", "--dry-run"])
    assert done.returncode == 2
    assert message in done.stderr and b"Traceback" not in done.stderr


def test_out_naming_the_input_is_refused_before_anything_is_read_or_written(tmp_path):
    path = Path(write_csv(tmp_path, PEOPLE))
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(path)
    original = path.read_bytes()
    argv = ["push", "contacts", str(path), "--directory-id", "POOL_abc", "--dry-run", "--out"]
    for spelling in (path, tmp_path / "sub" / ".." / "in.csv", tmp_path / "link.csv"):
        done = qxframe([*argv, str(spelling)])
        assert done.returncode == 2 and b"would destroy it" in done.stderr
        assert path.read_bytes() == original
    journal = tmp_path / "j.sqlite"
    done = qxframe([*argv, str(journal), "--journal", str(journal)])
    assert done.returncode == 2 and not journal.exists()


def test_a_push_refused_by_the_journal_lock_leaves_the_results_file_alone(sb, tmp_path, capsys):
    from qxframe._journal import Journal

    journal, out = tmp_path / "j.sqlite", tmp_path / "r.csv"
    out.write_bytes(b"the first push's results\n")
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    with Journal(journal):  # the first push, still running
        assert cli.main([*argv, "--journal", str(journal), "--out", str(out)]) == 2
    assert "in use by another push" in capsys.readouterr().err
    assert out.read_bytes() == b"the first push's results\n"
    assert sb.contacts().height == 0


def test_next_weeks_file_sends_only_what_changed_and_another_destination_exits_2(
    sb, tmp_path, capsys
):
    journal = str(tmp_path / "j.sqlite")
    week1 = write_csv(tmp_path, PEOPLE, "week1.csv")
    argv = ["push", "contacts", "--directory-id", sb.directory_id, "--journal", journal]
    argv += ["--map", "embedded_data=plan"]
    assert cli.main([*argv, week1]) == 0
    assert "operations: create 3" in capsys.readouterr().out
    changed = PEOPLE.with_columns(
        plan=pl.when(pl.col("plan") == "y").then(pl.lit("w")).otherwise("plan")
    )
    week2 = write_csv(
        tmp_path,
        pl.concat([changed, pl.DataFrame({"email": ["d@example.com"], "plan": ["v"]})]),
        "week2.csv",
    )
    assert cli.main([*argv, week2]) == 0
    printed = capsys.readouterr().out
    assert "skipped          2" in printed and "success          2" in printed
    assert "operations: create 1, update 1, unchanged 2" in printed
    assert "2 row(s) skipped, Qualtrics already holding them" in printed
    other = [
        "push",
        "contacts",
        week2,
        "--directory-id",
        sb.plain_directory_id,
        "--journal",
        journal,
    ]
    assert cli.main(other) == 2
    err = capsys.readouterr().err
    assert sb.directory_id in err and sb.plain_directory_id in err and "new journal file" in err


def test_environment_values_with_a_trailing_newline_work(sb, tmp_path, monkeypatch, capsys):
    monkeypatch.undo()  # the real _edge.client: Client.from_env()
    monkeypatch.setenv("QUALTRICS_BASE_URL", sb.base_url + "\n")
    monkeypatch.setenv("QUALTRICS_API_TOKEN", sb.api_token + "\r\n")
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE.head(1)), "--directory-id"]
    assert cli.main([*argv, sb.directory_id, "--no-progress"]) == 0
    assert sb.contacts()["email"].to_list() == ["a@example.com"]


def test_standard_input_with_a_journal_is_the_same_sync(sb, tmp_path, monkeypatch, capsys):
    import io

    journal = str(tmp_path / "j.sqlite")
    argv = ["push", "contacts", "-", "--directory-id", sb.directory_id, "--journal", journal]

    def push(data: bytes) -> int:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        return cli.main(argv)

    assert push(b"email,plan\na@example.com,x\n") == 0
    assert push(b"email\na@example.com\nb@example.com\n") == 0
    assert "skipped          1" in capsys.readouterr().out
    assert sorted(sb.contacts()["email"].to_list()) == ["a@example.com", "b@example.com"]
    assert sb.requests().filter(pl.col("family") == "contacts").height == 2

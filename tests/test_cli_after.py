"""Finding ids and after the run: ``whoami``, ``directories``, ``lists``, ``summary``,
``retry --merge``; every ``--help`` ending with examples; errors in the command's words."""

from __future__ import annotations

import argparse
import re

import polars as pl
import pytest

from qxframe import cli
from qxframe._sinks import read_results
from qxframe.cli import _output
from tests import test_cli_push
from tests.test_cli_push import PEOPLE, write_csv

live, sb, no_env = test_cli_push.live, test_cli_push.sb, test_cli_push.no_env  # fixtures

# -- --help ends with examples -------------------------------------------------------------


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the command, with the words that reach it."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found


ALL = commands(cli.build_parser())


def test_the_commands_are_all_there():
    names = {path[0] for path, _ in ALL if path}
    assert {"push", "retry", "summary", "whoami", "directories", "lists", "sandbox"} <= names


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) or "qxframe" for p, _ in ALL])
def test_every_help_ends_with_examples_of_its_command(path, parser):
    text = parser.format_help()
    _, sep, examples = text.rpartition("\nExamples:\n")
    assert sep, f"qxframe {' '.join(path)} --help has no examples"
    lines = examples.rstrip("\n").splitlines()
    assert lines and all(line.startswith("  ") for line in lines)  # nothing after them
    command = " ".join(("qxframe", *path))
    assert any(command in line for line in lines), lines


def test_push_help_documents_every_exit_status(capsys):
    with pytest.raises(SystemExit):
        cli.main(["push", "contacts", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for status in ("0 every row", "1 some rows", "2 usage", "130 interrupted"):
        assert status in out


# -- finding ids -----------------------------------------------------------------------------


def test_whoami_says_whose_token_it_is(sb, capsys):
    assert cli.main(["whoami"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"userName: +sandbox-user", out) and "brandId" in out
    assert sb.api_token not in out


def test_directories_lists_ids_names_and_deduplication(sb, capsys):
    assert cli.main(["directories"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["directory_id", "name", "contacts", "deduplicates", "on"]
    assert re.search(rf"^{sb.directory_id} +Customers +0 +email$", "\n".join(lines), re.M)
    assert re.search(
        rf"^{sb.plain_directory_id} +Prospects +0 +\(nothing\)$", "\n".join(lines), re.M
    )
    assert "qxframe lists --directory-id" in lines[-1]


def test_lists_shows_a_directory_s_mailing_lists(sb, capsys):
    assert cli.main(["lists", "--directory-id", sb.directory_id]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{sb.mailing_list_id} +Newsletter +0$", out, re.M)
    assert sb.plain_mailing_list_id not in out  # another directory's


def test_lists_needs_a_directory(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lists"])
    assert exit_info.value.code == 2
    assert "--directory-id" in capsys.readouterr().err


# -- errors in the command's words -----------------------------------------------------------


LIBRARY_WORDS = re.compile(
    r"(?<!--map )\b(api_token|directory_id|mailing_list_id|workflow_url|journal)=|client\."
)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["lists", "--directory-id", "oops"], "--directory-id must look like 'POOL_…'"),
        (["lists", "--directory-id", "oops"], "or qxframe directories"),
        (["whoami"], "QUALTRICS_API_TOKEN is not set (nor QUALTRICS_CLIENT_ID and QUALTRICS_"),
        (["push", "contacts", "IN"], "pass --directory-id … or give FILE a directory_id column"),
        (["push", "contacts", "IN", "--directory-id", "POOL_a", "--mailing-list-id", "x"],
         "--mailing-list-id"),
        (["push", "workflow", "IN", "--workflow-url", "https://evil.example/x"],
         "--workflow-url"),
    ],
)  # fmt: skip
def test_errors_speak_the_command_s_words(argv, said, tmp_path, no_env, monkeypatch, capsys):
    if argv[0] == "lists":  # the id is refused before any request: port 9 is never called
        monkeypatch.setenv("QUALTRICS_BASE_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("QUALTRICS_API_TOKEN", "x" * 40)
    argv = [write_csv(tmp_path, PEOPLE) if a == "IN" else a for a in argv]
    argv += ["--dry-run"] if argv[0] == "push" else []  # no token: nothing leaves the machine
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert said in err, err
    assert not LIBRARY_WORDS.search(err), err


def test_an_import_without_a_list_is_told_in_options(sb, tmp_path, capsys):
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    assert cli.main([*argv, "--method", "import"]) == 2
    err = capsys.readouterr().err
    assert "--method import needs a mailing list: pass --mailing-list-id CG_… or map" in err
    assert "or use --method api" in err and not LIBRARY_WORDS.search(err)


def test_a_token_with_a_line_break_is_named_as_the_variable(tmp_path, no_env, monkeypatch, capsys):
    monkeypatch.setenv("QUALTRICS_API_TOKEN", "abc def")
    assert cli.main(["whoami"]) == 2
    err = capsys.readouterr().err
    assert "QUALTRICS_API_TOKEN has a space" in err and "abc" not in err


def test_words_already_the_command_s_are_left_alone():
    message = "QUALTRICS_API_TOKEN is not set; --directory-id POOL_… and the directory_id column"
    assert _output.in_cli_words(message) == message


# -- after the run ---------------------------------------------------------------------------


def first_push(sb, tmp_path, capsys) -> tuple[str, str, str]:
    """A workflow push of 5 rows: row 0 refused (400), row 1 outcome unknown, 3 success."""
    frame = pl.DataFrame({"n": [str(i) for i in range(5)]})
    source, results = write_csv(tmp_path, frame), str(tmp_path / "first.csv")
    sb.fail_next("workflows", status=400)
    sb.fail_next("workflows", status=500, after_commit=True)
    argv = ["push", "workflow", source, "--workflow-url", sb.workflow_url, "--concurrency", "1"]
    assert cli.main([*argv, "--out", results]) == 1
    pushed = capsys.readouterr().out
    return source, results, pushed


def test_summary_reads_a_past_results_file_as_the_push_printed_it(sb, tmp_path, capsys):
    _, results, pushed = first_push(sb, tmp_path, capsys)
    assert cli.main(["summary", results]) == 1
    out = capsys.readouterr().out
    counts = [line for line in pushed.splitlines() if line.startswith("  ")]
    assert counts == [line for line in out.splitlines() if line.startswith("  ")]
    assert "not_sent" in out and "Outcome unknown" in out and "rows 1" in out
    parquet = tmp_path / "first.parquet"
    read_results(results).write_parquet(parquet)
    assert cli.main(["summary", str(parquet)]) == 1
    assert "failed           2   (QVAL_1 1, outcome_unknown 1)" in capsys.readouterr().out


def test_summary_of_a_clean_push_exits_0_and_of_another_file_2(sb, tmp_path, capsys):
    results = tmp_path / "r.csv"
    argv = ["push", "contacts", write_csv(tmp_path, PEOPLE), "--directory-id", sb.directory_id]
    assert cli.main([*argv, "--out", str(results)]) == 0
    assert cli.main(["summary", str(results)]) == 0
    assert cli.main(["summary", write_csv(tmp_path, PEOPLE, "people.csv")]) == 2
    assert "not a qxframe results file" in capsys.readouterr().err


def test_retry_merge_writes_the_whole_push_with_the_retried_rows_outcomes(sb, tmp_path, capsys):
    source, results, _ = first_push(sb, tmp_path, capsys)
    merged = tmp_path / "merged.parquet"
    argv = ["retry", "workflow", results, source, "--workflow-url", sb.workflow_url]
    assert cli.main([*argv, "--out", str(merged), "--merge"]) == 0
    out = capsys.readouterr().out
    assert "Retrying 1 row(s)" in out and f"Merged: {merged}" in out
    before, after = read_results(results), read_results(merged)
    assert after["row"].to_list() == list(range(5))
    assert after["status"].to_list() == ["success", "failed", "success", "success", "success"]
    assert after["error_code"][1] == "outcome_unknown"  # not re-sent, kept as it was
    assert after.slice(1).equals(before.slice(1))  # rows not retried: byte for byte
    assert after["attempts"][0] == 1 and after["qualtrics_id"][0] is None
    assert sb.workflow_events().height == 4 + 1  # row 1 landed once, row 0 now too


def test_retry_merge_keeps_a_syncs_removal_rows_and_who_left(sb, tmp_path, capsys):
    """A sync's results file names who left (ext_ref, email, phone after the usual
    columns); merging a retry into it keeps those rows and columns."""
    week1 = pl.DataFrame({"ext_ref": [f"u{i}" for i in range(6)],
                          "email": [f"p{i}@example.com" for i in range(6)]})  # fmt: skip
    where = ["--directory-id", sb.directory_id, "--mailing-list-id", sb.mailing_list_id]
    where += ["--journal", str(tmp_path / "j.qxj"), "--method", "api", "--concurrency", "1"]
    assert cli.main(["push", "contacts", write_csv(tmp_path, week1, "w1.csv"), *where]) == 0
    new = pl.DataFrame({"ext_ref": ["u9"], "email": ["p9@example.com"]})
    week2 = write_csv(tmp_path, pl.concat([week1.head(5), new]), "w2.csv")
    results, merged = str(tmp_path / "week2.csv"), tmp_path / "merged.parquet"
    sb.fail_next("contacts", status=400)
    sync = ["--on-leave", "remove", "--max-leave", "1"]
    assert cli.main(["push", "contacts", week2, *where, *sync, "--out", results]) == 1
    before = read_results(results)
    assert before.filter(pl.col("row").is_null())[["ext_ref", "email"]].rows() == [
        ("u5", "p5@example.com")
    ]
    capsys.readouterr()
    retry = ["retry", "contacts", results, week2, *where[:4], "--out", str(merged), "--merge"]
    assert cli.main(retry) == 0
    after = read_results(merged)
    assert before["status"].to_list() == ["skipped"] * 5 + ["failed", "success"]
    assert after["status"].to_list() == ["skipped"] * 5 + ["success"] * 2
    assert after.columns == before.columns
    assert after.filter(pl.col("row").is_null()).equals(before.filter(pl.col("row").is_null()))


def test_retry_merge_needs_out(sb, tmp_path, capsys):
    source, results, _ = first_push(sb, tmp_path, capsys)
    argv = ["retry", "workflow", results, source, "--workflow-url", sb.workflow_url, "--merge"]
    assert cli.main(argv) == 2
    assert "--merge writes the whole push's results to --out" in capsys.readouterr().err


def test_a_wrong_workflow_url_s_404_says_to_check_the_url(sb, tmp_path, capsys):
    """D10: the advice names what was asked for, not a directory, list or contact."""
    wrong = sb.workflow_url.replace("urlTokenId=", "urlTokenId=x")
    out = tmp_path / "r.csv"
    argv = ["push", "workflow", write_csv(tmp_path, PEOPLE), "--workflow-url", wrong]
    assert cli.main([*argv, "--out", str(out)]) == 1
    [message] = read_results(out)["error_message"].unique().to_list()
    assert message.startswith("Qualtrics answered 404")
    assert "check the workflow URL: copy it again from the workflow's JSON-event trigger" in message
    assert "directory" not in message and "contact" not in message

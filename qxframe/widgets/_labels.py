"""What the connect panel's pickers offer and warn about (pure functions over list frames).

:func:`directory_options` / :func:`mailing_list_options` turn the client's
``directories()`` / ``mailing_lists()`` frames into dropdown options (name, id, contact
count, deduplication); :func:`default_directory` picks the one to start at;
:func:`dedup_warning` is the sentence shown when the picked directory does not
deduplicate (pushing into it creates a second contact for a person already there, see
docs/qualtrics-api.md §4).
"""

from __future__ import annotations

import polars as pl


def _count(value: int | None) -> str:
    return "? contacts" if value is None else f"{value:,} contacts"


def directory_options(directories: pl.DataFrame) -> list[tuple[str, str]]:
    """Dropdown options ``(label, directory_id)``: name, id, contact count, deduplication."""
    options = []
    for row in directories.iter_rows(named=True):
        criteria = row.get("deduplication_criteria")
        dedup = "?" if criteria is None else (", ".join(criteria) or "none")
        label = f"{row['name']} · {row['directory_id']} · {_count(row.get('contact_count'))}"
        options.append((f"{label} · dedup: {dedup}", row["directory_id"]))
    return options


def mailing_list_options(lists: pl.DataFrame) -> list[tuple[str, str]]:
    """Dropdown options ``(label, mailing_list_id)``: name, id and contact count."""
    return [
        (
            f"{row['name']} · {row['mailing_list_id']} · {_count(row.get('contact_count'))}",
            row["mailing_list_id"],
        )
        for row in lists.iter_rows(named=True)
    ]


def default_directory(directories: pl.DataFrame, preferred: str | None = None) -> str | None:
    """``preferred`` if listed, else the default directory, else the first one."""
    ids = directories.get_column("directory_id").to_list()
    if preferred in ids:
        return preferred
    defaults = directories.filter(pl.col("is_default").fill_null(False))
    return defaults.item(0, "directory_id") if defaults.height else (ids[0] if ids else None)


def dedup_warning(directories: pl.DataFrame, directory_id: str | None) -> str | None:
    """A sentence when ``directory_id`` does not deduplicate (or says nothing about it)."""
    if directory_id is None or "directory_id" not in directories.columns:
        return None
    picked = directories.filter(pl.col("directory_id") == directory_id)
    if picked.height == 0:
        return None
    row = picked.row(0, named=True)
    criteria = row.get("deduplication_criteria")
    where = f"Directory {row['name']} ({directory_id})"
    if criteria is None:
        return (
            f"{where} did not say whether it deduplicates: if it does not, every push adds "
            "a new contact even for people already in it; check its settings in Qualtrics."
        )
    if not criteria:
        return (
            f"{where} does not deduplicate: every push adds a new contact for each row, even "
            "for people already in it; pick a directory that deduplicates, or push each "
            "person once."
        )
    return None

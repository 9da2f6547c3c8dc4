"""Reading Qualtrics back: a directory's or a mailing list's contacts as a polars frame
(docs/architecture.md, "Reading back and planning").

The frame's columns are the push's field names whatever names the endpoint uses
(``contactId``/``id``, ``extRef``/``externalDataReference``, ``phone``/``phoneNumber``:
docs/qualtrics-api.md §5), so what is read is what a push would send:
``upsert_contacts(read_contacts(…))`` into the same place changes nothing. Embedded data
is a column of JSON-object text (values as Qualtrics stores them: strings), which the
push accepts as ``embedded_data``.

- A mailing list's members come 50 a page with their embedded data, and ``unsubscribed``
  is the list's flag.
- A directory's contact list carries no embedded data (docs/qualtrics-api.md §5), so each
  page's contacts are also read one by one (``GET …/contacts/{id}``), concurrently under
  the reads family's rate limit: a directory costs one call per contact besides its pages.
- ``out=`` writes the file a part at a time (at most ``PART_ROWS`` rows held), so a
  directory bigger than memory is read in bounded memory; a LazyFrame over the file is
  returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from qxframe._jsontext import compact_json
from qxframe._sinks import ResultsWriter, results_kind

if TYPE_CHECKING:
    from qxframe.delivery._client import Client

#: The columns of a contacts frame read back: the push's field names, typed.
CONTACT_SCHEMA: dict[str, pl.DataType] = {
    "contact_id": pl.String(),
    "ext_ref": pl.String(),
    "email": pl.String(),
    "phone": pl.String(),
    "first_name": pl.String(),
    "last_name": pl.String(),
    "language": pl.String(),
    "unsubscribed": pl.Boolean(),
    "embedded_data": pl.String(),
}
#: Each endpoint's name for a field → the push's (docs/qualtrics-api.md §5, §7).
READ_NAMES: dict[str, str] = {
    "contactId": "contact_id",
    "id": "contact_id",
    "extRef": "ext_ref",
    "externalDataReference": "ext_ref",
    "email": "email",
    "phone": "phone",
    "phoneNumber": "phone",
    "firstName": "first_name",
    "lastName": "last_name",
    "language": "language",
    "unsubscribed": "unsubscribed",
}
#: Rows held before ``out=`` writes a part.
PART_ROWS = 10_000


def contact_row(element: Mapping[str, Any]) -> dict[str, Any]:
    """One contact element of any read endpoint, under the push's field names."""
    row: dict[str, Any] = dict.fromkeys(CONTACT_SCHEMA)
    for name, value in element.items():
        column = READ_NAMES.get(name)
        if column is not None and value is not None:
            row[column] = value
    embedded = element.get("embeddedData")
    row["embedded_data"] = compact_json(embedded) if embedded else None
    return row


def contacts_frame(elements: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Contact elements as a frame with :data:`CONTACT_SCHEMA`."""
    return pl.DataFrame([contact_row(e) for e in elements], schema=CONTACT_SCHEMA, orient="row")


def read_contacts(
    *,
    client: Client,
    directory_id: str,
    mailing_list_id: str | None = None,
    out: str | Path | None = None,
    progress: Any = None,
) -> pl.DataFrame | pl.LazyFrame:
    """A directory's contacts, or a mailing list's members, as a polars frame.

    Columns: ``contact_id``, ``ext_ref``, ``email``, ``phone``, ``first_name``,
    ``last_name``, ``language``, ``unsubscribed`` (the list's flag for a list, else the
    directory's), ``embedded_data`` (JSON-object text, as the push accepts it). Every page
    is followed, in either form of ``nextPage``. ``progress``: a tqdm bar counting pages
    (True, False, None: shown when the read lasts over 2 s, or a bar of your own).
    ``out``: a ``.parquet`` or ``.csv`` file written part by part; a LazyFrame over it is
    returned.
    """
    made = _pages_bar(progress)  # in the caller's thread: a notebook shows it under the cell
    bar = made if progress is None or isinstance(progress, bool) else progress
    try:
        return client.run(
            aread_contacts(
                client=client,
                directory_id=directory_id,
                mailing_list_id=mailing_list_id,
                out=out,
                progress=False if bar is None else bar,
            )
        )
    finally:
        if made is not None:
            made.close()


async def aread_contacts(
    *,
    client: Client,
    directory_id: str,
    mailing_list_id: str | None = None,
    out: str | Path | None = None,
    progress: Any = None,
) -> pl.DataFrame | pl.LazyFrame:
    """The async twin of :func:`read_contacts`."""
    path = client.contacts_path(directory_id, mailing_list_id)
    writer = None if out is None else ResultsWriter(out, schema=CONTACT_SCHEMA).open()
    bar = _pages_bar(progress) if progress is None or isinstance(progress, bool) else progress
    held: list[pl.DataFrame] = []
    failed = True
    try:
        async for elements in client.apages(path):
            if mailing_list_id is None:  # the directory's list has no embedded data
                elements = await _with_embedded(client, directory_id, elements)
            held.append(contacts_frame(elements))
            if bar is not None:
                bar.update(1)
            if writer is not None and sum(f.height for f in held) >= PART_ROWS:
                writer(pl.concat(held))
                held.clear()
        failed = False
    finally:
        if writer is not None:
            if held and not failed:
                writer(pl.concat(held))
            writer.close(failed=failed)
        if bar is not None and bar is not progress:
            bar.close()
    if out is None:
        return pl.concat(held) if held else pl.DataFrame(schema=CONTACT_SCHEMA)
    return scan_contacts(out)


def scan_contacts(path: str | Path) -> pl.LazyFrame:
    """A contacts file written by :func:`read_contacts` (``out=``), with its schema."""
    if results_kind(path) == "csv":
        return pl.scan_csv(path, schema=CONTACT_SCHEMA)
    return pl.scan_parquet(path)


async def _with_embedded(
    client: Client, directory_id: str, elements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each element with the ``embeddedData`` of its contact's own read."""
    details = await asyncio.gather(
        *(client.aget_contact(directory_id, e["contactId"]) for e in elements)
    )
    return [
        {**e, "embeddedData": d.result.get("embeddedData") if isinstance(d.result, dict) else None}
        for e, d in zip(elements, details, strict=True)
    ]


def _pages_bar(progress: Any) -> Any:
    """A tqdm bar counting pages; None when ``progress`` is False or a bar of the caller's."""
    if progress is not None and not isinstance(progress, bool):
        return None
    if progress is False:
        return None
    from tqdm.auto import tqdm

    return tqdm(unit="page", desc="qxframe read contacts", leave=True, delay=0 if progress else 2)

"""qx.read_contacts against the sandbox over a real loopback socket (DESIGN §8)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import polars as pl
import pytest

import qxframe as qx
from qxframe import _read
from qxframe._read import CONTACT_SCHEMA, contact_row

FULL = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "phone": "0005551234",
    "extRef": "u1",
    "language": "EN",
    "embeddedData": {"tier": "gold", "visits": 3, "vip": True},
}
#: FULL as read back, under the push's field names (embedded values as strings).
READ = {
    "ext_ref": "u1",
    "email": "ada@example.com",
    "phone": "0005551234",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "language": "EN",
    "unsubscribed": False,
    "embedded_data": '{"tier":"gold","visits":"3","vip":"true"}',
}


def _members(sb, count: int, mailing_list_id: str | None = None) -> list[str]:
    """``count`` members put straight into the store (no HTTP): their ids in join order."""
    ml = mailing_list_id or sb.mailing_list_id
    return [
        sb._store.upsert_contact(
            sb.directory_id,
            {"email": f"p{n}@example.com", "embeddedData": {"n": n}},
            mailing_list_id=ml,
        )
        for n in range(count)
    ]


def _gets(sb) -> pl.DataFrame:
    return sb.requests().filter(pl.col("method") == "GET")


@pytest.mark.parametrize("form", ["url", "token"])
def test_a_list_is_read_every_page_in_either_next_page_form(form):
    with qx.sandbox(next_page=form) as sb, sb.client() as client:
        ids = _members(sb, 120)
        members = qx.read_contacts(
            client=client, directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
        )
        assert members["contact_id"].to_list() == ids
        assert members["embedded_data"][119] == '{"n":"119"}'
        pages = _gets(sb)
        assert pages.height == 3  # 50 + 50 + 20: the list's maximum page
        assert pages["query"][0] is None and "skipToken=" in pages["query"][1]


@pytest.mark.parametrize("form", ["url", "token"])
def test_a_directory_is_read_with_each_contacts_embedded_data(form):
    with qx.sandbox(next_page=form) as sb, sb.client() as client:
        ids = _members(sb, 130)
        contacts = qx.read_contacts(client=client, directory_id=sb.directory_id)
        assert contacts["contact_id"].to_list() == ids
        assert contacts["embedded_data"].to_list() == [f'{{"n":"{n}"}}' for n in range(130)]
        listed = _gets(sb).filter(pl.col("path").str.ends_with("/contacts"))
        assert listed.height == 2  # 100 a page; then one read per contact for its embedded data
        assert _gets(sb).height == 2 + 130


def test_columns_are_the_push_fields_whatever_the_endpoint_calls_them(sb):
    with sb.client() as client:
        contact_id = sb._store.upsert_contact(
            sb.directory_id, FULL, mailing_list_id=sb.mailing_list_id
        )
        by_list = qx.read_contacts(
            client=client, directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
        )
        by_directory = qx.read_contacts(client=client, directory_id=sb.directory_id)
    for frame in (by_list, by_directory):
        assert frame.schema == pl.Schema(CONTACT_SCHEMA)
        assert frame.rows(named=True) == [{"contact_id": contact_id, **READ}]


def test_search_elements_read_under_the_same_names():
    """Search says id / phoneNumber / externalDataReference (docs/qualtrics-api.md §5)."""
    element = {
        "id": "CID_1",
        "externalDataReference": "u1",
        "phoneNumber": "0005551234",
        "email": "ada@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "language": "EN",
        "unsubscribed": False,
        "embeddedData": {"tier": "gold", "visits": "3", "vip": "true"},
        "creationDate": "2024-01-01T00:00:00Z",
    }
    assert contact_row(element) == {"contact_id": "CID_1", **READ}


def test_a_lists_unsubscribed_is_the_lists_flag(sb):
    with sb.client() as client:
        contact_id = sb._store.upsert_contact(
            sb.directory_id, {"email": "u@example.com"}, mailing_list_id=sb.mailing_list_id
        )
        sb._store.update_member(
            sb.directory_id, sb.mailing_list_id, contact_id, {"unsubscribed": True}
        )
        listed = qx.read_contacts(
            client=client, directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
        )
        directory = qx.read_contacts(client=client, directory_id=sb.directory_id)
    assert listed["unsubscribed"].to_list() == [True]
    assert directory["unsubscribed"].to_list() == [False]


def test_an_empty_list_is_an_empty_typed_frame(sb):
    with sb.client() as client:
        read = qx.read_contacts(
            client=client, directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
        )
    assert read.height == 0 and read.schema == pl.Schema(CONTACT_SCHEMA)


class Bar:
    def __init__(self) -> None:
        self.pages = 0

    def update(self, n: int) -> None:
        self.pages += n


def test_the_progress_bar_counts_pages(sb):
    _members(sb, 101)
    bar = Bar()
    with sb.client() as client:
        qx.read_contacts(
            client=client,
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            progress=bar,
        )
    assert bar.pages == 3


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_out_writes_part_by_part_in_bounded_memory(sb, tmp_path, monkeypatch, suffix):
    """With out=, no more than PART_ROWS rows (plus a page) are held before a part is
    written; the file holds every member, and a LazyFrame over it comes back."""
    monkeypatch.setattr(_read, "PART_ROWS", 100)
    parts: list[int] = []
    real_call = _read.ResultsWriter.__call__

    def recording(self, part):
        parts.append(part.height)
        real_call(self, part)

    monkeypatch.setattr(_read.ResultsWriter, "__call__", recording)
    ids = _members(sb, 520)
    out = tmp_path / f"members{suffix}"
    with sb.client() as client:
        lazy = qx.read_contacts(
            client=client,
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            out=out,
        )
    assert isinstance(lazy, pl.LazyFrame)
    assert parts == [100, 100, 100, 100, 100, 20]
    read = lazy.collect()
    assert read["contact_id"].to_list() == ids and read.schema == pl.Schema(CONTACT_SCHEMA)


def test_a_bad_id_is_refused_before_any_request(sb):
    with sb.client() as client, pytest.raises(qx.ConfigError, match="mailing_list_id"):
        qx.read_contacts(client=client, directory_id=sb.directory_id, mailing_list_id="ML_x")
    assert sb.requests().is_empty()


def test_the_async_twin_reads_the_same(sb):
    ids = _members(sb, 60)

    async def read() -> pl.DataFrame:
        async with sb.client() as client:
            return await qx.aread_contacts(
                client=client, directory_id=sb.directory_id, mailing_list_id=sb.mailing_list_id
            )

    assert asyncio.run(read())["contact_id"].to_list() == ids


class Recorder:
    """Stands in for tqdm: records each bar made and its updates."""

    made: ClassVar[list[Recorder]] = []

    def __init__(self, **kwargs) -> None:
        self.kwargs, self.pages, self.closed = kwargs, 0, False
        Recorder.made.append(self)

    def update(self, n: int) -> None:
        self.pages += n

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("progress", [False, True, None])
def test_progress_false_makes_no_bar_and_true_or_none_one_counting_pages(sb, monkeypatch, progress):
    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    Recorder.made = []
    _members(sb, 60)
    with sb.client() as client:
        qx.read_contacts(
            client=client,
            directory_id=sb.directory_id,
            mailing_list_id=sb.mailing_list_id,
            progress=progress,
        )
    if progress is False:
        assert Recorder.made == []
    else:
        (bar,) = Recorder.made
        assert bar.pages == 2 and bar.closed and bar.kwargs["unit"] == "page"

"""Endpoints for mailing-list contact creates and import jobs (docs/qualtrics-api.md §7, §9).

This module owns the paths and answer shapes: create a mailing-list contact →
``{id, contactLookupId}``; create an import job → 202 with ``tracking.url``; its status;
its summary; its report, a page at a time with a ``skipToken`` while more remain. The
jobs themselves are :class:`._imports.Imports` (``call.settings.imports``).
"""

from __future__ import annotations

from typing import Any

from qxframe._sandbox._imports import MAX_IMPORT_BYTES, Imports, Job, bad_email
from qxframe._sandbox._rules import StoreError, decode_skip, encode_skip
from qxframe._sandbox._wire import DIRS, Call, Endpoint, TopLevel

REPORT_PAGE_SIZE = 1000


def _imports(call: Call) -> Imports:
    imports = call.settings.imports
    assert isinstance(imports, Imports), "the Sandbox gives its Settings an Imports"
    return imports


def create_member(call: Call) -> tuple[int, Any]:
    return 200, _imports(call).create_member(call.param("dir"), call.param("ml"), call.json())


def create_job(call: Call) -> tuple[int, Any]:
    if len(call.body) > MAX_IMPORT_BYTES:
        raise StoreError(
            413, "REQ_TOO_LARGE", "The import body is over 5 MB; send fewer contacts per import."
        )
    imports = _imports(call)
    job = imports.create_job(call.param("dir"), call.param("ml"), call.json(), len(call.body))
    url = str(call.request.url.replace(query="")).rstrip("/") + "/" + job.import_id
    return 202, {
        "id": job.import_id,
        "status": imports.progress(job)[1],
        "contacts": {"unprocessed": list(job.unprocessed)},
        "tracking": {"url": url},
    }


def _job(call: Call) -> Job:
    ml = call.request.path_params.get("ml")
    return _imports(call).job(call.param("dir"), call.param("job"), ml)


def status(call: Call) -> tuple[int, Any]:
    job = _job(call)
    percent, state = _imports(call).progress(job)
    counts = {"added": job.added, "updated": job.updated, "failed": job.failed}
    return 200, {
        "id": job.import_id,
        "percentComplete": percent,
        "status": state,
        "contacts": {"count": counts},
        "transactions": {"count": {"created": job.transactions_created}},
    }


def summary(call: Call) -> tuple[int, Any]:
    _, result = status(call)
    job = _job(call)
    contacts = [job.contacts[i] for i in job.unprocessed]
    invalid = [c["email"] for c in contacts if bad_email(c)]  # malformed addresses only
    return 200, result | {"invalidEmails": invalid}


def report(call: Call) -> tuple[int, Any]:
    job = _job(call)
    if job.finished is None:
        raise StoreError(
            400, "QVAL_1", "The import has not finished; read its report when it is complete."
        )
    offset = decode_skip(call.query("skipToken"))
    page = job.report[offset : offset + REPORT_PAGE_SIZE]
    answer = TopLevel(results={"importReportEntries": page})
    if offset + REPORT_PAGE_SIZE < len(job.report):
        answer["skipToken"] = encode_skip(offset + REPORT_PAGE_SIZE)
    return 200, answer


JOBS = DIRS + "/{dir}/mailinglists/{ml}/transactioncontacts"
ROUTES = [
    Endpoint("POST", DIRS + "/{dir}/mailinglists/{ml}/contacts", "contacts", create_member),
    Endpoint("POST", JOBS, "imports", create_job),
    Endpoint("GET", JOBS + "/{job}", "reads", status),
    Endpoint("GET", JOBS + "/{job}/summary", "reads", summary),
    Endpoint("GET", DIRS + "/{dir}/imports/api-import/jobs/{job}/report", "reads", report),
]

"""The sandbox's HTTP face for mailing-list contact creates and import jobs.

This module owns the paths and answer shapes of docs/qualtrics-api.md §7 (create a
mailing-list contact → ``{id, contactLookupId}``) and §9 (create an import job → 202
with ``tracking.url``; its status; its summary; its report, a page at a time with a
``skipToken`` while more remain). :func:`import_routes` hands the app its routes, made
with the app's own route factory so they share its pipeline (token, faults, log).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute

from qxframe._sandbox._imports import MAX_IMPORT_BYTES, Imports, Job, TopLevel
from qxframe._sandbox._rules import StoreError, decode_skip, encode_skip

REPORT_PAGE_SIZE = 1000
Handler = Callable[[Request, bytes], tuple[int, Any]]
RouteMaker = Callable[[str, "str | None", Handler, str], BaseRoute]


def import_routes(route: RouteMaker, imports: Imports) -> list[BaseRoute]:
    """The routes of this module, made with the app's ``route(path, family, handler, method)``."""
    lists = "/API/v3/directories/{dir}/mailinglists/{ml}"
    jobs = lists + "/transactioncontacts"
    report = "/API/v3/directories/{dir}/imports/api-import/jobs/{job}/report"
    h = _Handlers(imports)
    return [
        route(lists + "/contacts", "contacts", h.create_member, "POST"),
        route(jobs, "imports", h.create_job, "POST"),
        route(jobs + "/{job}", "reads", h.status, "GET"),
        route(jobs + "/{job}/summary", "reads", h.summary, "GET"),
        route(report, "reads", h.report, "GET"),
    ]


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise StoreError(400, "QVAL_1", "The request body is not valid JSON.") from None


class _Handlers:
    def __init__(self, imports: Imports) -> None:
        self.imports = imports

    def create_member(self, request: Request, raw: bytes) -> tuple[int, Any]:
        p = request.path_params
        return 200, self.imports.create_member(p["dir"], p["ml"], _body(raw))

    def create_job(self, request: Request, raw: bytes) -> tuple[int, Any]:
        p = request.path_params
        if len(raw) > MAX_IMPORT_BYTES:
            raise StoreError(
                413,
                "REQ_TOO_LARGE",
                "The import body is over 5 MB; send fewer contacts per import.",
            )
        job = self.imports.create_job(p["dir"], p["ml"], _body(raw), len(raw))
        url = str(request.url.replace(query="")).rstrip("/") + "/" + job.import_id
        return 202, {
            "id": job.import_id,
            "status": self.imports.progress(job)[1],
            "contacts": {"unprocessed": list(job.unprocessed)},
            "tracking": {"url": url},
        }

    def _job(self, request: Request) -> Job:
        p = request.path_params
        return self.imports.job(p["dir"], p["job"], p.get("ml"))

    def status(self, request: Request, _raw: bytes) -> tuple[int, Any]:
        job = self._job(request)
        percent, status = self.imports.progress(job)
        return 200, {
            "id": job.import_id,
            "percentComplete": percent,
            "status": status,
            "contacts": {
                "count": {"added": job.added, "updated": job.updated, "failed": job.failed}
            },
            "transactions": {"count": {"created": 0}},
        }

    def summary(self, request: Request, raw: bytes) -> tuple[int, Any]:
        _, result = self.status(request, raw)
        job = self._job(request)
        invalid = [
            job.contacts[i].get("email")
            for i in job.unprocessed
            if isinstance(job.contacts[i], dict)
        ]
        return 200, result | {"invalidEmails": [e for e in invalid if e is not None]}

    def report(self, request: Request, _raw: bytes) -> tuple[int, Any]:
        job = self._job(request)
        if job.finished is None:
            raise StoreError(
                400, "QVAL_1", "The import has not finished; read its report when it is complete."
            )
        offset = decode_skip(request.query_params.get("skipToken"))
        page = job.report[offset : offset + REPORT_PAGE_SIZE]
        answer = TopLevel(results={"importReportEntries": page})
        if offset + REPORT_PAGE_SIZE < len(job.report):
            answer["skipToken"] = encode_skip(offset + REPORT_PAGE_SIZE)
        return 200, answer

"""Endpoints for who-am-I, directories and mailing lists (docs/qualtrics-api.md §4, §6).

Each handler takes a :class:`~._wire.Call` and returns ``(status, result)``; ``ROUTES``
lists them for :mod:`._app`.
"""

from __future__ import annotations

from typing import Any

from qxframe._sandbox._credentials import USER_NAME
from qxframe._sandbox._views import mailing_list_view
from qxframe._sandbox._wire import API, DIRS, Call, Endpoint, paged

DIRECTORY_PAGE = 5  # "returns a single page of up to 5 results" (docs/qualtrics-api.md §3)


def whoami(call: Call) -> tuple[int, Any]:
    return 200, {
        "brandId": call.store.brand_id,
        "userId": call.store.user_id,
        "userName": USER_NAME,
        "accountType": "UT_SANDBOX",
        "firstName": "Sandbox",
        "lastName": "User",
        "email": "sandbox@example.com",
        "datacenter": "sandbox",
    }


def directories(call: Call) -> tuple[int, Any]:
    maximum = min(DIRECTORY_PAGE, call.settings.page_size)
    return 200, paged(call, call.store.directory_elements(), maximum=maximum)


def _list_view(call: Call, ml: Any) -> dict[str, Any]:
    count = call.store.list_size(ml.mailing_list_id) if call.flag("includeCount") else None
    return mailing_list_view(ml, count)


def mailing_lists(call: Call) -> tuple[int, Any]:
    lists = call.store.lists_of(call.param("dir"))
    elements = [_list_view(call, ml) for ml in lists]
    return 200, paged(call, elements, maximum=call.settings.page_size)


def get_mailing_list(call: Call) -> tuple[int, Any]:
    return 200, _list_view(call, call.store.mailing_list(call.param("dir"), call.param("ml")))


def create_mailing_list(call: Call) -> tuple[int, Any]:
    return 200, {"id": call.store.create_list(call.param("dir"), call.json_object())}


def update_mailing_list(call: Call) -> None:
    call.store.update_list(call.param("dir"), call.param("ml"), call.json_object())


def delete_mailing_list(call: Call) -> None:
    call.store.delete_list(call.param("dir"), call.param("ml"))


LISTS = DIRS + "/{dir}/mailinglists"
ROUTES = [
    Endpoint("GET", API + "/whoami", "reads", whoami),
    Endpoint("GET", DIRS, "reads", directories),
    Endpoint("GET", LISTS, "reads", mailing_lists),
    Endpoint("POST", LISTS, "contacts", create_mailing_list),
    Endpoint("GET", LISTS + "/{ml}", "reads", get_mailing_list),
    Endpoint("PUT", LISTS + "/{ml}", "contacts", update_mailing_list),
    Endpoint("DELETE", LISTS + "/{ml}", "contacts", delete_mailing_list),
]

"""The public surface: names, signatures, the error tree, and what `import qxframe` loads."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys

import pytest

import qxframe as qx
import qxframe.exceptions as qxe

PUBLIC = {
    "ApiError",
    "AuthError",
    "BadRequestError",
    "Client",
    "ConfigError",
    "MappingError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "PushCancelled",
    "PushInterrupted",
    "QxError",
    "RateLimitedError",
    "RetryPolicy",
    "Sandbox",
    "ServerError",
    "StorageError",
    "TransportError",
    "adelete_contacts",
    "aplan_contacts",
    "aread_contacts",
    "aremove_from_list",
    "atrigger_workflow",
    "aunsubscribe",
    "aupsert_contacts",
    "aupsert_transactions",
    "plan_contacts",
    "read_contacts",
    "rows_to_retry",
    "sandbox",
    "delete_contacts",
    "remove_from_list",
    "schemas",
    "settle_unknown",
    "summary",
    "trigger_workflow",
    "unsubscribe",
    "upsert_contacts",
    "upsert_transactions",
}
COMMON = {"client", "mapping", "dry_run", "concurrency", "progress"}


def test_all_is_the_public_surface():
    # as httpx's test does: __all__ is sorted and equals what the namespace exports —
    # every name not starting with "_", less the submodules Python binds as attributes
    # (schemas is a public module and listed)
    exported = {
        name
        for name in dir(qx)  # the lazy names (the sandbox) included
        if not name.startswith("_")
        and (not inspect.ismodule(getattr(qx, name)) or name == "schemas")
    }
    assert qx.__all__ == sorted(qx.__all__)
    assert set(qx.__all__) == exported == PUBLIC


@pytest.mark.parametrize(
    ("name", "destinations"),
    [
        ("upsert_contacts", {"directory_id"}),
        ("upsert_transactions", {"directory_id", "mailing_list_id", "batch_size"}),
        ("trigger_workflow", {"workflow_url"}),
    ],
)
def test_actions_take_keyword_arguments_and_have_async_twins(name, destinations):
    for function in (getattr(qx, name), getattr(qx, "a" + name)):
        params = inspect.signature(function).parameters
        assert next(iter(params)) == "frame"
        keywords = {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
        assert keywords >= COMMON | destinations
        assert params["dry_run"].default is False and params["mapping"].default is None
    assert inspect.iscoroutinefunction(getattr(qx, "a" + name))
    assert not inspect.iscoroutinefunction(getattr(qx, name))


def test_sandbox_is_a_callable_context_manager():
    assert callable(qx.sandbox)
    with qx.sandbox() as sb:
        assert sb.base_url.startswith("http://127.0.0.1:")


def test_error_tree():
    interrupts = {"PushInterrupted", "PushCancelled"}
    for name in set(qxe.__all__) - interrupts:
        assert issubclass(getattr(qxe, name), qxe.QxError)
    assert issubclass(qx.PushInterrupted, KeyboardInterrupt)
    assert issubclass(qx.PushCancelled, qx.PushInterrupted)
    assert issubclass(qx.PushCancelled, asyncio.CancelledError)
    assert issubclass(qx.ConfigError, ValueError)
    assert issubclass(qx.MappingError, qx.ConfigError) and issubclass(qx.MappingError, KeyError)
    for cls in (qx.AuthError, qx.NotFoundError, qx.RateLimitedError, qx.ServerError):
        assert issubclass(cls, qx.ApiError)
    assert not issubclass(qx.OutcomeUnknownError, qx.ApiError)
    doc = qxe.__doc__ or ""
    for name in qxe.__all__:
        assert name in doc, f"{name} is missing from the tree drawn in exceptions.py"


#: What no import of qxframe may load: the sandbox's web server, pandas (and the pandera
#: that pulls it in: validation imports pandera.polars when it validates), test tools and
#: the notebook stack. As narwhals' tests/no_imports_test.py does, in a fresh interpreter.
NOT_ON_IMPORT = (
    "starlette",
    "uvicorn",
    "pandas",
    "numpy",
    "pyarrow",
    "pandera",
    "hypothesis",
    "ipywidgets",
    "IPython",
    "tqdm",
)


@pytest.mark.parametrize("module", ["qxframe", "qxframe.cli"])
def test_importing_qxframe_loads_only_what_a_call_needs(module):
    code = f"import sys, {module}; print(sorted(m for m in {NOT_ON_IMPORT!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_sandbox_loads_on_first_use_and_stays():
    code = (
        "import sys, qxframe as qx; before = 'starlette' in sys.modules; s = qx.sandbox; "
        "print(before, 'starlette' in sys.modules, qx.sandbox is s, 'Sandbox' in dir(qx))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "True"]


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("upsert_contacts", "ContactOpts"),
        ("upsert_transactions", "TxOpts"),
        ("trigger_workflow", "WorkflowOpts"),
    ],
)
def test_what_a_type_checker_reads_is_the_signature(name, typed):
    # the TypedDict behind the overloads and the signature help() shows, built from the
    # catalogue, name the same keywords: neither can drift from the other
    from qxframe.actions import _public

    expected = set(getattr(_public, typed).__annotations__) | {"out"}
    for function in (getattr(qx, name), getattr(qx, "a" + name)):
        params = inspect.signature(function).parameters
        assert {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY} == (
            expected
        )


def test_a_misspelled_keyword_is_a_type_error_that_names_the_right_one():
    import polars as pl

    frame = pl.DataFrame({"email": ["a@b.co"]})
    with pytest.raises(TypeError, match=r"'directoryid' .* did you mean 'directory_id'"):
        qx.upsert_contacts(frame, directoryid="POOL_x", dry_run=True)
    with pytest.raises(TypeError, match=r"'batchsize' .* did you mean 'batch_size'"):
        asyncio.run(qx.aupsert_transactions(frame, batchsize=5, dry_run=True))


def test_the_method_type_is_the_catalogue_s():
    from typing import get_args

    from qxframe._fields import METHODS
    from qxframe.actions._public import Method

    assert get_args(Method) == METHODS


@pytest.mark.parametrize("name", ["upsert_contacts", "upsert_transactions"])
def test_the_method_keyword_reads_as_the_design_says(name):
    for function in (getattr(qx, name), getattr(qx, "a" + name)):
        shown = str(inspect.signature(function).parameters["method"])
        assert shown == "method: Literal['auto', 'api', 'import'] = 'auto'"

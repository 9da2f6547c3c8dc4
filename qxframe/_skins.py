"""What the skins — the CLI and the widgets — use of the library beyond its public names.

``cli/`` and ``widgets/`` import ``qxframe`` (the public names), ``qxframe.exceptions``,
their own modules, and this module: nothing else of the library (docs/architecture.md,
"Layers"; ``tests/test_architecture.py`` holds them to it). What is here is what a
person's view of a push needs and the public API does not offer:

- starting a push and stopping it (:func:`start_push`, :class:`PushHandle`: the one way
  into a push, the same one the public functions take), and the live preview
  (:func:`preview`); :func:`loop_for`, the loop a client's pushes run on, so that a panel
  runs other async work there the same way (a plan: ``PushHandle(qx.aplan_contacts(…),
  loop_for(client))``, stopped by ``cancel()`` as a push is);
- the actions and the catalogue, to build flags, pickers and hints (:data:`ACTIONS`,
  :data:`FUNCTIONS`, :func:`fields_for` …);
- the results vocabulary (:class:`Status` …) and where results go (:class:`ResultsWriter`,
  :class:`Tally`);
- reading inputs and journals to show them (:func:`iter_chunks`, :func:`peek` …);
- the connection settings a connect panel checks before it makes a client.
"""

from __future__ import annotations

from qxframe import _fields
from qxframe._fields import Field, destinations, field, fields_for, options_for
from qxframe._inputs import (
    CsvSource,
    count_rows,
    file_source,
    iter_chunks,
    json_columns_of,
)
from qxframe._inputs import _is_pandas as is_pandas
from qxframe._journal import peek
from qxframe._jsonpaths import field_paths
from qxframe._jsonrows import JsonRows
from qxframe._mapping import resolve
from qxframe._results import (
    OPERATIONS,
    OUTCOME_UNKNOWN,
    STATUSES,
    Status,
    assemble,
    collect,
    conform,
    empty,
)
from qxframe._sinks import ResultsWriter, Tally, read_results
from qxframe.actions._handle import PushHandle, loop_for, start_push
from qxframe.actions._public import FUNCTIONS
from qxframe.actions._registry import ACTIONS
from qxframe.actions._runner import preview
from qxframe.delivery._config import (
    DEFAULT_DATACENTER,
    check_base_url,
    check_datacenter,
    endpoint_base,
    positive,
)
from qxframe.delivery._loop import wait_interruptibly

__all__ = [
    "ACTIONS",
    "DEFAULT_DATACENTER",
    "FUNCTIONS",
    "OPERATIONS",
    "OUTCOME_UNKNOWN",
    "STATUSES",
    "CsvSource",
    "Field",
    "JsonRows",
    "PushHandle",
    "ResultsWriter",
    "Status",
    "Tally",
    "action_names",
    "assemble",
    "check_base_url",
    "check_datacenter",
    "collect",
    "conform",
    "count_rows",
    "destinations",
    "empty",
    "endpoint_base",
    "field",
    "field_paths",
    "fields_for",
    "file_source",
    "is_pandas",
    "iter_chunks",
    "json_columns_of",
    "loop_for",
    "options_for",
    "peek",
    "positive",
    "preview",
    "read_results",
    "resolve",
    "start_push",
    "wait_interruptibly",
]


def action_names() -> tuple[str, ...]:
    """The catalogue's actions, read now (a CLI parser is built from them)."""
    return _fields.ACTIONS

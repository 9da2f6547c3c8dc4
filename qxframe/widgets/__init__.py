"""Notebook widgets: thin skins over qxframe's library functions (docs/notebooks.md).

- :func:`connect` → :class:`ConnectPanel`: token, datacenter, a whoami check, directory and
  mailing-list pickers, and a "try it in the sandbox" switch; yields ``.client``,
  ``.directory_id`` and ``.mailing_list_id``.
- :func:`preview` → :class:`PreviewPanel`: a column picker per field, the first rows'
  validation status and exact JSON bodies, live; ``.mapping`` for reuse in code; a Push
  button.
- :func:`results` → :class:`ResultsView`: counts per status, the failed and invalid rows
  with their reasons, and the rows to re-run (:func:`qxframe.rows_to_retry`).

Importing this module imports ipywidgets (``pip install 'qxframe[widgets]'``);
``import qxframe`` does not. The API token is never kept in a widget's synced state nor
shown in an output.

>>> import polars as pl
>>> import qxframe.widgets as qxw
>>> panel = qxw.connect(sandbox=True)
>>> panel.directory_id.startswith("POOL_")
True
>>> frame = pl.DataFrame({"email": ["ann@example.com", "not-an-email"]})
>>> pv = qxw.preview(frame, action="contacts", client=panel)
>>> pv.push()["status"].to_list()
['success', 'invalid']
"""

import ipywidgets  # noqa: F401 - the widgets extra is required; fail here, early

from qxframe.widgets._connect import ConnectPanel, connect
from qxframe.widgets._preview import PreviewPanel, preview
from qxframe.widgets._results_view import ResultsView, results

__all__ = [
    "ConnectPanel",
    "PreviewPanel",
    "ResultsView",
    "connect",
    "preview",
    "results",
]

"""The actions: one module per action, and the push pipeline they share.

Everything here knows what a push is; nothing below it does (docs/architecture.md,
"Layers"). Reading order:

- ``_public``: the public functions (``qx.upsert_contacts`` …) and their async twins;
- ``_registry``: the action registry (one line per action) and one push run to its end;
- ``_handle``: a push running on the client's loop, waited for or cancelled;
- ``_action``: the contract: :class:`~qxframe.actions._action.Action` (what an action
  provides) and :class:`~qxframe.actions._action.Context` (what it is given for a push);
- ``_runner``: the runner every push takes: chunks, journal, concurrency, progress;
  ``_context`` (each outcome reported once, and checked), ``_chunks`` and ``_resume``
  are its parts;
- one module per action: ``_contacts``, ``_transactions``, ``_workflows``;
- what those share: ``_lookups`` and ``_import_lookups`` (a transaction's contact),
  ``_imports`` and ``_import_job`` (import jobs, one job's life), ``_dedup`` (whether a directory
  merges a second copy).

This package imports nothing at import time, so that ``import qxframe.actions._x`` loads
only what ``_x`` needs.
"""

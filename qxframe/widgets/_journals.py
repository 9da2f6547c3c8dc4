"""The journals a panel keeps so that pressing Push again does not send a row twice.

A :class:`PanelJournals` holds one journal file per destination in a temporary folder of
its own (docs/architecture.md, "Journal and resume"): a row the journal records as sent
comes back ``skipped`` instead of being sent again, and :meth:`PanelJournals.forget` is
the person's "send them again" confirmation. The connect panel keeps one for the whole
session (DESIGN §7), so a re-run cell's new preview of the same frame knows what the
last one sent; a preview given a plain client keeps its own.

:func:`destination_key` is the one place that says which pushes share a journal.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path


def destination_key(action: str, constants: Mapping[str, str | None], where: str) -> str:
    """Which journal a push from a panel uses: its action, the server (``where``, the
    client's base URL: a new sandbox is a new server) and the destination constants. A
    journal belongs to its destination, whatever frame feeds it (DESIGN §7): another frame
    pushed to the same destination is the same sync, and what the last push sent there is
    not sent again."""
    given = sorted((name, value) for name, value in constants.items() if value)
    return json.dumps([action, where, given], sort_keys=True)


class PanelJournals:
    """One journal file per :func:`destination_key`, in a temporary folder made on first use."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        # under a lock: a preview's background work (its next-push count) asks for paths
        # while a push does, and two folders made at once lose one push's journal
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="qxframe-panel-"))
                atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
            return self._folder

    def path(self, key: str) -> Path:
        """The journal of pushes to ``key`` (a :func:`destination_key`)."""
        action = json.loads(key)[0]
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.folder / f"{action}-{digest}.journal"

    def used(self, key: str) -> bool:
        """Whether a push to ``key`` was made from here."""
        return self.path(key).exists()

    def forget(self, key: str) -> None:
        """Drop the record of what was sent there: the next push sends every row again."""
        path = self.path(key)
        for companion in path.parent.glob(path.name + "*"):
            companion.unlink()

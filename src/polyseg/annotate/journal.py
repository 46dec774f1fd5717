"""A sidecar journal: one JSON line per finished image, so that a crashed or interrupted run can resume.

Lines are flushed as they are written (a killed process loses nothing written) and synced to disk at most every
``sync_every`` seconds (a killed machine loses at most that much). A line cut short by a crash is dropped when
the journal is read back, and the file is truncated to its last whole line before new lines are appended.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class Journal:
    """Append-only JSON-lines file of results.

    Parameters
    ----------
    path : Path
        The journal file (``OUTPUT.journal.jsonl``).
    resume : bool
        Keep and read back an existing journal; otherwise start a new, empty one.
    sync_every : float
        Seconds between ``fsync`` calls.
    """

    def __init__(self, path: Path, resume: bool, sync_every: float = 1.0) -> None:
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}
        good = 0
        if resume and path.exists():
            with open(path, "rb") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        break  # the line a crash cut short: it and anything after it are redone
                    if not line.endswith(b"\n"):
                        break
                    self.done[entry["task"]] = entry
                    good += len(line)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "r+b" if resume and path.exists() else "wb")  # noqa: SIM115 (closed in close())
        self._file.truncate(good)
        self._file.seek(good)
        self._sync_every = sync_every
        self._synced = time.monotonic()

    def append(self, entry: dict[str, Any]) -> None:
        """Write one result (a dict with a ``task`` key) as one line."""
        self._file.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        if time.monotonic() - self._synced > self._sync_every:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def remove(self) -> None:
        """Close and delete the journal (once the output it fed is safely written)."""
        self.close()
        self.path.unlink(missing_ok=True)

"""A sidecar journal: one JSON line per finished image, so that a crashed or interrupted run can resume.

The first line is a header naming the options of the run (format, RLE, tolerance, overwrite, model): a run with
other options refuses to resume from it. Every entry carries the fingerprint of the input it was computed from
(:meth:`polyseg.annotate.formats.DataSet.fingerprint`: the image, the boxes and their places in the input), so
that a resumed run replays only the entries whose input is unchanged and redoes the others.

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

from .formats import AnnotateError

#: Version of the journal's layout, in its header line.
VERSION = 2


class Journal:
    """Append-only JSON-lines file of results, after a header line of options.

    Parameters
    ----------
    path : Path
        The journal file (``OUTPUT.journal.jsonl``).
    resume : bool
        Keep and read back an existing journal; otherwise start a new, empty one.
    options : dict
        The run's options (JSON values), written to the header line; resuming needs the same ones. A journal
        without this header (cut short before it, or written by an older polyseg) is started over.
    sync_every : float
        Seconds between ``fsync`` calls.

    Raises
    ------
    AnnotateError
        On resume, if the journal was written with other options.
    """

    def __init__(self, path: Path, resume: bool, options: dict[str, Any] | None = None,
                 sync_every: float = 1.0) -> None:
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}
        header = {"polyseg_journal": VERSION, **(options or {})}
        good = 0
        if resume and path.exists():
            with open(path, "rb") as f:
                for n, line in enumerate(f):
                    try:
                        entry = json.loads(line)
                    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                        break  # the line a crash cut short: it and anything after it are redone
                    if not line.endswith(b"\n") or not isinstance(entry, dict):
                        break
                    if n == 0:
                        if entry.get("polyseg_journal") != VERSION:
                            break  # no header of this layout: nothing in it can be trusted
                        if entry != header:
                            raise AnnotateError(f"{path} was written with other options ({_differences(entry, header)})"
                                                ": resume with the same options, or delete it to start over")
                    elif isinstance(entry.get("task"), str):
                        self.done[entry["task"]] = entry
                    else:
                        break
                    good += len(line)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "r+b" if resume and path.exists() else "wb")  # noqa: SIM115 (closed in close())
        self._file.truncate(good)
        self._file.seek(good)
        if good == 0:
            self.done = {}
            self._file.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
            self._file.flush()
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


def _differences(written: dict[str, Any], wanted: dict[str, Any]) -> str:
    """``"rle False, now True; ..."``: the options that differ between a journal's header and this run."""
    keys = [k for k in {**written, **wanted} if written.get(k) != wanted.get(k)]
    return "; ".join(f"{k} {written.get(k)!r}, now {wanted.get(k)!r}" for k in keys)

"""Progress: a tqdm bar (images/s, objects/s, ETA) when tqdm is installed, else a plain line every few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts images and objects; shows them on ``stream``.

    Parameters
    ----------
    total : int
        Images to do.
    enabled : bool
        False shows nothing (counting still works).
    every : float
        Seconds between plain lines when tqdm is missing.
    """

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.total, self.images, self.objects = total, 0, 0
        self.start = self._last = time.monotonic()
        self._stream = stream or sys.stderr
        self._every = every
        self._bar = None
        self._enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, unit="img", file=self._stream, dynamic_ncols=True, smoothing=0.1)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def update(self, objects: int) -> None:
        """One more image done, with ``objects`` objects segmented."""
        self.images += 1
        self.objects += objects
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.objects / max(self.elapsed, 1e-9):.0f} obj/s", refresh=False)
            self._bar.update(1)
        elif self._enabled and time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            t = self.elapsed
            rate = self.images / t
            eta = (self.total - self.images) / rate if rate else float("inf")
            print(
                f"polyseg: {self.images}/{self.total} images, {rate:.1f} img/s, {self.objects / t:.0f} obj/s, "
                f"ETA {eta:.0f} s",
                file=self._stream,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

"""The driver's progress bar: trials done of total, in flight, pruned, failed, best so far."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A tqdm bar: trials done of total, running, pruned, failed, best so far, elapsed, ETA."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=min(initial, total), unit="trial",
                            dynamic_ncols=True, desc="trials", mininterval=0.5)
        self._last = 0.0

    def done(self, state: str) -> None:
        self.counts[state] += 1
        if self.bar is not None:
            self.bar.update(1)

    def update(self, running: int, best: Any) -> None:
        now = time.monotonic()
        if self.bar is None or now - self._last < 0.5:
            return
        self._last = now
        best_text = "-" if best is None else f"{best.value:.4f}"
        self.bar.set_postfix_str(f"in flight={running} pruned={self.counts['pruned']} "
                                 f"failed={self.counts['failed']} best={best_text}",
                                 refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

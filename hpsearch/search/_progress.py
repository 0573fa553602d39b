"""The driver's progress: a bar (a terminal's, or a notebook's widget), or JSON lines for a log."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

__all__ = ["LINE_PREFIX", "Progress"]

# A log line that carries the run's progress: the prefix, a space, then a JSON object with
# done, target, running, pruned, failed, best (None until a trial completes), elapsed_s and, on
# a shared cluster, "sharing": weight, priority, share (of the cluster now), slots, queue (its
# position, or None) and cpu_s (this run's CPU-seconds so far).
LINE_PREFIX = "hpsearch-progress"
_LINE_EVERY_S = 5.0


class Progress:
    """Trials done of total, running, pruned, failed, best so far, elapsed (and ETA on the bar).

    Args:
        total: finished trials to reach.
        initial: finished trials already stored.
        mode: "bar" (a tqdm bar on stderr, or a widget in a notebook that has ipywidgets),
            "lines" (``LINE_PREFIX`` JSON lines on stdout every 5 s and at the end: what
            ``hpsearch jobs`` reads from a submitted study's log) or "none". True and False
            mean "bar" and "none".
    """

    def __init__(self, total: int, initial: int, mode: str | bool = "bar") -> None:
        mode = {True: "bar", False: "none"}.get(mode, mode) if isinstance(mode, bool) else mode
        if mode not in ("bar", "lines", "none"):
            raise ValueError(f"progress mode {mode!r}; expected 'bar', 'lines' or 'none'")
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.total, self.done_n, self.mode = total, min(initial, total), mode
        self.bar = None
        if mode == "bar":
            from hpsearch._notebook import bar_class

            self.bar = bar_class()(total=total, initial=self.done_n, unit="trial",
                                   dynamic_ncols=True, desc="trials", mininterval=0.5)
        self._start = time.monotonic()
        self._last = 0.0
        self._running, self._best = 0, None
        self.sharing: dict[str, Any] | None = None  # set by the engine on a shared cluster

    def done(self, state: str) -> None:
        """One trial finished as "complete", "pruned" or "failed"."""
        self.counts[state] += 1
        self.done_n += 1
        if self.bar is not None:
            self.bar.update(1)

    def update(self, running: int, best: Any) -> None:
        """The loop's state now (called every step; shown at most every half second)."""
        self._running, self._best = running, best
        now = time.monotonic()
        if self.mode == "lines":
            if now - self._last >= _LINE_EVERY_S:
                self._last = now
                self._line()
            return
        if self.bar is None or now - self._last < 0.5:
            return
        self._last = now
        self._postfix()

    def _postfix(self) -> None:
        best_text = "-" if self._best is None else f"{self._best.value:.4f}"
        self.bar.set_postfix_str(f"in flight={self._running} pruned={self.counts['pruned']} "
                                 f"failed={self.counts['failed']} best={best_text}",
                                 refresh=False)

    def _line(self) -> None:
        facts = {"done": self.done_n, "target": self.total, "running": self._running,
                 "pruned": self.counts["pruned"], "failed": self.counts["failed"],
                 "best": None if self._best is None else round(float(self._best.value), 6),
                 "elapsed_s": round(time.monotonic() - self._start, 1)}
        if self.sharing is not None:
            facts["sharing"] = self.sharing
        print(f"{LINE_PREFIX} {json.dumps(facts)}", file=sys.stdout, flush=True)

    def close(self) -> None:
        """The run ended: close the bar, or write the last line."""
        self._running = 0
        if self.bar is not None:
            # The last update may have come within the half second: the bar that stays shows
            # the end, not a state from before the last trials finished.
            self._postfix()
            self.bar.close()
        if self.mode == "lines":
            self._line()

"""Ctrl-C and SIGTERM, handled in one place for the whole run.

The first signal asks for a clean stop (finished trials kept, running ones recorded as
interrupted and enqueued again); a second one stops at once. Installed by the driver after Ray
starts: Ray's own SIGTERM handler (set by ``ray.init``) would abort the driver outright, and a
``ray job stop`` sends SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import TracebackType
from typing import Any

__all__ = ["StopSignals"]

log = logging.getLogger("hpsearch")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """A context that turns SIGINT/SIGTERM into a stop request (``requested``).

    Signal handlers can only be set from the main thread: in another thread (a notebook's
    background run, a test) the context does nothing and the caller's handling stays.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in _SIGNALS:
                self._previous[s] = signal.signal(s, self._on_signal)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("received %s: stopping after the current step", signal.Signals(signum).name)

"""How many trials the engine runs at once, and when their results are told: two strategies.

``FreeWindow`` (the default) keeps the window full and tells each result as it arrives.
``Generations`` (``[study] reproducible = true``) runs fixed-size generations and tells each
generation's results in trial-number order once all are back, so the sampler and the pruners see
the same history on every run, whatever the workers' timing; it costs the idle slots at each
generation's end.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["FreeWindow", "Generations", "Scheduling"]

# Keep one extra trial queued beyond the cluster's slots, so a worker never waits on the
# driver's tell + ask.
_QUEUE_AHEAD = 1

Tell = Callable[[], None]


class Scheduling:
    """The engine's strategy: window size, and when a result is told."""

    def window(self, n_running: int, slots: int) -> int:
        """How many trials may be out now (running or queued), given the cluster's slots."""
        raise NotImplementedError

    def settle(self, number: int, tell: Tell) -> None:
        """Tell trial ``number``'s result now, or hold it."""
        raise NotImplementedError

    def flush(self) -> None:
        """Tell every held result (the run ends, or stops)."""

    def widest(self, slots: int) -> int:
        """Trials run at once at most (what ``RunSummary.max_in_flight`` reports)."""
        raise NotImplementedError


class FreeWindow(Scheduling):
    """Keep ``in_flight`` trials out (default: the cluster's slots, plus one queued).

    Ray starts any task it has CPUs for, so a queued trial waits for a running one to end only
    when the window is as wide as the cluster. A narrower window is kept exactly, with nothing
    queued.
    """

    def __init__(self, in_flight: int | None) -> None:
        self._fixed = in_flight

    def window(self, n_running: int, slots: int) -> int:
        capacity = self._fixed or slots
        return capacity + (_QUEUE_AHEAD if capacity >= slots else 0)

    def settle(self, number: int, tell: Tell) -> None:
        tell()

    def widest(self, slots: int) -> int:
        return self._fixed or slots


class Generations(Scheduling):
    """Fixed-size generations, each told in trial-number order once all its trials are back.

    Args:
        size: the generation's size (default: the cluster's slots when the first one starts,
            then kept, so the history does not depend on nodes coming and going).
        told: called after each generation is told (the pruners must learn it before the next
            generation reports).
    """

    def __init__(self, size: int | None, told: Callable[[], None] = lambda: None) -> None:
        self._size = size
        self._told = told
        self._held: list[tuple[int, Tell]] = []

    def window(self, n_running: int, slots: int) -> int:
        if self._size is None:
            self._size = slots
        if n_running:  # a generation is out: launch nothing until it is back
            return 0
        self.flush()
        return self._size

    def settle(self, number: int, tell: Tell) -> None:
        self._held.append((number, tell))

    def flush(self) -> None:
        if self._held:
            held, self._held = sorted(self._held, key=lambda item: item[0]), []
            for _, tell in held:
                tell()
            self._told()

    def widest(self, slots: int) -> int:
        return self._size or slots

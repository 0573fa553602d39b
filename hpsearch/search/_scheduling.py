"""How many trials the engine runs at once, and when their results are told: two strategies.

``FreeWindow`` (the default) keeps the window full and tells each result as it arrives.
Reproducible studies (``[study] reproducible = true``) make what each ask sees a function of the
ask's place, never of timing:

- ``Lagged``: ask ``j`` sees the results of asks ``0 .. j - lag - 1`` (told in ask order just
  before it) and none newer; asks ``j - lag .. j - 1`` are still running for the sampler (as
  its constant liar sees them). The window stays full; the engine waits only when a trial more
  than ``lag`` asks old is still running. Pruning decisions use the same set (``visible``),
  except where a nearer one is nearly always complete by the time the decision comes, and
  each is learned as it ends, in ask order: with folds, decisions from a trial's second fold
  on see the whole trials of asks ``0 .. j - ceil(lag / 2) - 1``; first-fold pruning sees the
  first folds of asks ``0 .. j - ceil(lag / 4) - 1`` (a first fold is a fifth of a trial; with
  lag 4, two workers' default, that is every earlier ask but the last). Seeing the asks more
  than ``ceil(lag / 2)`` back instead cost the default study 13% more epochs
  (docs/benchmarks.md).
- ``Generations``: fixed-size generations, each told in ask order once all are back; for
  Hyperband, which decides on the stored study. It costs the idle slots at each generation's
  end.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hpsearch.execution import Sees

__all__ = ["FreeWindow", "Generations", "Lagged", "Scheduling"]

# Keep one extra trial queued beyond the cluster's slots, so a worker never waits on the
# driver's tell + ask.
_QUEUE_AHEAD = 1

Tell = Callable[[], None]


class Scheduling:
    """The engine's strategy: window size, when a trial may be asked, when a result is told."""

    def ready_to_ask(self) -> bool:
        """Whether the next trial may be asked now (held results it must see are told first)."""
        return True

    def asked(self, number: int) -> None:
        """Trial ``number`` was asked (asks are counted in order)."""

    def visible(self) -> Sees | None:
        """What the next trial's pruning decisions see (None: every result so far)."""
        return None

    @property
    def n_held(self) -> int:
        """Results back but not told yet (they count toward the target as running ones do)."""
        return 0

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


class Lagged(FreeWindow):
    """Ask ``j`` sees exactly the results of the asks more than ``lag`` before it.

    Args:
        in_flight: trials at once (default: the cluster's slots, plus one queued).
        lag: how many asks back results become visible; at most ``lag + 1`` trials are out.
    """

    def __init__(self, in_flight: int | None, lag: int) -> None:
        super().__init__(in_flight)
        self._lag = lag
        self._order: list[int] = []  # trial numbers, in ask order
        self._held: dict[int, Tell] = {}
        self._told = 0  # asks told, a prefix of _order

    def window(self, n_running: int, slots: int) -> int:
        return min(super().window(n_running, slots), self._lag + 1)

    def ready_to_ask(self) -> bool:
        due = len(self._order) - self._lag
        while self._told < due:
            tell = self._held.pop(self._order[self._told], None)
            if tell is None:  # still running: the next ask must see it
                return False
            tell()
            self._told += 1
        return True

    def asked(self, number: int) -> None:
        self._order.append(number)

    @property
    def n_held(self) -> int:
        return len(self._held)

    def visible(self) -> Sees:
        asked = len(self._order)
        return Sees(seq=asked, told=max(0, asked - self._lag),
                    ended=max(0, asked - math.ceil(self._lag / 2)),
                    first_folds=max(0, asked - math.ceil(self._lag / 4)))

    def settle(self, number: int, tell: Tell) -> None:
        self._held[number] = tell

    def flush(self) -> None:
        for number in self._order[self._told:]:  # in ask order; abandoned ones are not here
            tell = self._held.pop(number, None)
            if tell is not None:
                tell()
        self._told = len(self._order)

    def widest(self, slots: int) -> int:
        return min(super().widest(slots), self._lag + 1)

"""Test support: a running trial waits at a step until a test lets it go on.

Tests must not depend on how fast the machine is. A test that needs a trial still running when
it acts (stops it from outside, kills its node or its driver, widens the cluster under it) used
to give it "enough" epochs, which a faster CPU runs through before the test acts, and a test
that waits on a loaded single core did with fixed sleeps. Instead such a test holds the trial:
its worker waits at a step, however fast it trains, until the test releases it.

Nothing of this is read unless ``HPSEARCH_TEST_HOLD`` names a folder when this module is
imported (once per worker process; Ray's workers inherit the environment of the node they run
on): without it ``for_trial`` returns None and a trial costs nothing more. With it, in that
folder:

``all``
    every trial holds;
``trial-<n>``
    trial number ``n`` holds (the study's trial number; every study using the folder);

either file empty: at the trial's next step; holding a number ``s``: at every step from ``s``
on (the trial runs to step ``s``, then holds there). A step is a report of the worker: an epoch
on a single split; with cross-validation a fold, and with first-fold pruning also each epoch
of the first fold. While trial ``n`` holds, its worker keeps ``held-<n>`` in the folder ("<step>
<node id>"), removed when the trial goes on. A held trial still hears a stop (from outside, or
its study is over: see ``hpsearch.execution._task``) and ends at once, as a stopped trial does.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ENV", "POLL_S", "Hold", "for_trial"]

ENV = "HPSEARCH_TEST_HOLD"
POLL_S = 0.02  # how often a held trial looks whether it may go on

_FOLDER = os.environ.get(ENV) or None


class Hold:
    """Where one trial's worker looks whether to wait (see the module's docstring)."""

    def __init__(self, folder: str | os.PathLike[str], trial: int, node: str = "") -> None:
        folder = Path(folder)
        self._asks = (folder / "all", folder / f"trial-{trial}")
        self._held = folder / f"held-{trial}"
        self._node = node

    def holds(self, step: int) -> bool:
        """Whether the trial is to wait at ``step`` now."""
        for path in self._asks:
            try:
                text = path.read_text().strip()
            except OSError:  # no such file: not asked
                continue
            try:
                if not text or step >= int(text):
                    return True
            except ValueError:  # not a step number: hold, as for an empty file
                return True
        return False

    def wait(self, step: int, interrupt: Callable[[], bool] | None = None) -> bool:
        """Wait at ``step`` while the trial holds; True when ``interrupt()`` ended the wait.

        ``interrupt`` is called every ``POLL_S`` while the trial waits (the worker's ear for a
        stop); it returning True ends the wait at once.
        """
        if not self.holds(step):
            return False
        temporary = self._held.with_name(f".{self._held.name}.{os.getpid()}")
        with contextlib.suppress(OSError):  # a folder not writable: held all the same
            temporary.write_text(f"{step} {self._node}\n")
            temporary.replace(self._held)  # whole or not at all, for a test reading it
        try:
            while self.holds(step):
                if interrupt is not None and interrupt():
                    return True
                time.sleep(POLL_S)
            return False
        finally:
            with contextlib.suppress(OSError):
                self._held.unlink()


def for_trial(trial: int, node: str = "") -> Hold | None:
    """The hold of trial number ``trial`` on ``node``; None unless ``HPSEARCH_TEST_HOLD`` is set."""
    return None if _FOLDER is None else Hold(_FOLDER, trial, node)

"""Hold running trials from a test, so that no test depends on how fast the machine is.

A test that needs a trial still running when it acts holds it (``hpsearch.execution._hold``: the
trial's worker waits at a step until released) instead of giving it "enough" epochs; a test that
needs a trial to have got somewhere waits for that (``wait_held``, a condition with a generous
deadline) instead of sleeping. The workers see the folder through ``HPSEARCH_TEST_HOLD`` in their
environment (``env``): the session's local Ray instance gets it from ``tests/conftest.py``, the
loopback clusters' nodes from ``tests/cluster/_loopback.py``, a CLI subprocess from its test.

Files here are written whole (a temporary file renamed): a worker never reads half of one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hpsearch.execution._hold import ENV

__all__ = ["ENV", "Held", "TrialHold", "environ_with", "wait_for"]


@dataclass(frozen=True)
class Held:
    """A trial waiting now: at which step, on which Ray node."""

    trial: int
    step: int
    node: str


class TrialHold:
    """The test's side of ``hpsearch.execution._hold``: hold trials, see them held, release."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """The environment entry that points workers here."""
        return {ENV: str(self.folder)}

    def _write(self, name: str, text: str) -> None:
        temporary = self.folder / f".{name}.tmp"
        temporary.write_text(text)
        temporary.replace(self.folder / name)

    def all(self, from_step: int | None = None) -> None:
        """Every trial holds: at its next step, or at every step from ``from_step`` on."""
        self._write("all", "" if from_step is None else f"{from_step}\n")

    def trial(self, *numbers: int, from_step: int | None = None) -> None:
        """Trials ``numbers`` hold: at their next step, or at every step from ``from_step`` on."""
        for n in numbers:
            self._write(f"trial-{n}", "" if from_step is None else f"{from_step}\n")

    def release(self, *numbers: int) -> None:
        """Let trials ``numbers`` go on (what ``trial`` asked); with none, every trial."""
        names = ([f"trial-{n}" for n in numbers] if numbers else
                 ["all", *(p.name for p in self.folder.glob("trial-*"))])
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()

    def reset(self) -> None:
        """Release everything and forget which trials were held (between tests)."""
        self.release()
        for path in self.folder.glob("held-*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def held(self) -> dict[int, Held]:
        """The trials holding now (as their workers last wrote it)."""
        found = {}
        for path in self.folder.glob("held-*"):
            try:
                step, _, node = path.read_text().strip().partition(" ")
                n = int(path.name.removeprefix("held-"))
                found[n] = Held(n, int(step), node)
            except (OSError, ValueError):  # gone meanwhile
                continue
        return found

    def wait_held(self, *numbers: int, on_node: str | None = None, at_step: int | None = None,
                  timeout_s: float = 180.0, alive: Callable[[], bool] | None = None,
                  what: str = "", explain: Callable[[], str] | None = None) -> dict[int, Held]:
        """Wait until trials ``numbers`` hold (with none: any trial), and return those held.

        Args:
            numbers: trial numbers that must all hold; none: at least one trial holds.
            on_node: count only trials held on this Ray node.
            at_step: count only trials held at this step or later.
            timeout_s: a generous deadline; passing it fails the test.
            alive: called while waiting; False (the study's driver ended) fails the test.
            what: named in a failure.
            explain: called on a failure; its text (a driver's output) follows the message.
        """
        return wait_for(lambda: _matching(self.held(), numbers, on_node, at_step),
                        what or f"trials {list(numbers) or 'any'} held"
                        + (f" on node {on_node}" if on_node else ""), timeout_s, alive,
                        explain=explain)


def _matching(held: dict[int, Held], numbers: Iterable[int], on_node: str | None,
              at_step: int | None) -> dict[int, Held]:
    ok = {n: h for n, h in held.items() if (on_node is None or h.node == on_node)
          and (at_step is None or h.step >= at_step)}
    numbers = list(numbers)
    if numbers:
        return ok if all(n in ok for n in numbers) else {}
    return ok


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 180.0,
             alive: Callable[[], bool] | None = None, every_s: float = 0.05,
             explain: Callable[[], str] | None = None):
    """Poll ``condition`` until it is truthy (returned); fail after ``timeout_s`` or once
    ``alive()`` is False (the condition is looked at one last time then). A failure's message
    ends with ``explain()`` when given (what the process that ended printed)."""
    why = (lambda: "") if explain is None else (lambda: "\n" + explain())
    end = time.monotonic() + timeout_s
    while True:
        if found := condition():
            return found
        if alive is not None and not alive():
            if found := condition():
                return found
            pytest.fail(f"ended before {what}{why()}", pytrace=False)
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}{why()}",
                        pytrace=False)
        time.sleep(every_s)


def environ_with(hold: TrialHold) -> dict[str, str]:
    """This process's environment, pointing workers of a subprocess's Ray at ``hold``."""
    return os.environ | hold.env

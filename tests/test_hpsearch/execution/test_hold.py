"""The test-support hold (hpsearch.execution._hold): a trial waits at a step until released."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from _trial_hold import ENV, TrialHold

from hpsearch.execution._hold import Hold


def _waiting(h: Hold, step: int, interrupt=None) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("stopped", h.wait(step, interrupt)),
                              daemon=True)
    thread.start()
    return thread, out


def test_nothing_asked_nothing_held(tmp_path):
    h = Hold(tmp_path, 3, "node-a")
    assert not h.holds(1)
    assert h.wait(1) is False and not list(tmp_path.iterdir())


def test_a_held_trial_waits_until_released_and_says_where(tmp_path):
    control = TrialHold(tmp_path)
    control.trial(3)
    h = Hold(tmp_path, 3, "node-a")
    assert not Hold(tmp_path, 4).holds(1)  # another trial is not held
    thread, out = _waiting(h, 2)
    held = control.wait_held(3, timeout_s=60)
    assert (held[3].step, held[3].node) == (2, "node-a")
    assert thread.is_alive()
    control.release(3)
    thread.join(60)
    assert out == {"stopped": False}
    assert control.held() == {}  # the marker goes when the trial goes on


def test_a_step_number_holds_from_that_step_on(tmp_path):
    control = TrialHold(tmp_path)
    control.all(from_step=5)
    assert not Hold(tmp_path, 0).holds(4)
    assert Hold(tmp_path, 0).holds(5) and Hold(tmp_path, 7).holds(9)
    control.trial(1, from_step=2)
    control.release()  # everything: `all` and each trial's
    assert not Hold(tmp_path, 1).holds(9) and not Hold(tmp_path, 0).holds(9)


def test_an_interrupt_ends_the_wait(tmp_path):
    control = TrialHold(tmp_path)
    control.all()
    told = threading.Event()
    thread, out = _waiting(Hold(tmp_path, 0), 1, told.is_set)
    control.wait_held(0, timeout_s=60)
    told.set()
    thread.join(60)
    assert out == {"stopped": True} and control.held() == {}
    assert (tmp_path / "all").exists()  # still asked: only that trial's wait ended


def test_the_folder_is_read_once_from_the_environment(tmp_path):
    # Unset when the module is imported: no hold at all, whatever is set later.
    TrialHold(tmp_path).trial(2)
    code = ("import os, sys\n"
            "from hpsearch.execution import _hold as _hold\n"
            "os.environ[sys.argv[1]] = sys.argv[2]\n"
            "h = _hold.for_trial(2, 'n')\n"
            "print(h is not None and h.holds(1))\n")
    env = {k: v for k, v in os.environ.items() if k != ENV}
    for start_env, expected in ((env, "False"), (env | {ENV: str(tmp_path)}, "True")):
        done = subprocess.run([sys.executable, "-c", code, ENV, str(tmp_path)],
                              capture_output=True, text=True, env=start_env, timeout=120)
        assert done.stdout.strip() == expected, done.stdout + done.stderr

"""What a study is doing now, as lines of text: for ``hpsearch status`` and its ``--watch`` view."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hpsearch import _attrs as A

__all__ = ["status_lines", "watch"]


def _elapsed(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def status_lines(config: Any, study: Any, now: float | None = None) -> list[str]:
    """Trials by state, the best so far, the driver, and one line per running trial.

    Args:
        config: the study's ``StudyConfig``.
        study: the ``optuna.Study``, read from its storage.
        now: the time to measure elapsed seconds against (default: now).
    """
    from optuna.trial import TrialState

    from hpsearch.results import accuracy, best_trial
    from hpsearch.search import counts_toward_budget
    from hpsearch.storage import driver_of

    now = time.time() if now is None else now
    trials = study.get_trials(deepcopy=False)
    by_state = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    done = sum(counts_toward_budget(t) for t in trials)
    target = study.user_attrs.get(A.STUDY_TARGET, config.n_trials)  # the latest run's
    asked = "" if target == config.n_trials else f" (the study file asks for {config.n_trials})"
    lines = [f"study {config.name}: {done} of {target} trials finished{asked}",
             "  " + (", ".join(f"{n} {state}" for state, n in by_state.items() if n)
                     or "no trials yet")]
    best = best_trial(study)
    if best is not None:
        lines.append(f"  best: trial {best.number}, val acc {accuracy(best):.4f}, {best.params}")
    driver = driver_of(study)
    lines.append(f"  driver: {driver}" if driver else "  no driver is running it")
    running = [t for t in trials if t.state == TrialState.RUNNING]
    if running:
        lines.append(f"  {'trial':>6}  {'node':<15}  {'epoch':>6}  {'val acc':>7}  elapsed")
    for t in running:
        curve = t.intermediate_values
        epoch = max(curve) if curve else None
        started = t.user_attrs.get(A.TRIAL_STARTED_AT)
        lines.append(
            f"  {t.number:>6}  {t.user_attrs.get(A.TRIAL_NODE_IP, '-')!s:<15}  "
            f"{epoch if epoch is not None else '-':>6}  "
            f"{f'{curve[epoch]:.4f}' if epoch is not None else '-':>7}  "
            f"{_elapsed(now - started) if started else '-'}")
    return lines


def watch(read: Callable[[], tuple[Any, Any]], write: Callable[[str], None], *,
          every_s: float = 1.0, clear: bool = True, rounds: int | None = None) -> None:
    """Redraw ``status_lines`` every ``every_s`` seconds until Ctrl-C (or ``rounds`` redraws).

    Args:
        read: returns (config, study) freshly read from the storage.
        write: where the text goes (a terminal).
        every_s: seconds between redraws.
        clear: redraw in place (ANSI: cursor home, clear screen); else print one block a time.
        rounds: stop after this many redraws (None: until interrupted).
    """
    n = 0
    try:
        while rounds is None or n < rounds:
            config, study = read()
            text = "\n".join([*status_lines(config, study),
                              f"  (refreshing every {every_s:g} s; Ctrl-C to leave)"])
            write(("\x1b[H\x1b[2J" if clear else "") + text + "\n")
            n += 1
            if rounds is None or n < rounds:
                time.sleep(every_s)
    except KeyboardInterrupt:
        write("\n")

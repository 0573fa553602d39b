"""The engine: the ask -> launch -> collect -> tell loop that runs a study's trials.

The driver (``hpsearch.search._driver``) opens the study, decides the run's plan and hands both
here with a launcher (``hpsearch.execution.RayLauncher``; in tests a fake one, no Ray) and a
scheduling strategy. The engine asks Optuna for trials, launches each, tells results as the
strategy says, and answers the pruning reports the driver decides. A trial is written before it
launches and its record when it is told, so nothing completed is lost; a trial whose worker died
is failed and run once more.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hpsearch import _attrs as A
from hpsearch.execution import Launcher, Started, TaskFailure
from hpsearch.results import accuracy, best_trial
from hpsearch.search._plan import LIVE_EVERY_S, RunPlan, counts_toward_budget, trial_seed
from hpsearch.search._progress import Progress
from hpsearch.search._record import Running, record_failure, record_result
from hpsearch.search._scheduling import Scheduling
from hpsearch.search._sharing import Share
from hpsearch.storage import (
    changed_outside,
    fail_and_requeue,
    persist_launch,
    report_step,
    stop_requested,
    write_live,
)
from hpsearch.study import resolve_params, suggest_params

__all__ = ["Engine", "RunSummary"]

log = logging.getLogger("hpsearch")

# While queued on a shared cluster with nothing running: how long between asks for a share.
_QUEUED_SLEEP_S = 0.2
# How long the driver stays off the CPU when a trial ends and a queued one takes its slot: Ray
# starts the queued one in about 2.5 ms here, twice as slowly when the driver's tell and ask
# (7 ms of CPU) run on the same cores meanwhile (docs/benchmarks.md, "The hand-off").
_HAND_OFF_S = 0.005


def _hand_off(still_out: int, slots: int) -> None:
    """Let a queued trial start in the slot a result freed before the driver tells and asks.

    Nothing waits on the driver then (the slot is taken); when nothing was queued
    (``still_out < slots``) the freed slot waits for the next ask, which goes at once.
    """
    if still_out >= slots:
        time.sleep(_HAND_OFF_S)


@dataclass
class RunSummary:
    """What one ``run_study`` call did.

    Attributes:
        name: study name.
        storage: the storage URL, passwords redacted.
        n_complete: trials told COMPLETE in this run.
        n_pruned: trials told PRUNED in this run.
        n_failed: trials told FAIL in this run.
        n_recovered: RUNNING trials of a dead driver failed and re-enqueued at start.
        n_preempted: times a trial gave its slot to a higher-priority study (checkpointed at
            an epoch boundary and resumed).
        best_value: the study's best value after this run (None when nothing completed).
        best_params: its parameters.
        best_trial: its number.
        wall_s: seconds from the first submission to the last result.
        trial_s: summed worker training seconds of this run's trials.
        max_in_flight: trials run at once.
        interrupted: the run stopped on Ctrl-C / SIGTERM.
        first_result_s: seconds from the call to the first result.
        engine: driver costs in seconds (ask, tell, report handling, live writes) and counts.
    """

    name: str
    storage: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_recovered: int = 0
    n_preempted: int = 0
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    wall_s: float = 0.0
    trial_s: float = 0.0
    max_in_flight: int = 0
    interrupted: bool = False
    first_result_s: float | None = None
    engine: dict[str, float] = field(default_factory=dict)

    @property
    def efficiency(self) -> float:
        """Summed trial time / (wall time x trials in flight): 1.0 means no worker ever idled."""
        denom = self.wall_s * self.max_in_flight
        return self.trial_s / denom if denom > 0 else 0.0


@dataclass(frozen=True)
class _Best:
    """The best so far, as the progress bar shows it."""

    value: float
    number: int


class _Costs:
    """What the driver spends, per kind of step: seconds and counts (``RunSummary.engine``)."""

    def __init__(self) -> None:
        self.totals = {f"{k}_{u}": 0.0 if u == "s" else 0
                       for k in ("ask", "tell", "report", "live") for u in ("s", "n")}

    def add(self, kind: str, since: float, n: int = 1) -> None:
        self.totals[f"{kind}_s"] += time.perf_counter() - since
        self.totals[f"{kind}_n"] += n

    def as_dict(self) -> dict[str, float]:
        """In ``RunSummary.engine``'s keys: ``ask_s``, ``n_ask``, ..."""
        return {(k if k.endswith("_s") else "n_" + k[:-2]): v for k, v in self.totals.items()}


class Engine:
    """The ask -> launch -> collect -> tell loop, with the live view and a progress bar.

    Args:
        study: the driver's study (``hpsearch.storage.open_for_writing``).
        plan: the run's plan.
        launcher: where trials run.
        scheduling: the window and when results are told (``FreeWindow``, ``Generations``).
        summary: filled in as trials finish.
        stop: polled every step; True stops the run as Ctrl-C does (a signal, a lost lease).
        t_call: when the run was asked for (``time.perf_counter``), for the first-result time.
        share: on a cluster shared with other studies, the arbiter's grant (``Share``): the
            window keeps within its slots, and trials it asks back are preempted and resumed.
    """

    def __init__(self, study: Any, plan: RunPlan, launcher: Launcher, scheduling: Scheduling,
                 summary: RunSummary, *, stop: Callable[[], bool] = lambda: False,
                 t_call: float | None = None, share: Share | None = None) -> None:
        self.study, self.plan, self.launcher, self.scheduling = study, plan, launcher, scheduling
        self.share = share
        self.paused: list[Running] = []  # preempted, waiting for a slot to resume
        self._cpu_s = 0.0  # CPU-seconds of this run's finished trial parts (for the arbiter)
        self.summary, self._stop, self._t_call = summary, stop, t_call or time.perf_counter()
        self.running: dict[int, Running] = {}
        self.n_done = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
        self.costs = _Costs()
        self.progress = Progress(plan.n_target, self.n_done, plan.progress)
        best = best_trial(study)
        self.best = None if best is None else _Best(accuracy(best), best.number)
        self.stopping = False  # a stop was asked for: no new trial; the running ones abandoned
        self._started_wall = time.time()

    def run(self) -> None:
        """Run trials until the target is reached, the timeout passes, or a stop is asked."""
        deadline = None if self.plan.timeout_s is None else time.monotonic() + self.plan.timeout_s
        t_first = None
        live_due = time.monotonic() + LIVE_EVERY_S
        try:
            while not self.stopping:
                slots = self.launcher.slots()
                window = self.scheduling.window(len(self.running), slots)
                if self.share is not None:
                    window = self._within_share(window, slots)
                self.summary.max_in_flight = max(self.summary.max_in_flight,
                                                 self.scheduling.widest(slots))
                while self.paused and len(self.running) < window:
                    self._resume(self.paused.pop(0))
                while (len(self.running) < window and self._left_to_ask(deadline) > 0
                       and self.scheduling.ready_to_ask()):
                    self._launch()
                    t_first = t_first or time.perf_counter()
                if not self.running:
                    if self.paused or (self.share is not None and window == 0
                                       and self._left_to_ask(deadline) > 0):
                        time.sleep(_QUEUED_SLEEP_S)  # queued on a shared cluster
                        self.stopping = self.stopping or self._stop()
                        continue
                    break
                live_now = time.monotonic() >= live_due
                events = self.launcher.wait(1.0, live=live_now)
                _hand_off(len(self.running) - len(events.results), slots)
                if events.reports is not None:
                    self._answer(events.reports)
                for number, outcome in events.results:
                    self._collect(number, outcome)
                if events.live is not None:
                    self._live(events.live)
                    live_due = time.monotonic() + LIVE_EVERY_S
                self._enforce_timeouts()
                self.progress.update(len(self.running), self.best)
                self.stopping = self.stopping or self._stop()
            if self.stopping:
                self._abandon_running()
            self.scheduling.flush()
        except KeyboardInterrupt:  # a second Ctrl-C: stop now
            self._abandon_running()
        finally:
            self.progress.close()
            if t_first is not None:
                self.summary.wall_s = time.perf_counter() - t_first
            self.summary.engine = self.costs.as_dict()
            self.launcher.close()

    def _launch(self) -> None:
        t0 = time.perf_counter()
        trial = self.study.ask()
        sampled = suggest_params(trial, self.plan.space)
        seed = trial_seed(self.plan.seed, trial.number)
        trial.set_user_attr(A.TRIAL_SEED, seed)
        params = resolve_params(sampled, self.plan.space)
        # Stored before it runs: a driver that dies now leaves it RUNNING, with its parameters.
        persist_launch(self.study, trial)
        self.costs.add("ask", t0)
        visible = self.scheduling.visible()  # before this ask counts
        self.scheduling.asked(trial.number)
        self.launcher.launch(trial.number, params, seed, visible)
        self.running[trial.number] = Running(trial, dict(trial.params), time.monotonic(),
                                             visible=visible)

    def _resume(self, entry: Running) -> None:
        """Launch a preempted trial again, from its checkpoint (on whichever node has room)."""
        number = entry.trial.number
        params = resolve_params(entry.params, self.plan.space)
        self.launcher.launch(number, params, int(entry.trial.user_attrs[A.TRIAL_SEED]),
                             entry.visible, resume=entry.checkpoint)
        entry.submitted, entry.preempting, entry.checkpoint = time.monotonic(), False, None
        self.running[number] = entry

    def _left_to_ask(self, deadline: float | None) -> int:
        if deadline is not None and time.monotonic() >= deadline:
            return 0
        return max(0, self.plan.n_target - self.n_done - len(self.running) - len(self.paused)
                   - self.scheduling.n_held)

    def _within_share(self, window: int, slots: int) -> int:
        """Ask the arbiter (without waiting), give back what it asks back; the window it allows."""
        now = time.monotonic()
        cpu_s = self._cpu_s + self.plan.task.cpus * sum(now - e.submitted
                                                        for e in self.running.values())
        window, preempt = self.share.window(window, slots, self.running,
                                            self._left_to_ask(None) + len(self.paused), cpu_s,
                                            self.n_done + self.summary.n_preempted)
        self.progress.sharing = self.share.facts
        for number in preempt:
            self.running[number].preempting = True
            self.launcher.preempt_trial(number)
        return window

    def _answer(self, reports: list[Any]) -> None:
        """Decide the reports that wait for the driver (Hyperband, on the stored study)."""
        t0 = time.perf_counter()
        decisions = []
        for r in reports:
            entry = self.running.get(r.trial)
            if entry is None:  # the trial already finished; its answer no longer matters
                decisions.append((r.trial, r.epoch, False))
                continue
            entry.trial.report(r.value, r.epoch)  # Hyperband: never a multi-objective study
            entry.reported.add(r.epoch)
            decisions.append((r.trial, r.epoch, bool(entry.trial.should_prune())))
        self.launcher.decide(decisions)
        self.costs.add("report", t0, len(reports))

    def _collect(self, number: int, outcome: Any) -> None:
        entry = self.running.pop(number)
        if not isinstance(outcome, TaskFailure):  # duration_s sums a resumed trial's parts
            self._cpu_s += (outcome.duration_s - entry.counted_s) * self.plan.task.cpus
            entry.counted_s = outcome.duration_s
        if getattr(outcome, "state", None) == "preempted":  # gave its slot back: resumes later
            entry.checkpoint = outcome.checkpoint
            self.paused.append(entry)
            self.summary.n_preempted += 1
            log.info("trial %d gave its slot to a higher-priority study at epoch %d; it "
                     "resumes from there", number, outcome.epochs_run)
            return
        if isinstance(outcome, TaskFailure):
            again = outcome.lost and entry.trial.user_attrs.get(A.TRIAL_RETRY_OF) is None
            self.scheduling.settle(number, lambda: self._fail(entry, outcome.reason, again))
        else:
            self.scheduling.settle(number, lambda: self._tell(entry, outcome))

    def _tell(self, entry: Running, result: Any) -> None:
        t0 = time.perf_counter()
        state, value = record_result(self.study, entry, result, self.plan.fingerprint,
                                     self.plan.costs)
        number = entry.trial.number
        if state == "complete":
            self.summary.n_complete += 1
            if self.best is None or (value, -number) > (self.best.value, -self.best.number):
                self.best = _Best(value, number)
        elif state == "pruned":
            self.summary.n_pruned += 1
        else:
            self.summary.n_failed += 1
        self.summary.trial_s += result.duration_s
        if self.summary.first_result_s is None:
            self.summary.first_result_s = time.perf_counter() - self._t_call
        self._done(number, state, result.value)
        self.costs.add("tell", t0)

    def _fail(self, entry: Running, reason: str, requeue: bool = False) -> None:
        record_failure(self.study, entry, reason, requeue)
        self.summary.n_failed += 1
        self._done(entry.trial.number, "failed", None)

    def _done(self, number: int, state: str, value: float | None) -> None:
        self.n_done += 1
        self.progress.done(state)
        self.launcher.finished(number, state, value)

    def _live(self, items: list[Any]) -> None:
        """Write running trials' new points in one transaction; honour changes from outside."""
        t0 = time.perf_counter()
        touched: dict[int, Any] = {}
        for item in items:
            entry = self.running.get(item.trial)
            if entry is None:  # finished meanwhile: its whole record is written already
                continue
            if isinstance(item, Started):
                entry.trial.set_user_attr(A.TRIAL_NODE, item.node)
                entry.trial.set_user_attr(A.TRIAL_NODE_IP, item.node_ip)
                entry.trial.set_user_attr(A.TRIAL_STARTED_AT, item.started_at)
            elif item.epoch not in entry.reported:
                report_step(self.study, entry.trial, item.value, item.epoch)
                entry.reported.add(item.epoch)
            touched[entry.trial.number] = entry.trial
        write_live(self.study, list(touched.values()))
        watched = {n: e for n, e in self.running.items() if e.outside is None}
        for number, state in changed_outside(self.study, [e.trial for e in watched.values()]
                                             ).items():
            watched[number].outside = state
            self.launcher.stop_trial(number)
            log.warning("trial %d was marked %s from outside: stopping it", number, state.name)
        if stop_requested(self.study, since=self._started_wall):
            log.warning("a stop was requested (hpsearch stop): stopping after the current step")
            self.stopping = True
        self.costs.add("live", t0)

    def _enforce_timeouts(self) -> None:
        """Hard stop for a trial that ignores its own deadline (stuck inside an epoch)."""
        limit = self.plan.task.timeout_s
        if limit is None:
            return
        now = time.monotonic()
        # Measured from submission, so allow for time queued behind a running trial.
        for number, entry in self.running.items():
            if now - entry.submitted > 2 * limit + 10:
                self.launcher.cancel(number)
                entry.submitted = math.inf  # cancel once; the result arrives as cancelled

    def _abandon_running(self) -> None:
        """Stop: keep what finished; the rest recorded as interrupted and enqueued again."""
        self.summary.interrupted = True
        if self.running:
            for number, outcome in self.launcher.wait(0.0, every=True).results:
                self._collect(number, outcome)
        self.scheduling.flush()  # finished trials are kept, in order
        for number, entry in list(self.running.items()):
            self.launcher.cancel(number)
            fail_and_requeue(self.study, entry.trial, entry.params, A.REASON_INTERRUPTED)
            self.launcher.finished(number, "failed", None)
            del self.running[number]
        for entry in self.paused:  # preempted, never resumed: run again from the start
            fail_and_requeue(self.study, entry.trial, entry.params, A.REASON_INTERRUPTED)
            self.launcher.finished(entry.trial.number, "failed", None)
        self.paused.clear()
        log.warning("interrupted: running trials recorded as 'interrupted' and enqueued again")



"""A driver's share of a cluster shared with other studies: what the arbiter grants, asked often.

On a cluster (``[run] address``, ``hpsearch submit``) every driver takes its trial slots from
the cluster's arbiter (``hpsearch.service``: weights, priorities, quotas). ``Share`` is the
engine's side: every step it offers the arbiter what the study wants now (trials running, trials
it could start, CPU-seconds used) without waiting for the answer, and the engine keeps within
the latest grant: no new trial beyond ``slots``, ``preempt`` running trials stopped at their next
epoch boundary (checkpointed, resumed when slots come back). Ray-free: the client is given.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from hpsearch.service._arbiter import Ask, Grant

__all__ = ["Share", "SharingSettings", "preempt_newest"]

log = logging.getLogger("hpsearch")

# Asks go out at least this often, and whenever a trial starts or ends: each is one actor round
# trip, not waited for (the grant is read on a later step).
_ASK_EVERY_S = 0.25


@dataclass(frozen=True)
class SharingSettings:
    """How a study shares a cluster (``[run] weight``, ``priority``, ``max_cpus``)."""

    weight: float = 1.0
    priority: int = 0
    max_cpus: float | None = None


class Share:
    """The latest grant of the cluster's arbiter for this driver.

    Args:
        client: an ``ArbiterClient`` (``offer`` never waits, ``close`` says goodbye).
        driver: this driver's id (unique on the cluster: the Ray job id, or host and pid).
        study: the study's name.
        settings: its weight, priority and CPU cap.
        cpus_per_trial: CPUs each trial takes.
    """

    def __init__(self, client: Any, driver: str, study: str, settings: SharingSettings,
                 cpus_per_trial: float) -> None:
        self._client, self._driver, self._study = client, driver, study
        self._settings, self._cpus = settings, cpus_per_trial
        self._asked_at = -1e18
        self._asked_for: tuple[int, int] | None = None
        self.grant: Grant | None = None
        self._position: int | None = None
        self.facts: dict[str, Any] | None = None  # for the progress lines (``hpsearch jobs``)

    def window(self, window: int, slots: int, running: dict[int, Any], waiting: int,
               cpu_s: float, n_ended: int) -> tuple[int, list[int]]:
        """The engine's window within the grant, and the running trials to preempt now.

        Alone on the cluster the window keeps its queued trial; sharing it, a queued trial
        would take a CPU that frees up from whichever study it belongs to, so none is queued.

        Args:
            window: the scheduling's window (``Scheduling.window``).
            slots: the cluster's trial slots.
            running: trial number -> the engine's entry (``preempting`` marks those asked).
            waiting: trials it could start now (left to ask, and preempted ones to resume).
            cpu_s: CPU-seconds its trials used so far.
            n_ended: trial parts ended so far (``update``).
        """
        grant = self.update(len(running), len(running) + min(waiting, slots), cpu_s, n_ended)
        s = self._settings
        self.facts = {"weight": s.weight, "priority": s.priority, "share": round(grant.share, 4),
                      "slots": grant.slots, "queue": grant.queue_position,
                      "cpu_s": round(cpu_s, 1)}
        allowed = window if grant.slots >= slots else min(window, grant.slots)
        return allowed, preempt_newest(running, grant.preempt)

    def update(self, running: int, demand: int, cpu_s: float, n_ended: int) -> Grant:
        """Offer what the study wants now; the latest grant (fresh at most a round trip ago).

        Args:
            running: its trials launched and not ended.
            demand: trials it would have running now if allowed.
            cpu_s: CPU-seconds its trials used so far (never decreasing).
            n_ended: trial parts ended so far (finished or preempted): a change asks at once.
        """
        now = time.monotonic()
        if self.grant is None or now - self._asked_at >= _ASK_EVERY_S or (
                (running, n_ended) != self._asked_for):
            s = self._settings
            self.grant = self._client.offer(Ask(
                driver=self._driver, study=self._study, weight=s.weight, priority=s.priority,
                max_cpus=s.max_cpus, cpus_per_trial=self._cpus, demand=demand,
                running=running, cpu_s=cpu_s))
            self._asked_at, self._asked_for = now, (running, n_ended)
            self._say_queue(self.grant)
        return self.grant

    def _say_queue(self, grant: Grant) -> None:
        if grant.queue_position != self._position:
            self._position = grant.queue_position
            if grant.queue_position is not None:
                log.info("study %s is queued on the cluster: position %d (waiting for a share)",
                         self._study, grant.queue_position)
            else:
                log.info("study %s has %d trial slot(s) on the cluster (share %.0f%%)",
                         self._study, grant.slots, 100 * grant.share)

    def close(self) -> None:
        """The run ended: its CPUs go to the other studies now, not at the lease's expiry."""
        self._client.close()


def preempt_newest(running: dict[int, Any], preempt: int) -> list[int]:
    """The running trials to stop now so that ``preempt`` of them are giving their slot back.

    The newest first (the highest numbers): they have the least training to checkpoint and
    the most left, and the oldest finish soonest on their own.
    """
    stopping = sum(1 for e in running.values() if e.preempting)
    more = max(0, preempt - stopping)
    candidates = sorted((n for n, e in running.items() if not e.preempting), reverse=True)
    return candidates[:more]

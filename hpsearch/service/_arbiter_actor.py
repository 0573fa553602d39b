"""The arbiter as one Ray actor per cluster, and the client a driver asks it through.

``get_arbiter`` gets or creates the actor: named ``ARBITER_NAME`` in the namespace
``ARBITER_NAMESPACE`` (whatever namespace the driver's job runs in), detached so it outlives the
job that started it, with ``num_cpus=0`` so it takes no trial's CPU. Two drivers creating it at
once end with one: Ray registers a name once, and the creator that loses gets the winner's
handle (``get_if_exists``).

It holds only the drivers' last asks (``FairShare``). Restarted by Ray after a crash
(``max_restarts=-1``) or created again after a kill, it starts empty and the drivers' next asks,
about one a second each, rebuild it; meanwhile each driver goes on with its last grant
(``ArbiterClient``), so losing the arbiter loses nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import ray

from hpsearch.service._arbiter import LEASE_S, ArbiterRow, Ask, FairShare, Grant

__all__ = ["ARBITER_NAME", "ARBITER_NAMESPACE", "ASK_TIMEOUT_S", "Arbiter", "ArbiterClient",
           "arbiter_table", "get_arbiter"]

logger = logging.getLogger(__name__)

ARBITER_NAME = "hpsearch-arbiter"
ARBITER_NAMESPACE = "hpsearch"
#: Seconds a driver waits for a grant before it goes on with its last one.
ASK_TIMEOUT_S = 2.0
# Seconds between reads of the cluster's CPUs (a GCS call; nodes come and go slowly).
_CAPACITY_EVERY_S = 2.0


@ray.remote(num_cpus=0, max_restarts=-1)
class Arbiter:
    """The cluster's ``FairShare``, asked by every driver (one call at a time: no locks).

    Args:
        lease_s: a driver not heard from for this long is forgotten.
        capacity: CPUs to share; None reads the cluster's total CPUs every few seconds.
    """

    def __init__(self, lease_s: float = LEASE_S, capacity: float | None = None) -> None:
        self._policy = FairShare(lease_s)
        self._fixed = capacity
        self._capacity, self._read_at = 0.0, -math.inf

    def ask(self, ask: Ask) -> Grant:
        """Record ``ask`` and return the driver's grant."""
        return self._policy.ask(ask, self._cpus())

    def forget(self, driver: str) -> None:
        """Drop a driver that finished."""
        self._policy.forget(driver)

    def table(self) -> list[ArbiterRow]:
        """Every live driver, by priority then arrival."""
        return self._policy.table()

    def _cpus(self) -> float:
        if self._fixed is not None:
            return self._fixed
        now = time.monotonic()
        if now - self._read_at > _CAPACITY_EVERY_S:
            self._capacity = float(ray.cluster_resources().get("CPU", 0.0))
            self._read_at = now
        return self._capacity


def get_arbiter(create: bool = True, *, lease_s: float = LEASE_S,
                capacity: float | None = None) -> Any:
    """The cluster's arbiter (a Ray actor handle), created if missing when ``create``.

    ``lease_s`` and ``capacity`` (see ``Arbiter``) only matter to the call that creates it.
    Ray must be initialized.

    Returns:
        The handle, or None when ``create`` is False and there is no live arbiter.
    """
    if not create:
        try:
            return ray.get_actor(ARBITER_NAME, namespace=ARBITER_NAMESPACE)
        except ValueError:  # none registered under that name (or it is dead)
            return None
    return Arbiter.options(name=ARBITER_NAME, namespace=ARBITER_NAMESPACE, lifetime="detached",
                           get_if_exists=True).remote(lease_s, capacity)


def arbiter_table(timeout_s: float = ASK_TIMEOUT_S) -> list[ArbiterRow] | None:
    """The arbiter's drivers (``hpsearch jobs``), or None when there is no arbiter to ask."""
    handle = get_arbiter(create=False)
    if handle is None:
        return None
    try:
        return ray.get(handle.table.remote(), timeout=timeout_s)
    except (ray.exceptions.RayError, TimeoutError):
        return None


class ArbiterClient:
    """A driver's way to the arbiter: ``ask`` never raises and never waits long.

    When the arbiter is slow or gone, ``ask`` returns the last grant again, marked ``stale``
    and with ``preempt`` 0 (nothing is stopped on old news); the next ask gets the arbiter
    again, creating it if it is gone. A driver that never reached one runs as if alone.
    At most one ask is in flight: a slow arbiter's queue does not grow.

    Args:
        timeout_s: the longest an ask waits.
        lease_s: the lease of an arbiter this client creates.
    """

    def __init__(self, *, timeout_s: float = ASK_TIMEOUT_S, lease_s: float = LEASE_S) -> None:
        self.timeout_s, self._lease_s = timeout_s, lease_s
        self._handle: Any = None
        self._pending: Any = None  # the ref of an ask that timed out, still awaited
        self._driver: str | None = None
        self.last: Grant | None = None

    def ask(self, ask: Ask) -> Grant:
        """The grant for ``ask``: fresh, or the last one (``stale``) if none came in time."""
        self._driver = ask.driver
        try:
            if self._handle is None:
                self._handle = get_arbiter(lease_s=self._lease_s)
            ref = self._pending if self._pending is not None else self._handle.ask.remote(ask)
            ready, _ = ray.wait([ref], timeout=self.timeout_s)
            if not ready:
                self._pending = ref
                return self._fallback(ask)
            self._pending = None
            grant = ray.get(ref)
        except Exception as e:  # never into the driver's loop: a dead actor, a lost GCS, ...
            logger.info("arbiter unreachable (%s): going on with the last grant",
                        type(e).__name__)
            self._handle = self._pending = None
            return self._fallback(ask)
        self.last = grant
        return grant

    def offer(self, ask: Ask) -> Grant:
        """The latest grant, without waiting: ``ask`` goes out when the last one was answered.

        The driver's loop calls this every step; a grant comes one round trip later (about a
        millisecond), so no trial waits on the arbiter. Until the first answer, and while the
        arbiter cannot be reached, the last grant (or, never having had one, ``ask.limit``).
        """
        self._driver = ask.driver
        try:
            if self._handle is None:
                self._handle = get_arbiter(lease_s=self._lease_s)
            if self._pending is not None:
                ready, _ = ray.wait([self._pending], timeout=0)
                if not ready:
                    return self.last or self._fallback(ask)
                self.last, self._pending = ray.get(self._pending), None
            self._pending = self._handle.ask.remote(ask)
        except Exception as e:  # never into the driver's loop
            logger.info("arbiter unreachable (%s): going on with the last grant",
                        type(e).__name__)
            self._handle = self._pending = None
            return self._fallback(ask)
        return self.last or self._fallback(ask)

    def close(self) -> None:
        """Tell the arbiter this driver is done (best effort), so its CPUs go to the others."""
        if self._handle is None or self._driver is None:
            return
        try:
            ray.get(self._handle.forget.remote(self._driver), timeout=self.timeout_s)
        except Exception as e:  # the lease expires anyway
            logger.info("could not tell the arbiter this driver is done: %s", type(e).__name__)
        self._handle = self._pending = None

    def _fallback(self, ask: Ask) -> Grant:
        if self.last is not None:
            return dataclasses.replace(self.last, preempt=0, stale=True)
        # Never reached an arbiter: as today without one (the window still caps at the
        # cluster's CPUs).
        return Grant(slots=ask.limit, share=1.0, cpus=ask.limit * ask.cpus_per_trial,
                     lease_s=self._lease_s, stale=True)

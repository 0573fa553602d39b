"""One driver per study, wherever it runs: a lease held in the study's own storage.

The lease is a row of the study's system attributes, changed only by compare-and-swap, so two
drivers on one database (two runs directories, two machines on one PostgreSQL) cannot both hold
it. Its holder refreshes a heartbeat every ``HEARTBEAT_S``; a lease whose heartbeat is older than
``EXPIRY_S`` belongs to a dead driver and may be taken over, and so may one whose holder ran on
this host under a process id that no longer exists (a SIGKILLed driver resumes at once).
Hosts are assumed to keep their clocks in step (NTP), as for any lease.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hpsearch.storage._errors import StudyLockedError
from hpsearch.storage._optuna import lease_read, lease_swap

__all__ = ["EXPIRY_S", "HEARTBEAT_S", "Holder", "Lease", "StudyLockedError", "acquire",
           "current_holder"]

log = logging.getLogger("hpsearch")

LEASE_KEY = "hpsearch:driver_lease"
HEARTBEAT_S = 5.0
EXPIRY_S = 30.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as stored."""

    token: str
    host: str
    pid: int
    since: float
    heartbeat: float

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            raw = json.loads(text)
            return cls(str(raw["token"]), str(raw["host"]), int(raw["pid"]),
                       float(raw["since"]), float(raw["heartbeat"]))
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: treated as expired

    def dump(self) -> str:
        return json.dumps({"token": self.token, "host": self.host, "pid": self.pid,
                           "since": self.since, "heartbeat": self.heartbeat})

    def alive(self, now: float) -> bool:
        if now - self.heartbeat > EXPIRY_S:
            return False
        if self.host == socket.gethostname():
            return _pid_alive(self.pid)
        return True

    def describe(self, now: float) -> str:
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (f"driver pid {self.pid} on host {self.host!r} since {since} "
                f"(last heartbeat {max(now - self.heartbeat, 0):.0f} s ago)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """A held lease: refreshed by a daemon thread until ``release``.

    Attributes:
        lost: set when another driver took the lease over (this one's heartbeat stalled past
            ``EXPIRY_S``); the engine stops launching trials then.
    """

    def __init__(self, backend: Any, study_id: int, held: Holder) -> None:
        self._backend, self._study_id, self._held = backend, study_id, held
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hpsearch-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            fresh = Holder(self._held.token, self._held.host, self._held.pid, self._held.since,
                           time.time())
            try:
                ok = lease_swap(self._backend, self._study_id, LEASE_KEY, self._held.dump(),
                                fresh.dump())
            except Exception as exc:  # a database hiccup: try again on the next beat
                log.warning("study lease heartbeat failed (%s); retrying", type(exc).__name__)
                continue
            if not ok:
                log.error("the study lease was taken over by another driver: stopping")
                self.lost.set()
                return
            self._held = fresh

    def release(self) -> None:
        """Stop the heartbeat and give the lease up (a release that fails only lets it expire)."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.lost.is_set():
            return
        gone = Holder(self._held.token, self._held.host, self._held.pid, self._held.since, 0.0)
        try:
            lease_swap(self._backend, self._study_id, LEASE_KEY, self._held.dump(), gone.dump())
        except Exception:  # expiry frees it anyway
            log.warning("could not release the study lease; it expires in %.0f s", EXPIRY_S)


def current_holder(backend: Any, study_id: int) -> Holder | None:
    """The live driver of a study, if any (for status views)."""
    text = lease_read(backend, study_id, LEASE_KEY)
    holder = None if text is None else Holder.parse(text)
    return holder if holder is not None and holder.alive(time.time()) else None


def acquire(backend: Any, study_id: int, study_name: str) -> Lease:
    """Take the study's lease, or raise ``StudyLockedError`` naming who holds it."""
    for _ in range(5):  # a lost race re-reads once and decides again
        text = lease_read(backend, study_id, LEASE_KEY)
        now = time.time()
        old = None if text is None else Holder.parse(text)
        if old is not None and old.alive(now):
            raise StudyLockedError(
                f"study {study_name!r} is being run by {old.describe(now)}; only one driver may "
                f"run a study. Stop that one (or wait {EXPIRY_S:.0f} s after it dies) and retry")
        mine = Holder(uuid.uuid4().hex, socket.gethostname(), os.getpid(), now, now)
        if lease_swap(backend, study_id, LEASE_KEY, text, mine.dump()):
            return Lease(backend, study_id, mine)
    raise StudyLockedError(f"study {study_name!r}: another driver is taking its lease right now")

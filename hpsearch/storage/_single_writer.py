"""The driver's study storage: every read from memory, every write through to the real storage.

The driver is a study's only writer (workers never open the storage, and the study lease keeps a
second driver out), so it never needs to read back what it wrote. ``SingleWriterStorage`` keeps
the trials of the studies it opens in an ``optuna.storages.InMemoryStorage`` and serves every read
from there (TPE reads the whole study on every ``ask``: from SQLite, a read per ask; the
measured costs are in docs/benchmarks.md, "Costs the code cites").
Writes reach the backend (the SQLite file, or any RDB URL) at sync points, each in one
transaction:

- a trial created from a template (``enqueue_trial``) is written at once;
- a new trial's parameters and attributes are written by ``sync``, which the engine calls just
  before it launches the trial, so a driver that dies leaves it RUNNING with its parameters,
  ready to be failed as "interrupted" and enqueued again;
- a finished trial's learning curve, attributes, value and state are written together when it is
  told, so no reader ever sees a finished trial without its record.

Other processes (``hpsearch status``, reports) read the backend directly and see each trial from
its launch on. Study-level attributes go straight through to the backend, and so do reads of a
study this storage has not opened.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Container, Sequence
from typing import Any, NoReturn

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage._optuna import create_rdb, read_states, transaction, update_rdb
from hpsearch.storage._optuna import trial_id as trial_id_of
from hpsearch.storage._records import StorageConflictError, changed, check_number, snapshot
from hpsearch.storage._through import StudiesThroughToBackend

__all__ = ["SingleWriterStorage"]

log = logging.getLogger("hpsearch")


class SingleWriterStorage(StudiesThroughToBackend):
    """An Optuna storage for a study's only writer.

    Args:
        backend: the storage that keeps the study (an ``RDBStorage`` gets one transaction per
            sync; any other ``BaseStorage`` gets its public calls, one per changed field).

    Study ids are the backend's; trial ids are this storage's own (pass them only to it).
    Study names and attributes go straight through to the backend (``StudiesThroughToBackend``).
    """

    def __init__(self, backend: BaseStorage) -> None:
        super().__init__(backend)
        self._mem = InMemoryStorage()
        self._lock = threading.RLock()
        self._mem_study_ids: dict[int, int] = {}  # backend study id -> memory study id
        self._backend_trial_ids: dict[int, int] = {}  # memory trial id -> backend trial id
        self._backend_study_of: dict[int, int] = {}  # memory trial id -> backend study id
        # Memory trial id -> the trial as last written, for unfinished trials only: a finished
        # trial can never change again (Optuna refuses), so no copy of it is kept (the memory
        # of a 20,000-trial study would otherwise hold every trial twice).
        self._written: dict[int, FrozenTrial] = {}
        self._dirty: set[int] = set()

    # -- studies: the backend's, mirrored in memory when first used --------------------------
    def create_new_study(self, directions: Sequence[StudyDirection],
                         study_name: str | None = None) -> int:
        study_id = self._backend.create_new_study(directions, study_name)
        with self._lock:
            self._mirror(study_id)
        return study_id

    def get_study_id_from_name(self, study_name: str) -> int:
        study_id = self._backend.get_study_id_from_name(study_name)
        with self._lock:
            if study_id not in self._mem_study_ids:
                self._mirror(study_id)
        return study_id

    def _mirror(self, study_id: int) -> None:
        """Copy a backend study and its trials into memory (the lock held)."""
        mem_id, copied = _copy_study(self._backend, self._mem, study_id)
        self._mem_study_ids[study_id] = mem_id
        for mem_trial_id, trial in copied:
            self._backend_trial_ids[mem_trial_id] = trial_id_of(trial)
            self._backend_study_of[mem_trial_id] = study_id
            if not trial.state.is_finished():
                self._written[mem_trial_id] = snapshot(self._mem.get_trial(mem_trial_id))

    def delete_study(self, study_id: int) -> None:
        self._backend.delete_study(study_id)
        with self._lock:
            mem_id = self._mem_study_ids.pop(study_id, None)
            if mem_id is not None:
                for trial in self._mem.get_all_trials(mem_id, deepcopy=False):
                    self._backend_trial_ids.pop(trial_id_of(trial), None)
                    self._backend_study_of.pop(trial_id_of(trial), None)
                    self._written.pop(trial_id_of(trial), None)
                    self._dirty.discard(trial_id_of(trial))
                self._mem.delete_study(mem_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._mem.get_study_directions(self._mem_study_id(study_id))

    def _mem_study_id(self, study_id: int) -> int:
        """The memory copy's id of a study: a study not mirrored yet is read in on first use."""
        with self._lock:
            if study_id not in self._mem_study_ids:
                try:
                    self._backend.get_study_name_from_id(study_id)
                except KeyError:
                    raise KeyError(f"No study with study_id {study_id} exists.") from None
                self._mirror(study_id)
            return self._mem_study_ids[study_id]

    def __reduce__(self) -> NoReturn:
        # Only the driver may write a study; a pickled copy (sent to a worker, say) would be a
        # second writer whose memory goes stale at once.
        raise TypeError("SingleWriterStorage cannot be pickled: it is the driver's own view of "
                        "the study; other processes open the storage URL for reading instead")

    # -- trials: written in memory, synced to the backend ------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        with self._lock:
            trial_id = self._mem.create_new_trial(self._mem_study_id(study_id), template_trial)
            self._backend_study_of[trial_id] = study_id
            self._dirty.add(trial_id)
            if template_trial is not None:  # an enqueued trial: it must outlive this driver
                self.sync()
            return trial_id

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        with self._lock:
            self._mem.set_trial_param(trial_id, param_name, param_value_internal, distribution)
            self._dirty.add(trial_id)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        with self._lock:
            if not self._mem.set_trial_state_values(trial_id, state, values):
                return False
            self._dirty.add(trial_id)
            if state.is_finished():
                self.sync(trial_id)
            return True

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        with self._lock:
            self._mem.set_trial_intermediate_value(trial_id, step, intermediate_value)
            self._dirty.add(trial_id)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            self._mem.set_trial_user_attr(trial_id, key, value)
            self._dirty.add(trial_id)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            self._mem.set_trial_system_attr(trial_id, key, value)
            self._dirty.add(trial_id)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._mem.get_trial_id_from_study_id_trial_number(
            self._mem_study_id(study_id), trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._mem.get_trial_number_from_id(trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self._mem.get_trial_param(trial_id, param_name)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._mem.get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._mem.get_all_trials(self._mem_study_id(study_id), deepcopy, states)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self._mem.get_best_trial(self._mem_study_id(study_id))

    # -- sync ---------------------------------------------------------------------------------
    def sync(self, trial_id: int | None = None) -> None:
        """Write what changed in memory to the backend: one trial, or every changed trial.

        Trials the backend does not hold yet are written in number order, so the backend numbers
        them as this storage did (with one trial, every unwritten trial before it goes first).
        """
        with self._lock:
            if trial_id is None:
                self.sync_many(list(self._dirty))
                return
            number = self._mem.get_trial_number_from_id(trial_id)
            todo = [t for t in self._dirty if t not in self._backend_trial_ids
                    and self._mem.get_trial_number_from_id(t) < number]
            self.sync_many([*todo, trial_id])

    def sync_many(self, trial_ids: Sequence[int]) -> None:
        """Write the changes of several trials in one transaction (an RDB backend's), in order."""
        with self._lock:
            todo = sorted({t for t in trial_ids if t in self._dirty},
                          key=self._mem.get_trial_number_from_id)
            if not todo:
                return
            if not isinstance(self._backend, RDBStorage):
                for tid in todo:
                    self._write_trial(tid, None)
                return
            kept: list[int] = []
            with transaction(self._backend) as conn:
                for tid in todo:
                    if not self._write_trial(tid, conn):
                        kept.append(tid)
            for tid in kept:
                log.warning("trial %d: its state was changed from outside (e.g. failed from the "
                            "dashboard) before the driver wrote %s; the outside change is kept",
                            self._mem.get_trial_number_from_id(tid),
                            self._mem.get_trial(tid).state.name)

    def _write_trial(self, trial_id: int, conn: Any) -> bool:
        """Write one trial (within ``conn``'s transaction for an RDB backend).

        Returns False when the stored state had been changed from outside and was kept.
        """
        trial = self._mem.get_trial(trial_id)
        old = self._written.get(trial_id)
        applied = True
        if trial_id not in self._backend_trial_ids:
            self._backend_trial_ids[trial_id] = self._create_in_backend(trial_id, trial, conn)
        elif old is None:  # finished and written: unreachable, Optuna refuses to change it
            raise ValueError(f"trial {trial.number} changed after it finished")
        elif conn is not None:
            applied = update_rdb(conn, self._backend_trial_ids[trial_id], old, trial)
        else:
            _update_generic(self._backend, self._backend_trial_ids[trial_id], old, trial)
        if trial.state.is_finished():
            self._written.pop(trial_id, None)
        else:
            self._written[trial_id] = snapshot(trial)
        self._dirty.discard(trial_id)
        return applied

    def _create_in_backend(self, trial_id: int, trial: FrozenTrial, conn: Any) -> int:
        study_id = self._backend_study_of[trial_id]
        if conn is not None:
            return create_rdb(conn, study_id, trial)  # checks the number before commit
        backend_id = self._backend.create_new_trial(study_id, template_trial=trial)
        check_number(trial.number, self._backend.get_trial_number_from_id(backend_id))
        return backend_id

    def changed_outside(self, trial_ids: Sequence[int]) -> dict[int, TrialState]:
        """Trials whose stored state differs from what this storage wrote: id -> stored state.

        One query for all of them (an RDB backend); other backends are read trial by trial.
        """
        with self._lock:
            ours = {self._backend_trial_ids[t]: (t, self._written[t].state) for t in trial_ids
                    if t in self._backend_trial_ids and t in self._written}
        if not ours:
            return {}
        if isinstance(self._backend, RDBStorage):
            in_backend = read_states(self._backend, list(ours))
        else:
            in_backend = {b: self._backend.get_trial(b).state for b in ours}
        return {ours[b][0]: state for b, state in in_backend.items() if state != ours[b][1]}

    def backend_trial(self, trial_id: int) -> FrozenTrial:
        """The trial as the backend holds it now."""
        return self._backend.get_trial(self._backend_trial_ids[trial_id])


def _copy_study(backend: BaseStorage, mem: InMemoryStorage, study_id: int
                ) -> tuple[int, list[tuple[int, FrozenTrial]]]:
    """Study ``study_id`` of ``backend`` created in ``mem`` with its trials, numbered alike.

    Returns:
        The memory study's id, and (memory trial id, backend trial) for each trial.

    Raises:
        StorageConflictError: the backend's trial numbers have gaps (another writer).
    """
    # Optuna logs every study it creates; the copy in memory is not news to anyone.
    quiet = logging.getLogger("optuna.storages._in_memory")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        mem_id = mem.create_new_study(backend.get_study_directions(study_id),
                                      backend.get_study_name_from_id(study_id))
    finally:
        quiet.setLevel(level)
    backend_trials = sorted(backend.get_all_trials(study_id, deepcopy=False),
                            key=lambda t: t.number)
    copied = []
    for trial in backend_trials:
        mem_trial_id = mem.create_new_trial(mem_id, template_trial=trial)
        if mem.get_trial_number_from_id(mem_trial_id) != trial.number:
            mem.delete_study(mem_id)  # no half copy left behind: the next use reads it afresh
            raise StorageConflictError(
                f"study {study_id}: stored trial numbers are not 0..{len(backend_trials) - 1}")
        copied.append((mem_trial_id, trial))
    return mem_id, copied


def _update_generic(backend: BaseStorage, trial_id: int, old: FrozenTrial,
                    new: FrozenTrial) -> None:
    """The same through the public storage API, one call per changed field."""
    for name, value in changed(old.params, new.params).items():
        dist = new.distributions[name]
        backend.set_trial_param(trial_id, name, dist.to_internal_repr(value), dist)
    for step, value in changed(old.intermediate_values, new.intermediate_values).items():
        backend.set_trial_intermediate_value(trial_id, step, value)
    for key, value in changed(old.user_attrs, new.user_attrs).items():
        backend.set_trial_user_attr(trial_id, key, value)
    for key, value in changed(old.system_attrs, new.system_attrs).items():
        backend.set_trial_system_attr(trial_id, key, value)
    if new.state != old.state or new.values != old.values:
        backend.set_trial_state_values(trial_id, new.state, new.values)

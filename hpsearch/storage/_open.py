"""Opening a study: for its one driver (lease first, then the single-writer storage) or for readers.

- ``open_for_writing``: the driver's study (reads from memory, writes through; see
  ``_single_writer.py``), after taking the study's lease (``_lease.py``): one driver per study
  wherever it runs.
- ``open_for_reading``: any other command's study, straight from the storage;
  ``studies_beside``: the other studies in the same storage (what shared the cluster with it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.storage._backend import open_backend
from hpsearch.storage._errors import StorageError
from hpsearch.storage._explain import database_errors
from hpsearch.storage._redact import redact

if TYPE_CHECKING:
    import optuna

    from hpsearch.storage._lease import Lease

__all__ = ["DriverStudy", "open_for_reading", "open_for_writing", "studies_beside"]


def open_for_reading(name: str, url: str) -> optuna.Study:
    """The stored study ``name``, for a reader (status, tables, reports): straight from storage.

    Raises:
        StorageError: no such study, or the storage cannot be opened.
    """
    import optuna

    backend = open_backend(url, read_only=True)
    with database_errors(url):
        try:
            return optuna.load_study(study_name=name, storage=backend)
        except KeyError:
            names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
            raise StorageError(f"no study named {name!r} in {redact(url)}"
                               + (f" (it holds {', '.join(map(repr, names))})" if names else "")
                               ) from None


def studies_beside(study: optuna.Study, started_before: float, limit: int = 8
                   ) -> list[optuna.Study]:
    """Other studies in ``study``'s storage that began before ``started_before`` (Unix s).

    Reports use them to show how a cluster was shared: studies submitted to one cluster usually
    share one database. At most ``limit``, the most recently begun first; a storage that cannot
    list its studies gives none.
    """
    import optuna

    from hpsearch.storage._optuna import storage_of

    storage = storage_of(study)
    try:
        # Names first: one cheap query, and most storages hold one study. Summaries read every
        # trial of every study (seconds for tens of thousands).
        if set(optuna.get_all_study_names(storage)) <= {study.study_name}:
            return []
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    except Exception:  # a figure's extra: never worth failing a report over
        return []
    others = [s for s in summaries if s.study_name != study.study_name
              and s.datetime_start is not None
              and s.datetime_start.timestamp() < started_before]
    others.sort(key=lambda s: s.datetime_start, reverse=True)
    return [optuna.load_study(study_name=s.study_name, storage=storage) for s in others[:limit]]


@dataclass
class DriverStudy:
    """A study opened by its one driver: the Optuna study and the lease that keeps it single."""

    study: optuna.Study
    lease: Lease | None
    backend: Any = None

    def close(self) -> None:
        """Give the lease up and close the database connections (SQLite checkpoints its log)."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.backend is not None:
            self.backend.engine.dispose()

    @property
    def lost(self) -> bool:
        """Another driver took the study over (this one stalled past the lease's expiry)."""
        return self.lease is not None and self.lease.lost.is_set()


def open_for_writing(url: str, name: str, sampler: Any, pruner: Any,
                     directions: Sequence[str] = ("maximize",),
                     metric_names: Sequence[str] | None = None) -> DriverStudy:
    """Create or load study ``name`` for its only writer, after taking its lease.

    The study reads from memory and writes through to ``url`` (``SingleWriterStorage``).

    Args:
        url: an Optuna storage URL.
        name: the study's name.
        sampler: the Optuna sampler it asks with.
        pruner: the Optuna pruner it reports to.
        directions: one per objective ("maximize", "minimize"); several make a multi-objective
            Optuna study. A stored study with other directions is refused.
        metric_names: the objectives' names, stored as Optuna's metric names (the dashboard
            labels its axes with them); None: none stored.

    Raises:
        StudyLockedError: another live driver holds the study (the message says who and since
            when).
        StorageError: the storage cannot be opened or written, or holds study ``name`` with
            other directions.
    """
    import optuna

    from hpsearch.storage._lease import acquire
    from hpsearch.storage._single_writer import SingleWriterStorage

    backend = open_backend(url)
    with database_errors(url):
        # Created (or found) through the backend first: the lease row needs the study's id,
        # and the memory copy must be read only once the lease is ours.
        study_id = _find_or_create_study(backend, name, directions)
        lease = acquire(backend, study_id, name)
        try:
            study = optuna.create_study(storage=SingleWriterStorage(backend), sampler=sampler,
                                        pruner=pruner, study_name=name,
                                        directions=list(directions), load_if_exists=True)
            if metric_names is not None and study.metric_names != list(metric_names):
                with warnings.catch_warnings():  # set_metric_names is marked experimental
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.set_metric_names(list(metric_names))
        except BaseException:
            lease.release()
            raise
    return DriverStudy(study, lease, backend)


def _find_or_create_study(backend: Any, name: str, directions: Sequence[str]) -> int:
    """The backend's id of study ``name``, created with ``directions`` when it does not exist.

    Raises:
        StorageError: the stored study has other directions (other objectives).
    """
    from optuna.exceptions import DuplicatedStudyError
    from optuna.study import StudyDirection

    wanted = [StudyDirection[d.upper()] for d in directions]
    try:
        study_id = backend.get_study_id_from_name(name)
    except KeyError:
        try:
            return backend.create_new_study(wanted, name)
        except DuplicatedStudyError:  # created by another process meanwhile
            study_id = backend.get_study_id_from_name(name)
    stored = backend.get_study_directions(study_id)
    if list(stored) != wanted:
        words = [d.name.lower() for d in stored]
        raise StorageError(f"study {name!r} is stored with directions {words}, and this run "
                           f"asks {list(directions)}: its objectives changed; give the changed "
                           "study a new [study] name")
    return study_id


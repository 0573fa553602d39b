"""Everything hpsearch knows of Optuna's internals, in one file: audit it on every Optuna upgrade.

Private names used, and why (nothing outside this file may use any underscore name of Optuna):

- ``optuna.storages._rdb.models``: the RDB schema's tables. The driver writes a trial's rows with
  one bulk INSERT per table (an order of magnitude faster than ``RDBStorage``'s public calls,
  which do a look-up per parameter and an upsert per attribute: docs/benchmarks.md), and keeps the
  study lease in ``study_system_attributes``.
- ``FrozenTrial._trial_id`` and ``Trial._trial_id``: a storage's id of a trial. Optuna's public
  API names trials by number only, but storages take ids.
- ``Study._storage`` and ``Study._study_id``: the storage a study was opened with and its id
  there, to sync a trial before its launch and to read the study's lease.
- ``_CachedStorage._backend``: the ``RDBStorage`` that ``optuna.load_study`` wraps for a reader,
  to read the study's lease (who runs it) with one query.
- ``TrialModel._datetime_start_utc``: present from Optuna 5 on, when the RDB columns began to
  hold naive UTC; Optuna 4 holds naive local time. Its presence says which to write.
- ``optuna.trial.Trial(study, trial_id)``: a live handle on a stored RUNNING trial, to fail a
  trial left RUNNING by a dead driver through ``Study.tell``.
- ``system_attrs["fixed_params"]``: where ``Study.enqueue_trial`` keeps the enqueued parameters.

Everything else goes through the public ``RDBStorage.engine`` (SQLAlchemy Core statements on it)
and Optuna's public API.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from hpsearch.storage._records import changed, check_number, empty_trial

__all__ = ["backend_study_id", "create_rdb", "enqueued_params", "lease_read", "lease_swap",
           "live_trial", "read_states", "storage_of", "study_id", "transaction", "trial_id",
           "update_rdb"]


def trial_id(trial: FrozenTrial | optuna.trial.Trial) -> int:
    """The storage's id of a trial (frozen or live)."""
    return trial._trial_id


def study_id(study: optuna.Study) -> int:
    """The storage's id of a study."""
    return study._study_id


def storage_of(study: optuna.Study) -> Any:
    """The storage ``study`` was opened with."""
    return study._storage


def live_trial(study: optuna.Study, frozen: FrozenTrial) -> optuna.trial.Trial:
    """A live handle on a stored trial, to ``tell`` it."""
    return optuna.trial.Trial(study, frozen._trial_id)


def backend_study_id(study: optuna.Study) -> tuple[RDBStorage, int] | None:
    """The RDB storage under ``study`` (read directly or through the driver's) and its study id."""
    storage = study._storage
    # The driver's SingleWriterStorage names its backend; Optuna wraps an RDBStorage it opens
    # for a reader in a _CachedStorage, which keeps it as _backend.
    backend = getattr(storage, "backend", None) or getattr(storage, "_backend", storage)
    return (backend, study._study_id) if isinstance(backend, RDBStorage) else None


def enqueued_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial was enqueued with (``{}`` when it was sampled)."""
    return dict(trial.system_attrs.get("fixed_params", {}))


def _models() -> Any:
    from optuna.storages._rdb import models

    return models


def _stored_datetime(value: datetime.datetime | None) -> datetime.datetime | None:
    """A trial datetime as this Optuna's RDB columns hold it (trials carry naive local time).

    Optuna 5 stores naive UTC (its model converts in properties over ``_datetime_start_utc``);
    Optuna 4 stores the naive local time as it is.
    """
    if value is None:
        return None
    if hasattr(_models().TrialModel, "_datetime_start_utc"):
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value if value.tzinfo is None else value.astimezone().replace(tzinfo=None)


def transaction(backend: RDBStorage) -> Any:
    """A connection in a transaction on ``backend`` (commits on leaving, rolls back on error)."""
    return backend.engine.begin()


def create_rdb(conn: Any, study_id: int, trial: FrozenTrial) -> int:
    """Insert a trial with all it holds, within ``conn``'s transaction; returns its backend id.

    Raises:
        StorageConflictError: the backend numbers the trial otherwise (the caller's transaction
            rolls back: nothing is committed).
    """
    from sqlalchemy import func, insert, select

    models = _models()
    # Lock the study's row first, as Optuna's own create_new_trial does: under PostgreSQL's
    # default isolation two writers would each miss the other's uncommitted trial in the count
    # below (SQLite's file lock serializes them anyway and ignores FOR UPDATE).
    studies = models.StudyModel.__table__
    conn.execute(select(studies.c.study_id).where(studies.c.study_id == study_id)
                 .with_for_update())
    table = models.TrialModel.__table__
    new_id = conn.execute(insert(table).values(
        study_id=study_id, number=trial.number, state=trial.state,
        datetime_start=_stored_datetime(trial.datetime_start),
        datetime_complete=_stored_datetime(trial.datetime_complete))).inserted_primary_key[0]
    # Optuna numbers a trial by the trials created before it; a second writer would show.
    number = conn.execute(select(func.count()).select_from(table).where(
        table.c.study_id == study_id, table.c.trial_id < new_id)).scalar_one()
    check_number(trial.number, number)
    _insert_rows(conn, models, new_id, empty_trial(), trial)
    return new_id


def _insert_rows(conn: Any, models: Any, backend_id: int, old: FrozenTrial,
                 new: FrozenTrial) -> dict[str, dict[Any, Any]]:
    """Bulk-insert what ``new`` holds and ``old`` lacks: one INSERT per table.

    Returns the entries that ``old`` holds with another value, keyed "param", "step", "user",
    "system", for the caller to update.
    """
    from optuna.distributions import distribution_to_json
    from sqlalchemy import insert

    rows: dict[Any, list[dict[str, Any]]] = {}
    existing: dict[str, dict[Any, Any]] = {}

    def split(label: str, was: dict[Any, Any], now: dict[Any, Any]) -> dict[Any, Any]:
        diff = changed(was, now)
        existing[label] = {k: v for k, v in diff.items() if k in was}
        return {k: v for k, v in diff.items() if k not in was}

    for name, value in split("param", old.params, new.params).items():
        dist = new.distributions[name]
        rows.setdefault(models.TrialParamModel, []).append(dict(
            trial_id=backend_id, param_name=name, param_value=dist.to_internal_repr(value),
            distribution_json=distribution_to_json(dist)))
    for step, value in split("step", old.intermediate_values, new.intermediate_values).items():
        kept, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
        rows.setdefault(models.TrialIntermediateValueModel, []).append(dict(
            trial_id=backend_id, step=step, intermediate_value=kept,
            intermediate_value_type=kind))
    for label, model, was, now in (
            ("user", models.TrialUserAttributeModel, old.user_attrs, new.user_attrs),
            ("system", models.TrialSystemAttributeModel, old.system_attrs, new.system_attrs)):
        for key, value in split(label, was, now).items():
            rows.setdefault(model, []).append(dict(trial_id=backend_id, key=key,
                                                   value_json=json.dumps(value)))
    if new.values is not None and old.values is None:  # the usual case: told once
        for objective, value in enumerate(new.values):
            kept, kind = models.TrialValueModel.value_to_stored_repr(value)
            rows.setdefault(models.TrialValueModel, []).append(dict(
                trial_id=backend_id, objective=objective, value=kept, value_type=kind))
    for model, batch in rows.items():
        conn.execute(insert(model.__table__), batch)
    return existing


def update_rdb(conn: Any, backend_id: int, old: FrozenTrial, new: FrozenTrial) -> bool:
    """Write the difference between two versions of a trial, within ``conn``'s transaction.

    New rows are bulk-inserted; the rare value that changed after it was written (an attribute
    set twice, a step reported twice) is a plain UPDATE of the row that holds it. The state is
    changed only if the stored state is still the one this writer last wrote: a state set from
    outside (a trial failed from the dashboard) is never overwritten.

    Returns:
        False when the stored state had been changed from outside and was kept.
    """
    from sqlalchemy import delete, insert, update

    models = _models()
    existing = _insert_rows(conn, models, backend_id, old, new)
    if existing["param"]:  # unreachable through Optuna: a parameter is suggested once
        raise ValueError(f"trial {new.number}: parameters cannot change once set")
    steps = models.TrialIntermediateValueModel.__table__
    for step, value in existing["step"].items():
        kept, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
        conn.execute(update(steps).where(steps.c.trial_id == backend_id, steps.c.step == step)
                     .values(intermediate_value=kept, intermediate_value_type=kind))
    for model, label in ((models.TrialUserAttributeModel, "user"),
                         (models.TrialSystemAttributeModel, "system")):
        table = model.__table__
        for key, value in existing[label].items():
            conn.execute(update(table).where(table.c.trial_id == backend_id, table.c.key == key)
                         .values(value_json=json.dumps(value)))
    if old.values is not None and new.values != old.values:
        # A trial created from a template that carried values, finished with others: Optuna's
        # own storages overwrite them, and so does this.
        values = models.TrialValueModel.__table__
        conn.execute(delete(values).where(values.c.trial_id == backend_id))
        if new.values is not None:
            conn.execute(insert(values), [
                dict(zip(("trial_id", "objective", "value", "value_type"),
                         (backend_id, k, *models.TrialValueModel.value_to_stored_repr(v)),
                         strict=True))
                for k, v in enumerate(new.values)])
    if new.state == old.state and new.datetime_complete == old.datetime_complete:
        return True
    trials = models.TrialModel.__table__
    done = conn.execute(update(trials).where(trials.c.trial_id == backend_id,
                                             trials.c.state == old.state).values(
        state=new.state, datetime_start=_stored_datetime(new.datetime_start),
        datetime_complete=_stored_datetime(new.datetime_complete)))
    return done.rowcount == 1


def read_states(backend: RDBStorage, backend_ids: list[int]) -> dict[int, Any]:
    """The stored states of some trials: backend id -> ``TrialState``."""
    from sqlalchemy import select

    table = _models().TrialModel.__table__
    with backend.engine.begin() as conn:
        rows = conn.execute(select(table.c.trial_id, table.c.state)
                            .where(table.c.trial_id.in_(backend_ids))).all()
    return dict(rows)


# -- the study lease: a row in study_system_attributes, changed only by compare-and-swap --------


def lease_read(backend: RDBStorage, study_id: int, key: str) -> str | None:
    """The lease row's value (JSON text), or None when no driver ever held the study."""
    from sqlalchemy import select

    table = _models().StudySystemAttributeModel.__table__
    with backend.engine.begin() as conn:
        return conn.execute(select(table.c.value_json).where(
            table.c.study_id == study_id, table.c.key == key)).scalar_one_or_none()


def lease_swap(backend: RDBStorage, study_id: int, key: str, old: str | None, new: str) -> bool:
    """Replace the lease value ``old`` by ``new`` atomically; False when another got there first.

    ``old`` None inserts the row: the (study_id, key) unique constraint refuses a second insert.
    """
    from sqlalchemy import insert, update
    from sqlalchemy.exc import IntegrityError

    table = _models().StudySystemAttributeModel.__table__
    try:
        with backend.engine.begin() as conn:
            if old is None:
                conn.execute(insert(table).values(study_id=study_id, key=key, value_json=new))
                return True
            done = conn.execute(update(table).where(
                table.c.study_id == study_id, table.c.key == key, table.c.value_json == old)
                .values(value_json=new))
            return done.rowcount == 1
    except IntegrityError:
        return False

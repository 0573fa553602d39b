"""The one door to a study's storage: URLs, opening for the driver or for readers, and the writes.

Nothing else in hpsearch touches ``optuna.storages`` or any underscore name of Optuna; within
this package only ``_optuna.py`` does, and it lists each private name it uses and why.

- ``resolve_url`` / ``default_storage`` / ``redact``: which URL a study lives at, fit to print.
- ``open_for_writing``: the driver's study (reads from memory, writes through; see
  ``_single_writer.py``), after taking the study's lease (``_lease.py``): one driver per study
  wherever it runs.
- ``open_for_reading``: any other command's study, straight from the storage;
  ``studies_beside``: the other studies in the same storage (what shared the cluster with it).
- ``persist_launch`` / ``recover`` / ``fail_and_requeue``: the driver's writes outside ask/tell.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch import _attrs as A
from hpsearch.storage._records import StorageConflictError

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from hpsearch.storage._lease import Lease

__all__ = [
    "MAX_OOF_VALUES",
    "SECRET_KEY_WORDS",
    "DriverStudy",
    "SingleWriterStorage",
    "StorageConflictError",
    "StorageError",
    "StudyLockedError",
    "changed_outside",
    "default_storage",
    "driver_of",
    "enqueued_params",
    "fail_and_requeue",
    "oof_probs",
    "open_backend",
    "open_for_reading",
    "open_for_writing",
    "persist_launch",
    "recover",
    "redact",
    "request_stop",
    "resolve_url",
    "set_oof_probs",
    "sqlite_path",
    "stop_requested",
    "stop_trial",
    "stored_value",
    "studies_beside",
    "write_live",
]

log = logging.getLogger("hpsearch")


class StorageError(RuntimeError):
    """A storage URL that cannot be used as asked: malformed, unreachable, unreadable, full."""


def __getattr__(name: str) -> Any:
    # The lease module imports Optuna's internals: load it only when a driver needs it.
    if name == "StudyLockedError":
        from hpsearch.storage._lease import StudyLockedError

        return StudyLockedError
    if name == "SingleWriterStorage":
        from hpsearch.storage._single_writer import SingleWriterStorage

        return SingleWriterStorage
    raise AttributeError(name)


# -- URLs ------------------------------------------------------------------------------------

# scheme://user:password@host -> the password part (up to the last @ before the host).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*:)"
                           r"(?P<value>[^\s\"']*)(?=@)")
#: Words that make a key secret: its value is hidden wherever the key stands in a URL's query
#: (``?password=...``, ``&sslpassword=...``), a libpq conninfo string (``password='...'``), or a
#: dict or JSON (``'password': '...'``). Matched anywhere in the key, case-insensitively, so
#: ``sslpassword``, ``PGPASSWORD``, ``auth_token`` and ``client_secret`` are secret. Keys naming a
#: *file* that holds a secret (``passfile``, ``sslkey``, ``sslcert``) are not: their value is a
#: path, kept so that a message can say which file is wrong (hpsearch never reads the file).
SECRET_KEY_WORDS = ("password", "passwd", "pwd", "secret", "token", "apikey", "api_key",
                    "api-key", "credential")
_KEY = (r"[A-Za-z0-9_.-]*(?:" + "|".join(map(re.escape, SECRET_KEY_WORDS))
        + r")[A-Za-z0-9_.-]*")
# A value: quoted (conninfo, repr, JSON; backslash escapes; an unclosed quote runs to the end)
# or bare, up to a space, a quote or the next query parameter, and short of a colon that ends
# it ("...?password=***: connection failed"). Too much rather than too little otherwise; an
# already redacted one is left as it is (redacting twice changes nothing).
_VALUE = (r"""(?:'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\*\*\*(?![^\s&#'",;)\]}])"""
          r"""|(?:[^\s&#'":]|:(?!\s|$))+)""")
# key=value, key = value; a quoted key also 'key': value (a dict's repr, JSON).
_SECRET_PAIR = re.compile(
    rf"""(?P<head>(?<![A-Za-z0-9_.-])(?P<q>['"]?)(?:{_KEY})(?P=q)\s*(?:=|(?<=['"]):)\s*)"""
    rf"(?P<value>{_VALUE})", re.IGNORECASE)
#: Shorter secret values are not hunted for in free text (they would hit ordinary words); they
#: are still hidden where they stand in a URL or after their key.
_MIN_HUNTED = 4


def redact(text: str, *, url: str | None = None) -> str:
    """Text fit to print, log or store: every secret a URL or a key=value pair holds is ``***``.

    Hidden: the password in a URL's user info (``postgresql://user:***@host/db``) and the value
    of every key naming a secret (``SECRET_KEY_WORDS``) in a URL's query (``?password=***``,
    ``&sslpassword=***``), a libpq conninfo string (``password=***``) or a dict or JSON
    (``'password': '***'``). Keys, user names, hosts and paths are kept: the message still says
    what was given.

    Args:
        text: any text: a URL, an error message, a log line, a study file.
        url: the URL ``text`` is about (an error from opening it): its secret values are hidden
            also where ``text`` quotes them in another form (percent-decoded, without the key).
    """
    out = _SECRET_PAIR.sub(_hide_value, _URL_PASSWORD.sub(r"\g<head>***", text))
    for value in sorted(_secret_values(url) if url else (), key=len, reverse=True):
        out = out.replace(value, "***")
    return out


def _hide_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match['head']}{quote}***{quote}"


def _secret_values(url: str) -> set[str]:
    """The secrets ``url`` holds, as written and percent-decoded (those long enough to hunt)."""
    from urllib.parse import unquote, unquote_plus

    raw = [m["value"] for m in _URL_PASSWORD.finditer(url)]
    raw += [m["value"].strip("'\"") for m in _SECRET_PAIR.finditer(url)]
    forms = {form for value in raw for form in (value, unquote(value), unquote_plus(value))}
    return {form for form in forms if len(form) >= _MIN_HUNTED and form != "***"}


def default_storage(runs_dir: Path, name: str) -> str:
    """The embedded default: a SQLite file under ``runs/<name>/``."""
    return f"sqlite:///{(runs_dir / name / 'study.db').resolve()}"


def resolve_url(name: str, runs_dir: Path, *candidates: str | None) -> str:
    """The first URL given (command line, then study file), else the default under ``runs_dir``."""
    return next((c for c in candidates if c), None) or default_storage(runs_dir, name)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, None for other URLs."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


# -- opening -----------------------------------------------------------------------------------


_TABLES_RACE = ("already exists", "duplicate key value violates unique constraint",
                "UNIQUE constraint failed: alembic_version")
_MALFORMED = ("not a valid database URL; expected e.g. sqlite:////abs/path/study.db or "
              "postgresql://USER:PASS@HOST:PORT/DB (escape @, : and / in a password as %40, %3A, "
              "%2F)")


@contextlib.contextmanager
def _explained(url: str) -> Iterator[None]:
    """Turn what the database layer raises into one ``StorageError`` line, with no secret in it."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    shown = redact(url)
    try:
        yield
    except (ImportError, NoSuchModuleError) as exc:
        scheme = url.split(":", 1)[0]
        hint = ('pip install "hpsearch[postgres]"' if scheme.startswith("postgres")
                else f"install the database driver for {scheme!r}")
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        raise StorageError(f"storage {shown}: no driver for this database "
                           f"({redact(str(cause), url=url)}); {hint}") from None
    except ArgumentError:
        raise StorageError(f"storage {shown}: {_MALFORMED}") from None
    except DBAPIError as exc:
        raise StorageError(f"storage {shown}: {_reason(exc, url)}") from None
    except StorageInternalError as exc:  # Optuna's wrapper of the database's own error
        cause = exc.__cause__ if isinstance(exc.__cause__, DBAPIError) else exc
        raise StorageError(f"storage {shown}: {_reason(cause, url)}") from None
    except SQLAlchemyError as exc:
        raise StorageError(f"storage {shown}: {type(exc).__name__}: "
                           f"{redact(str(exc), url=url).splitlines()[0]}") from None
    except ValueError:  # e.g. sqlalchemy's make_url on a URL it cannot split
        # Its message may quote a piece of the password (an unescaped @ or :): never shown.
        raise StorageError(f"storage {shown}: {_MALFORMED}") from None
    except sqlite3.DatabaseError as exc:  # our own PRAGMA on a file that is no database
        raise StorageError(f"storage {shown}: {_reason(exc, url)}") from None


def _reason(exc: Any, url: str) -> str:
    """The database's own words, first line, without the SQL or parameters SQLAlchemy appends.

    Whatever the driver quotes of ``url`` (a conninfo string, a decoded password) is redacted.
    """
    text = redact(str(getattr(exc, "orig", None) or exc), url=url).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if "database or disk is full" in first:
        return "the disk is full (database or disk is full); free space and run again"
    if "file is not a database" in first or "malformed" in first:
        return f"{first}: the file is corrupt; restore it from a copy or start a new study name"
    if "readonly" in first or "read-only" in first:
        return f"{first}: the database or its folder is read-only"
    return first


def _check_sqlite_file(url: str, *, must_exist: bool) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    if path.exists():
        if not path.is_file():
            raise StorageError(f"storage {path}: not a regular file")
        if path.stat().st_size == 0:
            raise StorageError(f"storage {path}: the file is empty (0 bytes), not a study "
                               "database; remove it to start the study anew")
    elif must_exist:
        raise StorageError(f"storage {path}: no such file")
    else:
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise StorageError(f"storage {path}: {parent} is not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"storage {path}: cannot create {parent}: "
                               f"{exc.strerror or exc}") from None


def open_backend(url: str, *, read_only: bool = False) -> Any:
    """An ``optuna.storages.RDBStorage`` on ``url`` (SQLite gets WAL and a busy timeout).

    Raises:
        StorageError: the URL is malformed, its driver is missing, or the database cannot be
            opened; the message never holds the password.
    """
    import optuna

    _check_sqlite_file(url, must_exist=read_only)
    with _explained(url):
        for attempt in range(3):
            try:
                if sqlite_path(url) is None:
                    return optuna.storages.RDBStorage(url)
                return _open_sqlite(url, read_only)
            except Exception as exc:
                # Two processes creating Optuna's tables at once (a reader opening a study as
                # its driver creates it, two drivers on a new database): the loser finds them
                # made, or on PostgreSQL trips over the other's new type; opening again works.
                if not any(w in str(exc) for w in _TABLES_RACE) or attempt == 2:
                    raise
                time.sleep(0.1)
    raise AssertionError("unreachable")


def _open_sqlite(url: str, read_only: bool) -> Any:
    import optuna
    from sqlalchemy import event

    path = sqlite_path(url)
    assert path is not None
    if read_only and not _writable(path):
        # WAL needs to write its -shm file: a study in a read-only folder is read as a snapshot.
        immutable = f"sqlite:///file:{path}?immutable=1&uri=true"
        return optuna.storages.RDBStorage(immutable, skip_table_creation=True)
    if not read_only:
        # WAL lets readers (status, reports, the dashboard) look while the driver writes.
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}},
                                         skip_table_creation=read_only)
    # In WAL mode, synchronous=NORMAL survives a crash of any process (a power cut may lose the
    # last commits) and saves an fsync per write: the driver writes on every result.
    event.listen(storage.engine, "connect",
                 lambda conn, _record: conn.execute("PRAGMA synchronous=NORMAL"))
    storage.engine.dispose()
    return storage


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def open_for_reading(name: str, url: str) -> optuna.Study:
    """The stored study ``name``, for a reader (status, tables, reports): straight from storage.

    Raises:
        StorageError: no such study, or the storage cannot be opened.
    """
    import optuna

    backend = open_backend(url, read_only=True)
    with _explained(url):
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


def open_for_writing(url: str, name: str, sampler: Any, pruner: Any) -> DriverStudy:
    """Create or load study ``name`` for its only writer, after taking its lease.

    The study reads from memory and writes through to ``url`` (``SingleWriterStorage``).

    Raises:
        StudyLockedError: another live driver holds the study (the message says who and since
            when).
        StorageError: the storage cannot be opened or written.
    """
    import optuna

    from hpsearch.storage._lease import acquire
    from hpsearch.storage._single_writer import SingleWriterStorage

    backend = open_backend(url)
    with _explained(url):
        # Created (or found) through the backend first: the lease row needs the study's id,
        # and the memory copy must be read only once the lease is ours.
        study_id = _study_id(backend, name)
        lease = acquire(backend, study_id, name)
        try:
            study = optuna.create_study(storage=SingleWriterStorage(backend), sampler=sampler,
                                        pruner=pruner, study_name=name, direction="maximize",
                                        load_if_exists=True)
        except BaseException:
            lease.release()
            raise
    return DriverStudy(study, lease, backend)


def _study_id(backend: Any, name: str) -> int:
    """The backend's id of study ``name``, created (maximize) when it does not exist."""
    from optuna.exceptions import DuplicatedStudyError
    from optuna.study import StudyDirection

    try:
        return backend.get_study_id_from_name(name)
    except KeyError:
        pass
    try:
        return backend.create_new_study([StudyDirection.MAXIMIZE], name)
    except DuplicatedStudyError:  # created by another process meanwhile
        return backend.get_study_id_from_name(name)


# -- the driver's writes outside ask/tell --------------------------------------------------------


def enqueued_params(trial: Any) -> dict[str, Any]:
    """The parameters a stored trial was enqueued with (``{}`` when it was sampled)."""
    from hpsearch.storage._optuna import enqueued_params as _enqueued

    return _enqueued(trial)


def persist_launch(study: optuna.Study, trial: optuna.trial.Trial) -> None:
    """Write a just-asked trial (parameters, attributes) before it runs.

    A driver that dies afterwards leaves it RUNNING with its parameters, for ``recover``.
    """
    from hpsearch.storage._optuna import storage_of, trial_id

    storage = storage_of(study)
    sync = getattr(storage, "sync", None)
    if sync is not None:  # a plain Optuna storage wrote it already
        sync(trial_id(trial))


def fail_and_requeue(study: optuna.Study, trial: optuna.trial.Trial, params: dict[str, Any],
                     reason: str) -> None:
    """Record ``trial`` as FAIL for ``reason`` and enqueue its parameters again."""
    from optuna.trial import TrialState

    trial.set_user_attr(A.TRIAL_FAILURE, reason)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(params, user_attrs={A.TRIAL_RETRY_OF: trial.number})


def recover(study: optuna.Study) -> list[int]:
    """Fail the trials a dead driver left RUNNING as "interrupted" and enqueue them again.

    Returns:
        The numbers of the trials recovered.
    """
    from optuna.trial import TrialState

    from hpsearch.storage._optuna import live_trial

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for frozen in stale:
        fail_and_requeue(study, live_trial(study, frozen), dict(frozen.params),
                         A.REASON_INTERRUPTED)
    return [t.number for t in stale]


def _driver_storage(study: optuna.Study) -> Any:
    from hpsearch.storage._optuna import storage_of, trial_id

    storage = storage_of(study)
    return storage, trial_id


def write_live(study: optuna.Study, trials: list[optuna.trial.Trial]) -> None:
    """Write running trials' new points and attributes in one transaction (the driver's study).

    Readers (``optuna-dashboard``, ``hpsearch status --watch``) then see live learning curves.
    """
    storage, trial_id = _driver_storage(study)
    if trials and hasattr(storage, "sync_many"):
        storage.sync_many([trial_id(t) for t in trials])


def changed_outside(study: optuna.Study, trials: list[optuna.trial.Trial]) -> dict[int, Any]:
    """Running trials whose stored state was changed from outside: number -> ``TrialState``.

    A trial failed from optuna-dashboard or ``hpsearch stop --trial`` shows here (one query).
    """
    storage, trial_id = _driver_storage(study)
    if not trials or not hasattr(storage, "changed_outside"):
        return {}
    by_id = {trial_id(t): t.number for t in trials}
    return {by_id[t]: state for t, state in storage.changed_outside(list(by_id)).items()}


def stored_value(study: optuna.Study, trial: optuna.trial.Trial) -> float | None:
    """The value a trial holds in the storage (one marked complete from outside carries it)."""
    storage, trial_id = _driver_storage(study)
    stored = (storage.stored_trial(trial_id(trial)) if hasattr(storage, "stored_trial")
              else storage.get_trial(trial_id(trial)))
    return stored.value


_OOF_KEY = "hpsearch:oof_probs"
# At most this many probabilities per trial (1 MB as float16): digits' 1497 rows x 10 classes
# are 15,000; CIFAR-10's 50,000 x 10 would put 1.3 MB of text in every complete trial's row.
MAX_OOF_VALUES = 500_000


def set_oof_probs(study: optuna.Study, trial: optuna.trial.Trial, probs: np.ndarray) -> bool:
    """Keep a trial's out-of-fold class probabilities with it (written with its ``tell``).

    A system attribute, not a user attribute: some 40 KB per trial on digits would swamp the
    trial's attributes in optuna-dashboard and in exported tables. Stored as float16, base64.

    Returns:
        False, keeping nothing, when there are more than ``MAX_OOF_VALUES`` of them.
    """
    import numpy as np

    if probs.size > MAX_OOF_VALUES:
        return False
    storage, trial_id = _driver_storage(study)
    data = np.ascontiguousarray(probs, dtype="<f2")
    storage.set_trial_system_attr(trial_id(trial), _OOF_KEY, {
        "shape": list(data.shape), "f2": base64.b64encode(data.tobytes()).decode("ascii")})
    return True


def oof_probs(trial: optuna.trial.FrozenTrial) -> np.ndarray | None:
    """The out-of-fold probabilities ``set_oof_probs`` kept with a stored trial, or None."""
    import numpy as np

    raw = trial.system_attrs.get(_OOF_KEY)
    try:
        shape = tuple(int(n) for n in raw["shape"])
        data = np.frombuffer(base64.b64decode(raw["f2"], validate=True), dtype="<f2")
        return data.astype(np.float64).reshape(shape)
    except (TypeError, KeyError, ValueError, binascii.Error):  # absent, or not ours
        return None


_STOP_KEY = "hpsearch:stop_requested"


def request_stop(study: optuna.Study) -> None:
    """Ask the study's driver, wherever it runs, to stop after its current step.

    Finished trials are kept; running ones are recorded "interrupted" and re-run on resume.
    """
    from hpsearch.storage._optuna import storage_of, study_id

    storage_of(study).set_study_system_attr(study_id(study), _STOP_KEY, time.time())


def stop_requested(study: optuna.Study, since: float) -> bool:
    """Whether a stop was requested after ``since`` (seconds since the Unix epoch)."""
    from hpsearch.storage._optuna import storage_of, study_id

    asked = storage_of(study).get_study_system_attrs(study_id(study)).get(_STOP_KEY)
    return isinstance(asked, int | float) and asked >= since


def stop_trial(study: optuna.Study, number: int) -> None:
    """Fail a running trial from outside, as optuna-dashboard's "Fail trial" does.

    Its driver notices within a second, stops the worker and records "stopped by user".

    Raises:
        StorageError: no such trial, or it is not running.
    """
    from optuna.trial import TrialState

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise StorageError(f"study {study.study_name!r} has no trial {number}")
    if trials[number].state != TrialState.RUNNING:
        raise StorageError(f"trial {number} is not running (it is "
                           f"{trials[number].state.name.lower()})")
    study.tell(number, state=TrialState.FAIL)


def driver_of(study: optuna.Study) -> str | None:
    """Who runs ``study`` now ("driver pid P on host H since ..."), None when no driver is live."""
    from hpsearch.storage._lease import current_holder
    from hpsearch.storage._optuna import backend_study_id

    found = backend_study_id(study)
    if found is None:
        return None
    backend, study_id = found
    holder = current_holder(backend, study_id)
    return None if holder is None else holder.describe(time.time())

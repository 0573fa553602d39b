"""The one door to a study's storage: URLs, opening for the driver or for readers, and the writes.

Nothing else in hpsearch touches ``optuna.storages`` or any underscore name of Optuna; within
this package only ``_optuna.py`` does, and it lists each private name it uses and why.

- ``resolve_url`` / ``default_storage`` / ``sqlite_path`` (``_urls.py``): which URL a study lives
  at; ``redact`` (``_redact.py``): any text fit to print, log or store.
- ``open_backend`` (``_backend.py``): the database a study is kept in, an ``RDBStorage``.
- ``open_for_writing`` (``_open.py``): the driver's study, after taking its lease
  (``_lease.py``), on the single-writer storage (``_single_writer.py``: reads from memory,
  writes through); ``open_for_reading`` / ``studies_beside``: any other command's study.
- ``persist_launch`` / ``recover`` / ``fail_and_requeue`` / ``write_live`` (``_writes.py``): the
  driver's writes outside ask/tell; ``set_oof_probs`` / ``oof_probs`` (``_oof.py``): a trial's
  out-of-fold probabilities kept with it.
- ``request_stop`` / ``stop_trial`` / ``driver_of`` (``_stops.py``): stopping from outside.

A lazy face (``hpsearch._lazy``): ``import hpsearch.storage`` imports neither Optuna nor
SQLAlchemy; a name's module is imported when the name is first read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._backend import open_backend
    from ._errors import StorageConflictError, StorageError, StudyLockedError
    from ._oof import MAX_OOF_VALUES, oof_probs, set_oof_probs
    from ._open import DriverStudy, open_for_reading, open_for_writing, studies_beside
    from ._optuna import enqueued_params
    from ._redact import SECRET_KEY_WORDS, redact
    from ._single_writer import SingleWriterStorage
    from ._stops import driver_of, request_stop, stop_requested, stop_trial
    from ._urls import default_storage, resolve_url, sqlite_path
    from ._writes import (
        changed_outside,
        fail_and_requeue,
        persist_launch,
        recover,
        report_step,
        stored_values,
        write_live,
    )

_NAMES = {
    "StorageConflictError": "._errors",
    "StorageError": "._errors",
    "StudyLockedError": "._errors",
    "SECRET_KEY_WORDS": "._redact",
    "redact": "._redact",
    "default_storage": "._urls",
    "resolve_url": "._urls",
    "sqlite_path": "._urls",
    "open_backend": "._backend",
    "DriverStudy": "._open",
    "open_for_reading": "._open",
    "open_for_writing": "._open",
    "studies_beside": "._open",
    "SingleWriterStorage": "._single_writer",
    "enqueued_params": "._optuna",
    "changed_outside": "._writes",
    "fail_and_requeue": "._writes",
    "persist_launch": "._writes",
    "recover": "._writes",
    "report_step": "._writes",
    "stored_values": "._writes",
    "write_live": "._writes",
    "MAX_OOF_VALUES": "._oof",
    "oof_probs": "._oof",
    "set_oof_probs": "._oof",
    "driver_of": "._stops",
    "request_stop": "._stops",
    "stop_requested": "._stops",
    "stop_trial": "._stops",
}
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
    "report_step",
    "request_stop",
    "resolve_url",
    "set_oof_probs",
    "sqlite_path",
    "stop_requested",
    "stop_trial",
    "stored_values",
    "studies_beside",
    "write_live",
]
__getattr__, __dir__ = face(__name__, _NAMES)

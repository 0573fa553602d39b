"""A pytest plugin: Optuna's own storage test suite, run against the driver's storage.

Optuna tests every storage it ships with one suite, ``tests/storages_tests/test_storages.py`` in
its repository and sdist, parametrized over ``optuna.testing.storages.STORAGE_MODES`` and opened
through ``optuna.testing.storages.StorageSupplier``. This plugin replaces those modes by one,
``hpsearch_single_writer``: ``SingleWriterStorage`` over a fresh SQLite file opened by
``hpsearch.storage.open_backend``, as the driver opens it. Tests of what that storage does not
offer are marked below (``EXCLUDED``, ``HEARTBEAT``), each with its reason; nothing else is
left out.

Run it from the repository root on an unpacked Optuna sdist of the installed version
(``.ci/optuna-compat`` does)::

    PYTHONPATH=tests/optuna_suite python -m pytest -p hpsearch_storage_plugin \
        -p no:cacheprovider -c tests/optuna_suite/pytest.ini --rootdir "$SDIST" \
        "$SDIST/tests/storages_tests/test_storages.py"

(with only the sdist's ``tests/`` unpacked there: its ``optuna/`` would shadow the installed one).
After every test that passed, the plugin also syncs the storage and checks that a second storage
opened on the file reads the same trials (``_assert_file_matches_memory``): the suite reads back
through the storage that wrote, which answers from memory.

The plugin patches Optuna's testing module for the whole pytest process: never load it in the
main suite (its name does not start with ``test_`` and no conftest imports it).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import pytest

MODE = "hpsearch_single_writer"

# Tests of Optuna's suite that do not apply to SingleWriterStorage as written, by function name
# (without parameters), with why. "skip": not run. "refused": run, and must fail with TypeError
# (the storage refuses it on purpose; the test checks that it still does). "as-rdb": run, with
# SingleWriterStorage counted as an RDBStorage where the test exempts RDB-backed storages.
EXCLUDED: dict[str, tuple[str, str]] = {
    "test_create_new_study_unique_id": (
        "as-rdb",
        "study ids are the RDB backend's, and RDBStorage reuses a deleted study's id (SQLite "
        "hands out the highest rowid + 1); Optuna's test exempts RDBStorage, _CachedStorage and "
        "GrpcStorageProxy from that one assertion (its TODO: 'Fix RDBStorage so that it does "
        "not reuse study_id') and this storage the same way; the rest of the test runs",
    ),
    "test_pickle_storage": (
        "refused",
        "SingleWriterStorage refuses pickling (TypeError) on purpose: it is the driver's own "
        "view of a study, and a pickled copy (sent to a worker, say) would be a second writer "
        "whose memory goes stale at once; other processes open the storage URL instead",
    ),
    "test_get_storage": (
        "skip",
        "tests optuna.storages.get_storage (which storage a URL gives), not a storage object",
    ),
    "test_get_trials_included_trial_ids": (
        "skip",
        "tests RDBStorage's private _get_trials on Optuna's own 'sqlite' mode, not this storage",
    ),
    "test_get_trials_trial_id_greater_than": (
        "skip",
        "tests RDBStorage's private _get_trials on Optuna's own 'sqlite' mode, not this storage",
    ),
}
# Any test with "heartbeat" in its name, by the same rule: heartbeats (BaseHeartbeat: failing the
# RUNNING trials of workers that stopped beating) are not offered. The driver is the only writer,
# its trials run on Ray workers that never touch the storage, and a driver that dies is replaced
# through the study lease and ``recover``. Optuna tests heartbeats in test_heartbeat.py over
# STORAGE_MODES_HEARTBEAT, which this plugin empties; none are in test_storages.py (4.4 to 5.0).
HEARTBEAT = ("skip", "heartbeats are not offered: the driver is the storage's only writer "
             "(workers never touch it); a dead driver's trials are recovered through the study "
             "lease and hpsearch.storage.recover")


def exclusion(name: str) -> tuple[str, str] | None:
    """How the test function ``name`` is treated, with why; None when it runs as written."""
    return EXCLUDED.get(name) or (HEARTBEAT if "heartbeat" in name else None)


def _stub_fakeredis() -> None:
    """``optuna.testing.storages`` imports fakeredis (for its journal_redis mode, unused here)."""
    if importlib.util.find_spec("fakeredis") is None:
        sys.modules["fakeredis"] = types.ModuleType("fakeredis")


pytest.register_assert_rewrite("optuna.testing.pytest_storages")
_stub_fakeredis()

import optuna.testing.storages as _supply  # noqa: E402  (after the stub and the rewrite hook)

from hpsearch.storage import SingleWriterStorage, open_backend  # noqa: E402


class SingleWriterSupplier(_supply.StorageSupplier):
    """Optuna's ``StorageSupplier``, plus the ``hpsearch_single_writer`` mode."""

    def __enter__(self) -> Any:
        if self.storage_specifier != MODE:  # Optuna's own modes, for tests that name one
            return super().__enter__()
        if self.extra_args:
            raise ValueError(f"{MODE} takes no arguments, got {sorted(self.extra_args)}")
        # A tmpfs where there is one: ~60 fresh databases, each fsynced as it is created.
        shm = Path("/dev/shm")
        self._folder = Path(tempfile.mkdtemp(prefix="hpsearch-optuna-suite-",
                                             dir=shm if shm.is_dir() else None))
        self._url = f"sqlite:///{self._folder / 'study.db'}"
        self._backend = open_backend(self._url)
        self.storage = SingleWriterStorage(self._backend)
        return self.storage

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self.storage_specifier != MODE:
            return super().__exit__(exc_type, *exc)
        try:
            if exc_type is None:  # the test passed: what it left must also be in the file
                _assert_file_matches_memory(self.storage, self._url)
        finally:
            self._backend.engine.dispose()
            shutil.rmtree(self._folder, ignore_errors=True)
        return None


_FIELDS = ("number", "state", "values", "datetime_start", "datetime_complete", "params",
           "distributions", "user_attrs", "system_attrs", "intermediate_values")


def _assert_file_matches_memory(storage: Any, url: str) -> None:
    """After ``sync()``, a second storage on the file reads what the driver's serves from memory.

    Optuna's suite reads back through the storage that wrote, which answers from memory; this
    checks the write-through too, as ``hpsearch status`` and reports see it.
    """
    storage.sync()
    reader = open_backend(url, read_only=True)
    try:
        for study in reader.get_all_studies():
            sid = study._study_id
            ours = storage.get_all_trials(sid, deepcopy=False)
            theirs = reader.get_all_trials(sid, deepcopy=False)
            assert len(ours) == len(theirs), (sid, len(ours), len(theirs))
            for mine, stored in zip(ours, theirs, strict=True):
                for field in _FIELDS:
                    a, b = getattr(mine, field), getattr(stored, field)
                    assert _same(a, b), f"study {sid} trial {mine.number} {field}: {a!r} != {b!r}"
            assert storage.get_study_directions(sid) == reader.get_study_directions(sid)
    finally:
        reader.engine.dispose()


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (inside dicts and lists too)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# The suite reads both names when its module is imported, after this plugin has loaded.
_supply.STORAGE_MODES[:] = [MODE]
if hasattr(_supply, "STORAGE_MODES_HEARTBEAT"):
    _supply.STORAGE_MODES_HEARTBEAT[:] = []
_supply.StorageSupplier = SingleWriterSupplier


def pytest_report_header(config: pytest.Config) -> str:
    import optuna

    return f"optuna {optuna.__version__}; storage mode {MODE} only (hpsearch_storage_plugin)"


def _function_name(item: pytest.Item) -> str:
    return getattr(item, "originalname", None) or item.name.split("[", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        found = exclusion(_function_name(item))
        if found is None:
            continue
        kind, reason = found
        if kind == "skip":
            item.add_marker(pytest.mark.skip(reason=f"hpsearch: {reason}"))
        elif kind == "refused":
            item.add_marker(pytest.mark.xfail(raises=TypeError, strict=True,
                                              reason=f"hpsearch: {reason}"))
        else:
            assert kind == "as-rdb", kind


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """For "as-rdb" tests, the test module's ``RDBStorage`` also matches SingleWriterStorage.

    ``isinstance`` takes nested tuples, so ``isinstance(s, (RDBStorage, ...))`` still works.
    """
    if (exclusion(_function_name(item)) or ("",))[0] != "as-rdb":
        return (yield)
    module = item.module  # type: ignore[attr-defined]
    if not hasattr(module, "RDBStorage"):
        raise RuntimeError(f"{module.__name__} has no RDBStorage to extend: update EXCLUDED")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "RDBStorage", (module.RDBStorage, SingleWriterStorage))
        return (yield)

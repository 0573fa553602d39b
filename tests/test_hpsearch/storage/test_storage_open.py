"""Opening storages: one clear line for every bad URL or file, no secret printed, and the
single-writer storage behaving as an Optuna storage where Optuna's own callers reach it."""

import math
import pickle

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.storage import (
    SingleWriterStorage,
    StorageError,
    open_backend,
    open_for_reading,
    open_for_writing,
    persist_launch,
    redact,
)

SECRET = "s3cr@tpw"


@pytest.mark.parametrize("url, expected", [
    (f"postgresql://user:{SECRET}@127.0.0.1:1:2/db", "not a valid database URL"),
    ("postgresql://user:s3cr@t:pw@127.0.0.1/db", "not a valid database URL"),  # unescaped :
    (f"postgresql+nosuchdriver://user:{SECRET}@127.0.0.1/db", "no driver"),
    (f"nosuchdb://user:{SECRET}@127.0.0.1/db", "no driver"),
    ("not a url at all", "not a valid database URL"),
])
def test_bad_urls_are_one_line_without_the_password(url, expected):
    with pytest.raises(StorageError) as err:
        open_backend(url)
    text = str(err.value)
    assert expected in text and "\n" not in text
    assert SECRET not in text and "s3cr" not in text and "pw" not in text


def test_a_missing_postgres_driver_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name.split(".")[0] in ("psycopg", "psycopg2"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(StorageError, match=r'pip install "hpsearch\[postgres\]"') as err:
        open_backend(f"postgresql://user:{SECRET}@127.0.0.1:5/db")
    assert SECRET not in str(err.value)


def test_redact_hides_passwords_with_at_signs_and_keeps_the_rest():
    assert redact(f"postgresql://user:{SECRET}@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert redact("sqlite:////tmp/a@b/study.db") == "sqlite:////tmp/a@b/study.db"


def test_zero_byte_corrupt_and_misplaced_files_are_refused(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StorageError, match=r"empty \(0 bytes\)"):
        open_backend(f"sqlite:///{empty}")
    assert empty.stat().st_size == 0  # not silently turned into a new study
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="corrupt"):
        open_backend(f"sqlite:///{corrupt}")
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(StorageError, match="not a folder"):
        open_backend(f"sqlite:///{afile}/study.db")
    with pytest.raises(StorageError, match="no such file"):
        open_for_reading("s", f"sqlite:///{tmp_path / 'absent.db'}")


def test_reading_a_missing_study_names_what_the_storage_holds(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=url, study_name="present")
    with pytest.raises(StorageError, match=r"no study named 'absent' .*'present'"):
        open_for_reading("absent", url)


def test_a_study_in_a_read_only_folder_can_still_be_read(tmp_path, monkeypatch):
    from hpsearch.storage import _backend

    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 'study.db'}"
    driver = open_for_writing(url, "s", optuna.samplers.RandomSampler(seed=0),
                              optuna.pruners.NopPruner())
    driver.study.enqueue_trial({"x": 1.0})
    driver.close()
    folder.chmod(0o555)
    # Root writes anywhere: make the folder read-only as far as the check can tell.
    monkeypatch.setattr(_backend, "_writable", lambda _path: False)
    try:
        before = sorted(p.name for p in folder.iterdir())
        study = open_for_reading("s", url)
        assert len(study.get_trials()) == 1
        assert sorted(p.name for p in folder.iterdir()) == before  # nothing written there
    finally:
        folder.chmod(0o755)


def test_the_driver_storage_refuses_pickling_clearly(tmp_path):
    storage = SingleWriterStorage(open_backend(f"sqlite:///{tmp_path / 'study.db'}"))
    with pytest.raises(TypeError, match="cannot be pickled: it is the driver's own view"):
        pickle.dumps(storage)


def test_summaries_of_a_fresh_storage_over_an_existing_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    for name in ("a", "b"):
        study = optuna.create_study(storage=url, study_name=name)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    storage = SingleWriterStorage(open_backend(url))
    summaries = optuna.get_all_study_summaries(storage)
    assert sorted((s.study_name, s.n_trials) for s in summaries) == [("a", 2), ("b", 2)]


def test_values_changed_after_they_were_written_are_updated_in_place(tmp_path):
    # The rare path: an attribute set twice, a step reported twice, after the trial was
    # written. Plain UPDATEs of the rows, in one transaction, and the file matches memory.
    url = f"sqlite:///{tmp_path / 'study.db'}"
    driver = open_for_writing(url, "s", optuna.samplers.RandomSampler(seed=0),
                              optuna.pruners.NopPruner())
    study = driver.study
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("note", "first")
    trial.report(0.1, 1)
    persist_launch(study, trial)
    trial.set_user_attr("note", "second")
    trial.report(0.2, 2)
    persist_launch(study, trial)
    study.tell(trial, 0.5)
    driver.close()
    (stored,) = optuna.load_study(study_name="s", storage=url).get_trials()
    assert stored.user_attrs == {"note": "second"}
    assert stored.intermediate_values == {1: 0.1, 2: 0.2}
    assert stored.state == TrialState.COMPLETE and math.isclose(stored.value, 0.5)

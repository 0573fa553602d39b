import optuna
import pytest

from hpsearch.study import _make_storage, _store_record


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_store_record_writes_curve_and_attrs_on_both_paths(tmp_path, kind):
    storage = (_make_storage(f"sqlite:///{tmp_path / 's.db'}") if kind == "sqlite"
               else optuna.storages.InMemoryStorage())
    study = optuna.create_study(storage=storage, direction="maximize")
    trial = study.ask()
    _store_record(study, trial, {1: 0.5, 2: 0.75}, {"seed": 7, "history": {"val_acc": [0.5]}})
    study.tell(trial, 0.75)
    stored = study.get_trials()[0]
    assert stored.intermediate_values == {1: 0.5, 2: 0.75}
    assert stored.user_attrs == {"seed": 7, "history": {"val_acc": [0.5]}}


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://bob:s3cr@t@db:5432/x", "postgresql://bob:***@db:5432/x"),
    ('storage = "mysql://u:pw@h/db"  # note', 'storage = "mysql://u:***@h/db"  # note'),
    ("redis://:pw@h:6379", "redis://:***@h:6379"),
    ("sqlite:////runs/x/study.db", "sqlite:////runs/x/study.db"),
    ("mysql://bob@h/x", "mysql://bob@h/x"),
])
def test_redact_hides_passwords_in_urls_and_text(text, expected):
    from hpsearch.study import redact

    assert redact(text) == expected


def test_store_record_upserts_rows_that_exist_already(tmp_path):
    study = optuna.create_study(storage=_make_storage(f"sqlite:///{tmp_path / 's.db'}"),
                                direction="maximize")
    trial = study.ask()
    trial.report(0.1, 1)
    trial.set_user_attr("seed", 1)
    _store_record(study, trial, {1: 0.5, 2: 0.75}, {"seed": 7})
    study.tell(trial, 0.75)
    stored = study.get_trials()[0]
    assert stored.intermediate_values == {1: 0.5, 2: 0.75}
    assert stored.user_attrs == {"seed": 7}

"""What a study spent in CPU-seconds, stored with the study."""

from __future__ import annotations

import optuna
import pytest

from hpsearch.results import charge, cpu_seconds


def test_charges_add_up_by_part_and_survive_a_reload(tmp_path):
    url = f"sqlite:///{tmp_path / 'acc.db'}"
    study = optuna.create_study(study_name="acc", storage=url)
    assert cpu_seconds(study) == {"trials": 0.0, "evaluation": 0.0}
    charge(study, "trials", 12.5)
    charge(study, "trials", 7.5)
    charge(study, "evaluation", 3.25)
    charge(study, "trials", -4.0)  # nothing negative is charged
    again = optuna.load_study(study_name="acc", storage=url)
    assert cpu_seconds(again) == {"trials": 20.0, "evaluation": 3.25}
    with pytest.raises(ValueError, match=r"part 'refit'; expected one of \['trials', "):
        charge(study, "refit", 1.0)

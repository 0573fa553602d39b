"""The command line against a real study: run, status, trials, rerun."""

from __future__ import annotations

import pytest

from hpsearch.cli import main

from ._studies import write_study


def test_bad_study_file_exits_2_without_touching_storage(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[study]\nname = 'bad'\nn_trials = 2\n[space]\nreg = "
                    "{ low = 0.0, high = 1.0, log = true }\n")
    assert main(["run", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "space.reg" in err and "log range needs low > 0" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_study_name_is_a_clear_error(tmp_path, capsys):
    assert main(["status", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--n-trials", "--max-in-flight"])
def test_non_positive_counts_are_refused(tmp_path, capsys, flag):
    assert main(["run", "studies/digits.toml", flag, "0"]) == 2
    assert flag in capsys.readouterr().err


def test_run_status_trials_and_rerun(ray_local, tmp_path, capsys):
    config = write_study(tmp_path, "cli", """
n_trials = 3
[space]
num_epochs = 3
dropout = 0.2
learning_rate = { low = 1e-2, high = 1e-1, log = true }
[pruner]
name = "none"
""")
    runs = ["--runs-dir", str(tmp_path / "runs")]
    assert main(["run", str(config.source), *runs, "--no-evaluate", "--no-report",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "3 complete, 0 pruned, 0 failed" in out
    assert main(["status", "cli", *runs]) == 0
    assert "3 of 3 trials finished" in capsys.readouterr().out
    # a trial re-run from its record reproduces its numbers bit for bit (dropout included)
    assert main(["rerun", "cli", "1", *runs]) == 0
    assert "reproduced exactly" in capsys.readouterr().out
    assert main(["rerun", "cli", "7", *runs]) == 2
    assert "has no trial 7" in capsys.readouterr().err

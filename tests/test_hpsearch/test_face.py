"""The Python face (``hpsearch.run`` / ``hpsearch.load`` / ``Study``) without Ray: a stored study
written by plain Optuna (``_studies.build_study``), read back as a notebook would."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from _studies import DIGITS_SPACE, build_study, make_config

import hpsearch

_HEAVY = ("optuna", "ray", "pandas", "matplotlib", "sklearn")


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_hpsearch_is_light_until_a_name_is_used():
    out = _python(f"""
        import json, sys
        import hpsearch
        heavy = {_HEAVY!r}
        before = [m for m in heavy if m in sys.modules]
        names = sorted(set(hpsearch.__all__) - set(dir(hpsearch)))
        hpsearch.StudyConfig, hpsearch.load_config, hpsearch.Study, hpsearch.run, hpsearch.load
        import hpsearch.cli._main  # the CLI's start too: its parser imports no library
        after = [m for m in heavy if m in sys.modules]
        try:
            hpsearch.nope
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps([before, names, after, missing]))
        """)
    before, not_listed, after, missing = json.loads(out)
    assert before == [] and after == [] and not_listed == []
    assert "has no attribute 'nope'" in missing


@pytest.fixture
def stored(tmp_path):
    config = make_config("face", DIGITS_SPACE)
    runs = tmp_path / "runs"
    study = build_study(runs / "face", config,
                        ["complete", "pruned", "complete", "failed", "complete"])
    return runs, study


def test_load_by_name_reads_trials_best_and_no_evaluation(stored):
    runs, optuna_study = stored
    study = hpsearch.load("face", runs_dir=runs)
    assert isinstance(study, hpsearch.Study) and study.name == "face"
    assert study.summary is None and study.evaluation is None
    assert study.run_dir == runs / "face"
    frame = study.trials
    assert list(frame["number"]) == [0, 1, 2, 3, 4]
    assert list(frame["state"]) == ["complete", "pruned", "complete", "failed", "complete"]
    expected = max((t for t in optuna_study.trials if t.value is not None),
                   key=lambda t: (t.value, -t.number))
    assert study.best == hpsearch.Best(expected.number, expected.value, expected.params)
    assert frame.loc[frame["number"] == expected.number, "value"].item() == expected.value
    text = repr(study)
    assert text.startswith("<hpsearch.Study 'face' in sqlite:///")
    assert "3 complete, 1 pruned, 1 failed" in text
    assert f"best: trial {expected.number}, val acc {expected.value:.4f}" in text
    html = study._repr_html_()
    assert html.startswith("<div><b>&lt;hpsearch.Study &#x27;face&#x27;") and "<li>" in html


def test_a_study_with_no_complete_trial_has_no_best(tmp_path):
    runs = tmp_path / "runs"
    build_study(runs / "none", make_config("none", DIGITS_SPACE), ["failed", "pruned"])
    study = hpsearch.load("none", runs_dir=str(runs))
    assert study.best is None
    assert "no complete trial yet" in repr(study)


def test_report_writes_html_and_markdown_under_the_study_folder(stored):
    runs, _ = stored
    study = hpsearch.load("face", runs_dir=runs)
    tables = study.export()
    assert tables and all(p.parent == runs / "face" and p.exists() for p in tables.values())
    paths = study.report()
    assert paths.html == runs / "face" / "report.html" and paths.html.exists()
    assert paths.markdown.exists() and "report: " in repr(study)


def test_a_report_without_its_data_warns_once_and_leaves_out_what_needs_it(tmp_path, capsys):
    from hpsearch.cli import main
    from hpsearch.datasets import DatasetError

    runs = tmp_path / "runs"
    config = make_config("nodata", DIGITS_SPACE,
                         dataset=f'name = "npz"\npath = "{tmp_path}/gone.npz"')
    build_study(runs / "nodata", config, ["complete", "complete"])
    study = hpsearch.load("nodata", runs_dir=runs)
    with pytest.warns(UserWarning, match=r"^data not available \(dataset 'npz': .*gone\.npz"):
        assert study.report().html.exists()
    with pytest.raises(DatasetError):  # asked again: the same error, without a second try
        study.load_data()
    assert main(["report", "nodata", "--runs-dir", str(runs)]) == 0
    err = capsys.readouterr().err
    assert err.count("data not available") == 1 and err.startswith("warning: data not available")


def test_load_by_study_file_uses_the_files_storage_and_names_its_key(tmp_path):
    from hpsearch.storage import StorageError

    path = tmp_path / "named.toml"
    path.write_text('[study]\nname = "named"\nn_trials = 2\n[run]\n'
                    f'storage = "sqlite:///{tmp_path}/elsewhere/study.db"\n'
                    "[space]\nlearning_rate = { low = 1e-3, high = 1e-1, log = true }\n")
    with pytest.raises(StorageError) as caught:
        hpsearch.load(path, runs_dir=tmp_path / "runs")
    message = str(caught.value)
    assert message.startswith(f"{path}: [run] storage") and "\n" not in message


def test_bad_input_is_one_line(tmp_path):
    from hpsearch.storage import StorageError

    with pytest.raises(StorageError, match="no study 'nope' under") as caught:
        hpsearch.load("nope", runs_dir=tmp_path)
    assert "\n" not in str(caught.value)
    missing = tmp_path / "missing.toml"
    with pytest.raises(hpsearch.ConfigError, match="no such study file"):
        hpsearch.run(missing, runs_dir=tmp_path / "runs")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\nname = 'bad'\nn_trials = 2\n[space]\nreg = "
                   "{ low = 0.0, high = 1.0, log = true }\n")
    with pytest.raises(hpsearch.ConfigError) as caught:
        hpsearch.run(bad, runs_dir=tmp_path / "runs")
    message = str(caught.value)
    assert str(bad) in message and "reg" in message and "\n" not in message
    with pytest.raises(ValueError, match=r"^n_trials: expected a positive integer, got 0$"):
        hpsearch.run(bad, n_trials=0, runs_dir=tmp_path / "runs")
    with pytest.raises(ValueError, match="max_in_flight: expected a positive integer"):
        hpsearch.run(bad, max_in_flight=True, runs_dir=tmp_path / "runs")
    with pytest.raises(TypeError, match="expected a study file's path or a StudyConfig, got int"):
        hpsearch.run(42, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # nothing was written for any of them


def test_the_bar_falls_back_to_text_in_a_notebook_without_ipywidgets_and_says_nothing():
    """A kernel without ipywidgets: tqdm.auto would warn "IProgress not found"; we do not."""
    out = _python("""
        import json, sys, types, warnings
        import IPython  # tqdm.auto asks IPython which shell runs it
        sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")  # a kernel
        sys.modules["ipywidgets"] = None  # not installed
        from hpsearch.search import Progress
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            progress = Progress(total=3, initial=1, mode="bar")
            progress.done("complete")
            progress.close()
        bases = [c.__module__ for c in type(progress.bar).__mro__]
        print(json.dumps([bases, [str(w.message) for w in caught]]))
        """)
    bases, warned = json.loads(out.splitlines()[-1])
    assert "tqdm.std" in bases and "tqdm.notebook" not in bases and warned == []


def test_the_bar_left_on_screen_shows_the_end_of_the_run(capsys):
    from types import SimpleNamespace

    from hpsearch.search import Progress

    progress = Progress(total=2, initial=0, mode="bar")
    progress.update(running=2, best=None)  # shown: the first update
    progress.done("complete")
    progress.done("complete")
    progress.update(running=0, best=SimpleNamespace(value=0.9))  # within the half second
    progress.close()
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "2/2" in last and "in flight=0" in last and "best=0.9000" in last

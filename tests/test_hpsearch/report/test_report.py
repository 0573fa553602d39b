"""Reports of stored studies: files, embedded figures, no outside reference, escaping, numbers."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import optuna
import pytest
from _studies import (
    DIGITS_SPACE,
    GRID_SPACE,
    INJECT,
    MOONS_SPACE,
    build_study,
    make_config,
)

from hpsearch.datasets import load_dataset
from hpsearch.report import FIGURES, write_report
from hpsearch.results import evaluate_best, load_evaluation

DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
MD_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
ALL_FIGURES = [spec.name for spec in FIGURES]
# What a study that neither optimizes nor selects by a cost can draw (no accuracy against cost).
PLAIN_FIGURES = [name for name in ALL_FIGURES if name != "front"]


class _Tables(HTMLParser):
    """Text of every <table class=...> cell, by class."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows = self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows = self.tables.setdefault(dict(attrs)["class"], [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def outside_fences(md_text: str) -> str:
    return re.sub(r"(?ms)^(`{3,}).*?^\1$", "", md_text)


def tables_of(html_text: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html_text)
    return parser.tables


def check_files(paths, expected_figures: list[str]) -> tuple[str, str]:
    """The shared contract: files exist, every figure embedded once, Markdown links resolve."""
    html_text = paths.html.read_text(encoding="utf-8")
    md_text = paths.markdown.read_text(encoding="utf-8")
    assert [p.stem for p in paths.figures] == expected_figures
    assert set(paths.left_out) == set(ALL_FIGURES) - set(expected_figures)
    assert html_text.count('<img src="data:image/png;base64,') == len(expected_figures)
    # The embedded images are the PNG files beside the Markdown.
    embedded = [base64.b64decode(m.removeprefix("data:image/png;base64,"))
                for m in DATA_URI.findall(html_text)]
    assert embedded == [p.read_bytes() for p in paths.figures]
    assert all(png.startswith(b"\x89PNG") for png in embedded)
    # Nothing outside the page.
    stripped = DATA_URI.sub("", html_text)
    for needle in ("http:", "https:", "//", "href=", "url(", "@import", "<script", "<link"):
        assert needle not in stripped.lower(), needle
    assert all(v.startswith("data:image/png;base64,")
               for v in re.findall(r'src="([^"]*)"', html_text))
    links = MD_IMAGE.findall(md_text)
    assert len(links) == len(expected_figures)
    for link in links:
        assert (paths.markdown.parent / link).is_file(), link
    return html_text, md_text


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=200, seed=0)


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=400, seed=0)


def test_completed_study_with_evaluation(tmp_path, digits):
    config = make_config("digits", DIGITS_SPACE, description=INJECT)
    study = build_study(tmp_path / "db", config, ["complete"] * 7, fingerprint=digits.fingerprint)
    run_dir = tmp_path / "runs" / "digits"
    evaluation = evaluate_best(study, config, digits, run_dir, n_bootstrap=100)
    paths = write_report(study, config, run_dir, dataset=digits, evaluation=evaluation)
    assert paths.html == run_dir / "report.html" and paths.markdown == run_dir / "report.md"
    html_text, md_text = check_files(paths, [n for n in PLAIN_FIGURES if n != "decision_boundary"])

    tables = tables_of(html_text)
    # Top trials: the stored complete trials, best first, values as stored.
    stored = sorted(study.get_trials(), key=lambda t: (-t.value, t.number))
    top = tables["top"]
    header, rows = top[0], top[1:]
    assert header[:2] == ["number", "value"]
    assert [int(r[0]) for r in rows] == [t.number for t in stored]
    assert [r[1] for r in rows] == [f"{t.value:.4f}" for t in stored]
    lr = header.index("learning_rate")
    assert [float(r[lr]) for r in rows] == pytest.approx(
        [t.params["learning_rate"] for t in stored], rel=1e-3)
    facts = dict(tables["facts"][1:])
    assert facts["trials"].startswith(f"{len(stored)} (")
    assert facts["best validation accuracy"] == f"{stored[0].value:.4f} (trial {stored[0].number})"
    ev = dict(tables["evaluation"][1:])
    assert ev["test accuracy"] == f"{evaluation.test.accuracy:.4f}"
    assert ev["trial"] == str(stored[0].number)
    # Trained on train alone, the retrained model's validation accuracy is a held-out score.
    assert ev["validation accuracy retrained"] == f"{evaluation.retrained.val_accuracy:.4f}"
    assert len(tables["per-class"]) == 1 + digits.num_classes
    # The study file is shown, with the storage password redacted; the description escaped.
    assert "s3cret" not in html_text and "s3cret" not in md_text
    assert "alice:***@" in html_text.replace("&#47;", "/").replace("&#58;", ":")
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    # In Markdown the study file sits in a code fence (shown as text); elsewhere no raw HTML.
    prose = outside_fences(md_text)
    assert "<script>" not in prose and "<img" not in prose and "&lt;script&gt;" in prose


def test_study_with_pruned_failed_and_running_trials(tmp_path):
    config = make_config("mixed", DIGITS_SPACE)
    states = ["complete", "pruned", "failed", "complete", "pruned", "interrupted", "complete",
              "running"]
    study = build_study(tmp_path / "db", config, states)
    paths = write_report(study, config, tmp_path / "run")
    expected = ["history", "states", "params", "parallel", "importances", "learning_curves",
                "timeline", "best_model"]
    html_text, _ = check_files(paths, expected)
    assert "still running" in html_text and "hpsearch best" in html_text
    tables = tables_of(html_text)
    failed = {int(r[0]): r[1] for r in tables["failed"][1:]}
    assert failed == {t.number: t.user_attrs["failure_reason"] for t in study.get_trials()
                      if t.state.name == "FAIL"}
    facts = dict(tables["facts"][1:])
    assert facts["interrupted and re-run"] == "1"
    assert "(3 complete, 2 pruned, 2 failed, 1 running)" in facts["trials"]


def test_empty_study_says_so(tmp_path):
    config = make_config("empty", DIGITS_SPACE)
    study = build_study(tmp_path / "db", config, [])
    paths = write_report(study, config, tmp_path / "run")
    html_text, md_text = check_files(paths, [])
    assert "no trials yet" in html_text and "no trials yet" in md_text


def test_only_failures_says_so(tmp_path):
    config = make_config("failing", DIGITS_SPACE)
    study = build_study(tmp_path / "db", config, ["failed", "failed"])
    paths = write_report(study, config, tmp_path / "run")
    html_text, _ = check_files(paths, ["states", "learning_curves", "timeline"])
    assert "No trial has completed yet (2 failed" in html_text
    assert "No complete trial yet." in html_text


def test_two_d_study_draws_the_decision_boundary(tmp_path, moons):
    config = make_config("moons", MOONS_SPACE, dataset='name = "moons"\nn_samples = 400')
    study = build_study(tmp_path / "db", config, ["complete", "complete", "pruned"],
                        fingerprint=moons.fingerprint)
    run_dir = tmp_path / "run"
    evaluate_best(study, config, moons, run_dir, n_bootstrap=100)
    evaluation = load_evaluation(run_dir)  # as `hpsearch report` finds it
    paths = write_report(study, config, run_dir, dataset=moons, evaluation=evaluation)
    expected = [n for n in PLAIN_FIGURES if n != "first_layer"]
    check_files(paths, expected)
    # Without the data the boundary is left out and the report says why; stale PNGs go.
    paths = write_report(study, config, run_dir, evaluation=evaluation)
    html_text, _ = check_files(paths, [n for n in expected if n != "decision_boundary"])
    assert not (run_dir / "figures" / "decision_boundary.png").exists()
    assert "decision boundary is left out" in html_text


def test_grid_study_table_matches_storage(tmp_path):
    config = make_config("grid", GRID_SPACE, sampler="grid", n_trials=6)
    study = build_study(tmp_path / "db", config, ["complete"] * 6)
    paths = write_report(study, config, tmp_path / "run")
    html_text, md_text = check_files(  # 6 settings: compared side by side
        paths, ["history", "states", "params", "parallel", "importances", "learning_curves",
                "timeline", "best_model", "compare_1", "compare_3"])
    tables = tables_of(html_text)
    grid = tables["grid"]
    assert grid[0] == ["learning_rate", "reg", "value", "state", "number"]
    by_number = {t.number: t for t in study.get_trials()}
    assert len(grid) == 7
    for row in grid[1:]:
        trial = by_number[int(row[4])]
        assert row[2] == f"{trial.value:.4f}"
        assert float(row[0]) == pytest.approx(trial.params["learning_rate"])
    values = [float(r[2]) for r in grid[1:]]
    assert values == sorted(values, reverse=True)
    pivot = tables["grid-pivot"]
    assert pivot[0][0] == "learning_rate \\ reg" and len(pivot) == 4
    cells = {(float(r[0]), float(pivot[0][j])): r[j] for r in pivot[1:]
             for j in range(1, len(r))}
    for t in by_number.values():
        assert cells[(t.params["learning_rate"], t.params["reg"])] == f"{t.value:.4f}"
    assert "| learning\\_rate | reg | value | state | number |" in md_text


def test_strings_from_storage_are_escaped(tmp_path):
    config = make_config("inject", DIGITS_SPACE, description=INJECT)
    name = 'x"><b onmouseover=alert(1)>' + INJECT
    study = build_study(tmp_path / "db", config, ["complete", "complete"], study_name=name)
    trial = study.ask({"activation": optuna.distributions.CategoricalDistribution([INJECT])})
    trial.report(0.5, 1)
    study.tell(trial, 0.99)  # best: its parameter value lands in the top table
    paths = write_report(study, config, tmp_path / "run")
    html_text, md_text = check_files(paths, [
        "history", "states", "params", "parallel", "importances", "learning_curves",
        "timeline"])
    for raw in ("<script", "<b ", '<img src="http', 'x">'):
        assert raw not in html_text and raw not in outside_fences(md_text)
    assert "<img" not in outside_fences(md_text)
    assert html_text.count("&lt;script&gt;") >= 3  # name (title, heading), description, param
    top = tables_of(html_text)["top"]
    assert INJECT in top[1]


def test_timeline_puts_overlapping_trials_on_separate_slots_of_their_node():
    from types import SimpleNamespace

    import pandas as pd

    from hpsearch.report._figures import _timeline_bars

    trials = pd.DataFrame({
        "node": ["aaaaaaaaaa", "aaaaaaaaaa", "bbbbbbbbbb", "aaaaaaaaaa", None],
        "started_at": [100.0, 100.5, 100.2, 101.2, None],  # the last never started
        "duration_s": [1.0, 1.0, 3.0, 0.8, None],
        "state": ["complete", "pruned", "complete", "failed", "running"],
    })
    bars, labels = _timeline_bars(SimpleNamespace(trials=trials))
    # a: [0, 1] slot 1, [0.5, 1.5] overlaps it -> slot 2, [1.2, 2.0] reuses slot 1; b: its own.
    assert labels == ["aaaaaaaa #1", "aaaaaaaa #2", "bbbbbbbb #1"]
    assert sorted(bars, key=lambda b: b[1]) == [
        (0, 0.0, 1.0, "complete"), (2, pytest.approx(0.2), 3.0, "complete"),
        (1, 0.5, 1.0, "pruned"), (0, pytest.approx(1.2), 0.8, "failed")]


def _timed_trial(start: float, duration: float, value: float = 0.9):
    """A complete trial that trained over [start, start + duration) (Unix seconds)."""
    from datetime import datetime

    from optuna.distributions import FloatDistribution

    trial = optuna.trial.create_trial(
        params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, value=value,
        user_attrs={"started_at": start, "duration_s": duration})
    trial.datetime_start = datetime.fromtimestamp(start)
    trial.datetime_complete = datetime.fromtimestamp(start + duration)
    return trial


def test_occupancy_shows_what_each_study_sharing_the_storage_got(tmp_path):
    """Two studies on one storage at once: the timeline's lower panel stacks both."""
    from hpsearch.report._figures import new_figure, plot_occupancy
    from hpsearch.report._summary import _occupancy
    from hpsearch.results import trials_frame

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    mine = optuna.create_study(study_name="mine", storage=url, direction="maximize")
    other = optuna.create_study(study_name="other", storage=url, direction="maximize")
    late = optuna.create_study(study_name="late", storage=url, direction="maximize")
    # mine: 2 slots busy over [100, 110); other: 1 slot over [104, 120); late: after mine ended.
    for start in (100, 102, 104, 106, 108):
        mine.add_trials([_timed_trial(start, 2.0), _timed_trial(start, 2.0)])
    other.add_trials([_timed_trial(104 + 4 * i, 4.0) for i in range(4)])
    late.add_trials([_timed_trial(200, 5.0)])
    occ = _occupancy(mine, trials_frame(mine))
    assert occ.groupby("study").size().to_dict() == {"mine": 10, "other": 2}

    summary = SimpleNamespace(name="mine", occupancy=occ)
    ax = new_figure((6, 3)).add_subplot()
    plot_occupancy(summary, ax, bins=10)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mine (this study)", "other"]
    mine_bars, other_bars = ax.patches[:2]
    # Mean trials running per 1 s bin: mine 2 throughout, other 1 from 104 s on (stacked).
    heights_mine = mine_bars.get_data().values
    stacked = other_bars.get_data()
    assert heights_mine == pytest.approx([2.0] * 10)
    assert stacked.values == pytest.approx([2.0] * 4 + [3.0] * 6)
    assert stacked.baseline == pytest.approx([2.0] * 10)


def test_learning_curves_draw_one_line_per_trial_in_epoch_order():
    import pandas as pd

    from hpsearch.report._figures import new_figure, plot_learning_curves

    inter = pd.DataFrame({"trial": [3, 1, 3, 1, 2, 3], "epoch": [2, 1, 1, 2, 1, 3],
                          "value": [0.5, 0.1, 0.4, 0.2, 0.3, 0.6],
                          "state": ["complete"] * 6})
    ax = new_figure((6, 3)).add_subplot()
    plot_learning_curves(SimpleNamespace(intermediate=inter, metric="val"), ax)
    segments = [s.tolist() for s in ax.collections[0].get_segments()]
    assert segments == [[[1, 0.1], [2, 0.2]], [[1, 0.3]], [[1, 0.4], [2, 0.5], [3, 0.6]]]

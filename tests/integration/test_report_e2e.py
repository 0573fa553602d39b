"""A real study, run on local Ray, evaluated and reported through the command line."""

from __future__ import annotations

import re

import pytest

from hpsearch.cli import main

from ._studies import write_study


@pytest.mark.slow
def test_comparison_study_runs_evaluates_and_reports(ray_local, tmp_path, capsys):
    config = write_study(tmp_path, "cmp", """
[space]
num_epochs = 4
update_rule = { grid = ["sgd_momentum", "adam"] }
learning_rate = 1e-2
[sampler]
name = "grid"
[pruner]
name = "none"
""")
    runs = tmp_path / "runs"
    assert main(["run", str(config.source), "--runs-dir", str(runs), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy of the best configuration" in out
    run_dir = runs / "cmp"
    html = (run_dir / "report.html").read_text()
    assert "Settings compared" in html
    assert "update_rule=adam" in html or "update_rule=adam" in (run_dir / "report.md").read_text()
    md = (run_dir / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (run_dir / link).is_file(), link
    assert any(p.name.startswith("compare_") for p in (run_dir / "figures").iterdir())
    for name in ("trials.csv", "trials.parquet", "intermediate.csv", "best/model.npz",
                 "best/metrics.json"):
        assert (run_dir / name).is_file(), name
    # the report command alone regenerates it from storage
    (run_dir / "report.html").unlink()
    assert main(["report", "cmp", "--runs-dir", str(runs)]) == 0
    assert (run_dir / "report.html").is_file()

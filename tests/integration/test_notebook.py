"""docs/quickstart.ipynb executed for real (nbclient, a python3 kernel of this interpreter) on a
tiny study: the notebook starts its own local Ray, runs, tests the best once, writes the report
and leaves no Ray behind; the assertions read the executed cells' outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "quickstart.ipynb"

STUDY = """# the notebook test's study: 4 quick trials on a 2-D toy set
[study]
name = "nb"
seed = 5
n_trials = 4

[dataset]
name = "moons"
n_samples = 300

[space]
learning_rate = { low = 1e-2, high = 1e-1, log = true }
hidden_size = { choices = [8, 16] }
update_rule = "adam"
num_epochs = 2
batch_size = 32

[sampler]
name = "random"

[pruner]
name = "none"
"""


def _text(cell) -> str:
    """Everything a cell showed: streams, and the plain text of its results."""
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


def _cell(nb, starts: str):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts))


@pytest.mark.slow
def test_quickstart_notebook_runs_a_study_and_shows_its_results(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")

    study_file = tmp_path / "nb.toml"
    study_file.write_text(STUDY)
    runs = tmp_path / "runs"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # As papermill does: the test's parameters in a cell right after the tagged one.
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        f"study_file = {str(study_file)!r}\nruns_dir = {str(runs)!r}\nn_trials = 4\n"
        "max_in_flight = 2"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import sys\nprint('ray initialized:', sys.modules['ray'].is_initialized())"))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    # The trials table: four rows, trials 0-3, all complete (no pruner), values in [0, 1].
    table = _text(_cell(nb, "study.trials")).splitlines()
    assert table[0].split()[:3] == ["number", "state", "value"]
    rows = [line.split() for line in table[1:]]
    assert [int(r[1]) for r in rows] == [0, 1, 2, 3]
    assert {r[2] for r in rows} == {"complete"}
    values = {int(r[1]): float(r[3]) for r in rows}
    assert all(0.0 <= v <= 1.0 for v in values.values())
    # The best: the table's highest value (ties: the lowest number), with its parameters.
    best = _text(_cell(nb, "study.best"))
    found = re.match(r"Best\(number=(\d+), value=([0-9.]+), params=", best)
    number, value = int(found.group(1)), float(found.group(2))
    top = max(values.values())
    assert value == pytest.approx(top, abs=1e-6)  # the table shows 6 digits
    assert number == min(n for n, v in values.items() if v == top)
    assert "'learning_rate'" in best and "'hidden_size'" in best
    # Tested once, for that trial; the study's summary shown by its repr.
    assert f"for trial {number} " in _text(_cell(nb, "print(study.evaluation"))
    shown = _text(_cell(nb, "import hpsearch"))
    assert "<hpsearch.Study 'nb' in sqlite:///" in shown and "4 complete" in shown
    # The report files exist under the study's folder.
    html, markdown = _text(_cell(nb, "paths = study.report()")).split()
    assert Path(html) == runs / "nb" / "report.html" and Path(html).stat().st_size > 0
    assert Path(markdown) == runs / "nb" / "report.md" and Path(markdown).exists()
    assert _text(_cell(nb, "again = hpsearch.load")).strip() == "(4, True)"
    # Its own Ray instance is gone; no "IProgress not found" (no ipywidgets here) anywhere.
    assert _text(nb.cells[-1]).strip() == "ray initialized: False"
    assert not any("IProgress" in _text(c) for c in nb.cells if c.cell_type == "code")

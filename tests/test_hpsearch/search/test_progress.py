"""The driver's progress: JSON lines a job log can be read back from, or nothing."""

import json
from types import SimpleNamespace

import pytest

from hpsearch.search import LINE_PREFIX, Progress
from hpsearch.search import _progress as _progress


def _lines(text):
    return [json.loads(line.removeprefix(LINE_PREFIX + " ")) for line in text.splitlines()
            if line.startswith(LINE_PREFIX + " ")]


def test_lines_mode_reports_counts_best_and_a_final_line(capsys, monkeypatch):
    monkeypatch.setattr(_progress, "_LINE_EVERY_S", 0.0)
    progress = Progress(total=5, initial=1, mode="lines")
    progress.update(running=2, best=None)
    progress.done("complete")
    progress.done("pruned")
    progress.update(running=1, best=SimpleNamespace(value=0.91234567))
    progress.close()
    first, second, last = _lines(capsys.readouterr().out)
    assert first["done"] == 1 and first["best"] is None and first["running"] == 2
    assert second == second | {"done": 3, "target": 5, "pruned": 1, "best": 0.912346}
    assert last["running"] == 0 and last["done"] == 3


def test_lines_are_rate_limited(capsys):
    progress = Progress(total=5, initial=0, mode="lines")
    for _ in range(100):
        progress.update(running=1, best=None)
    progress.close()
    assert len(_lines(capsys.readouterr().out)) <= 2


def test_none_mode_prints_nothing_and_bad_modes_are_refused(capsys):
    progress = Progress(total=2, initial=0, mode=False)
    progress.update(1, None)
    progress.done("failed")
    progress.close()
    assert capsys.readouterr() == ("", "")
    with pytest.raises(ValueError, match="expected 'bar', 'lines' or 'none'"):
        Progress(total=2, initial=0, mode="fancy")

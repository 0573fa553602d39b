"""Files written whole or not at all: a failure half-way leaves the old file and no temporary."""

from __future__ import annotations

import os

import pytest
from _studies import DIGITS_SPACE, build_study, make_config

import hpsearch._files
from hpsearch._files import atomic_path, atomic_write_bytes, atomic_write_text
from hpsearch.report import write_report


def test_writes_replace_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    assert atomic_write_text(path, "old\n") == path
    atomic_write_bytes(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_a_writer_failing_half_way_leaves_the_old_file(tmp_path):
    path = tmp_path / "trials.parquet"
    path.write_bytes(b"the previous table")
    with pytest.raises(OSError, match="No space"), atomic_path(path) as tmp:
        tmp.write_bytes(b"half a ta")
        raise OSError(28, "No space left on device")
    assert path.read_bytes() == b"the previous table"
    assert os.listdir(tmp_path) == ["trials.parquet"]


def test_a_failed_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")

    def fail(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(hpsearch._files.os, "replace", fail)
    with pytest.raises(OSError, match="Input/output"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.npz"]


def test_a_report_that_fails_to_write_keeps_the_previous_one(tmp_path, monkeypatch):
    config = make_config("atomic", DIGITS_SPACE)
    study = build_study(tmp_path / "db", config, ["complete", "complete"])
    run_dir = tmp_path / "run"
    paths = write_report(study, config, run_dir)
    before = {p: p.read_bytes() for p in [paths.html, paths.markdown, *paths.figures]}
    real = os.replace

    def full_disk_at_html(src, dst):
        if str(dst).endswith("report.html"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(hpsearch._files.os, "replace", full_disk_at_html)
    with pytest.raises(OSError, match="No space"):
        write_report(study, config, run_dir)
    assert paths.html.read_bytes() == before[paths.html]
    assert paths.markdown.read_bytes() == before[paths.markdown]
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []

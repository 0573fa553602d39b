"""A stored study found by its name or its study file, with the study file it was run with.

Every reading command (status, trials, best, report, rerun, dashboard) starts here, so they all
find a study the same way: a study file names it and may name its storage; a bare name is looked
up under the runs directory, or in the storage URL given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch import _attrs as A
from hpsearch.storage import StorageError, open_for_reading, redact, resolve_url, sqlite_path
from hpsearch.study._config import StudyConfig
from hpsearch.study._parse import load_study_config, parse_study_config

__all__ = ["StoredStudy", "find_study"]


@dataclass
class StoredStudy:
    """A study as stored: its study file (as run), the Optuna study, and where it lives.

    Attributes:
        config: the study file (the given one, or the text stored with the study).
        study: the ``optuna.Study``, read straight from its storage.
        url: the storage URL (print it through ``hpsearch.storage.redact``).
        run_dir: the study's folder under the runs directory (tables, best model, report).
    """

    config: StudyConfig
    study: Any
    url: str
    run_dir: Path


def _is_study_file(ref: str) -> bool:
    return ref.endswith(".toml") or Path(ref).is_file()


def find_study(ref: str, runs_dir: Path = Path("runs"), storage: str | None = None) -> StoredStudy:
    """The stored study that ``ref`` (a study name or study file) names.

    Args:
        ref: a study name, or the path of its study file.
        runs_dir: where studies live by default.
        storage: a storage URL, overriding the study file's and the default.

    Raises:
        hpsearch.storage.StorageError: no such study, or its storage cannot be read.
        hpsearch.study.ConfigError: the study file (given or stored) is invalid.
    """
    import optuna

    if runs_dir.exists() and not runs_dir.is_dir():
        raise StorageError(f"--runs-dir {runs_dir}: not a folder")
    config = load_study_config(Path(ref)) if _is_study_file(ref) else None
    name = config.name if config is not None else ref
    url = resolve_url(name, runs_dir, storage, config.run.storage if config else None)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise StorageError(f"no study {name!r} under {runs_dir}/ (looked for {path}); run it "
                           "first with `hpsearch run STUDY.toml`, or pass --runs-dir / --storage")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_for_reading(name, url)
    if config is None:
        text = study.user_attrs.get(A.STUDY_CONFIG_TEXT)
        if text is None:
            raise StorageError(f"study {name!r} in {redact(url)} was not created by hpsearch "
                               "(it has no stored study file)")
        config = parse_study_config(text, source=study.user_attrs.get(A.STUDY_CONFIG_PATH)
                                    or f"<stored study file of {name}>")
    return StoredStudy(config, study, url, runs_dir / name)

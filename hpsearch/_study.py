"""The Python face: run a study or open a stored one, and read what it found (notebooks, scripts).

``hpsearch.run`` is ``hpsearch run`` as a function: the same checks in the same order (study
file, data, then storage and Ray), the same search (``hpsearch.search.run_study``) and the same
steps after it (``hpsearch.results.after_search``). ``hpsearch.load`` opens a stored study the
way every reading command does (``hpsearch.study.find_study``). Both return a ``Study``; the CLI
calls these functions too, so a notebook and a terminal cannot drift apart.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch._notebook import quiet_tqdm

if TYPE_CHECKING:
    import pandas as pd

    from hpsearch.search import RunSummary
    from hpsearch.study import StoredStudy, StudyConfig

__all__ = ["Best", "Study", "load", "load_config", "run", "run_lines"]

quiet_tqdm()  # before anything here imports Optuna (see hpsearch/_notebook.py)

_UNLOADED = object()  # the data has not been asked for yet


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study file.

    Raises:
        hpsearch.study.ConfigError: the file is missing or invalid (one line naming the file,
            the key and what was expected).
    """
    from hpsearch.study import load_study_config

    return load_study_config(Path(path))


@dataclass(frozen=True)
class Best:
    """The study's best complete trial.

    Attributes:
        number: its trial number.
        value: its validation accuracy (the mean over folds with cross-validation).
        params: the parameters it was proposed.
    """

    number: int
    value: float
    params: dict[str, Any]


class Study:
    """A study run from here or opened from its storage: its trials, best, evaluation, report.

    Made by ``hpsearch.run`` and ``hpsearch.load``; not built directly. Every read goes to the
    study's storage, so a study another driver is running shows its trials as they finish.

    Attributes:
        config: the study file (the one run, or the text stored with the study).
        runs_dir: where the study's folder lives.
        summary: what the run that made this object did (``hpsearch.search.RunSummary``);
            None when the study was loaded.
    """

    def __init__(self, config: StudyConfig, runs_dir: Path,
                 open_stored: Callable[[], StoredStudy], *, summary: RunSummary | None = None,
                 dataset: Any = _UNLOADED) -> None:
        self.config, self.runs_dir, self.summary = config, runs_dir, summary
        self._open_stored = open_stored
        self._stored: StoredStudy | None = None
        self._dataset: Any = dataset
        self._data_error: Exception | None = None
        self._evaluation: Any = None

    # --- where it lives ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The study's name (also its folder under ``runs_dir``)."""
        return self.config.name

    @property
    def stored(self) -> StoredStudy:
        """The stored study (``hpsearch.study.StoredStudy``), opened for reading on first use."""
        if self._stored is None:
            self._stored = self._open_stored()
        return self._stored

    @property
    def run_dir(self) -> Path:
        """The study's folder: run log, tables, best model, report."""
        return self.runs_dir / self.name

    @property
    def storage(self) -> str:
        """The storage URL, passwords redacted."""
        from hpsearch.storage import redact

        return redact(self.stored.url)

    # --- what it found ----------------------------------------------------------------------------

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: the table ``hpsearch trials NAME --csv`` prints."""
        from hpsearch.results import trials_frame

        return trials_frame(self.stored.study, self.stored.config)

    @property
    def best(self) -> Best | None:
        """The best complete trial (ties: the lowest number); None before one completes."""
        from hpsearch.results import accuracy, best_trial

        trial = best_trial(self.stored.study)
        if trial is None:
            return None
        return Best(trial.number, accuracy(trial), dict(trial.params))

    @property
    def evaluation(self) -> Any:
        """The best configuration tested once (``evaluate()``'s, or the stored one), or None."""
        if self._evaluation is None:
            from hpsearch.results import load_evaluation

            self._evaluation = load_evaluation(self.run_dir)
        return self._evaluation

    def load_data(self) -> Any:
        """The study's dataset, split as its trials saw it (loaded once, then kept).

        Raises:
            hpsearch.datasets.DatasetError: it cannot be loaded here (a user's directory that
                this machine lacks); later calls raise the same error without trying again.
        """
        if self._data_error is not None:
            raise self._data_error
        if self._dataset is _UNLOADED:
            from hpsearch.datasets import DatasetError

            try:
                self._dataset = self.stored.config.load_data()
            except DatasetError as exc:
                self._data_error = exc
                raise
        return self._dataset

    # --- what can be done with it -----------------------------------------------------------------

    def evaluate(self, *, extra_seeds: int = 0, train_on_val: bool = False) -> Any:
        """Retrain the best configuration and score the test split once (``hpsearch best``).

        Args:
            extra_seeds: retrain with this many further seeds; report their mean and spread.
            train_on_val: retrain on train + validation.

        Returns:
            The evaluation (its ``summary()`` is one line), also stored under ``run_dir/best/``.
        """
        from hpsearch import results

        self._evaluation = results.evaluate(self.stored, self.load_data(),
                                            extra_seeds=extra_seeds, train_on_val=train_on_val)
        return self._evaluation

    def export(self) -> dict[str, Path]:
        """Write the trials tables (CSV, Parquet) under ``run_dir``; their paths by kind."""
        from hpsearch import results

        return results.export(self.stored)

    def report(self) -> Any:
        """Write ``report.html`` and ``report.md`` under ``run_dir`` from what is stored.

        Figures that need the data are left out, with a warning, when it cannot be loaded.

        Returns:
            ``hpsearch.report.ReportPaths``: ``.html``, ``.markdown`` and the figures.
        """
        from hpsearch import results
        from hpsearch.datasets import DatasetError

        known_missing = self._data_error is not None
        try:
            dataset = self.load_data()
        except DatasetError as exc:
            if not known_missing:  # said once: whoever asked for the data first was told
                import warnings

                warnings.warn(f"data not available ({exc}); figures that need it are left out",
                              stacklevel=2)
            dataset = None
        return results.report(self.stored, dataset, self._evaluation)

    def rerun(self, number: int) -> Any:
        """Re-run trial ``number`` from its record and compare (``hpsearch rerun``).

        Returns:
            ``hpsearch.results.Rerun``: ``.reproduced``, ``.differences()``, the new result.
        """
        from hpsearch.results import rerun_trial

        return rerun_trial(self.stored, number, self.load_data())

    # --- shown ------------------------------------------------------------------------------------

    def _facts(self) -> list[str]:
        from collections import Counter

        from hpsearch.results import STATES  # "FAIL" -> "failed", as the trials table says

        trials = self.stored.study.get_trials(deepcopy=False)
        counts = Counter(t.state.name for t in trials)
        facts = [", ".join(f"{counts[s]} {word}" for s, word in STATES.items() if counts[s])
                 or "no trials yet"]
        best = self.best
        facts.append("no complete trial yet" if best is None else
                     f"best: trial {best.number}, val acc {best.value:.4f}, "
                     f"{json.dumps(best.params, default=str)}")
        if self.summary is not None and self.summary.interrupted:
            facts.append("interrupted: run it again to resume")
        if (evaluation := self.evaluation) is not None:
            facts.append(f"test: {evaluation.summary()}")
        if (self.run_dir / "report.html").exists():
            facts.append(f"report: {self.run_dir / 'report.html'}")
        return facts

    def __repr__(self) -> str:
        try:
            facts = self._facts()
        except Exception as exc:  # a repr must not raise: a storage gone since, say
            facts = [f"(cannot read it now: {type(exc).__name__})"]
        return "\n".join([f"<hpsearch.Study {self.name!r} in {self._storage_or_unknown()}>",
                          *(f"  {line}" for line in facts)])

    def _repr_html_(self) -> str:
        lines = repr(self).splitlines()
        items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in lines[1:])
        return f"<div><b>{html.escape(lines[0])}</b><ul>{items}</ul></div>"

    def _storage_or_unknown(self) -> str:
        """``storage``, or a placeholder when it cannot be opened now (for the repr)."""
        try:
            return self.storage
        except Exception:
            return "<storage not reachable>"


def load(ref: str | Path, *, runs_dir: str | Path = "runs", storage: str | None = None) -> Study:
    """Open a stored study by name or study file, as ``hpsearch status NAME`` does.

    Args:
        ref: a study name (looked up under ``runs_dir``, or in ``storage``) or a study file.
        runs_dir: where studies live by default.
        storage: an Optuna storage URL, overriding the study file's and the default.

    Raises:
        hpsearch.storage.StorageError: no such study, or its storage cannot be read; a storage
            that the study file names is named by its file and key.
        hpsearch.study.ConfigError: the study file (given or stored) is invalid.
    """
    runs_dir = Path(runs_dir)
    stored = _find(str(ref), runs_dir, storage)
    return Study(stored.config, runs_dir, lambda: stored)


def _find(ref: str, runs_dir: Path, storage: str | None) -> StoredStudy:
    from hpsearch.storage import StorageError
    from hpsearch.study import find_study, load_study_config

    try:
        return find_study(ref, runs_dir, storage)
    except StorageError as exc:
        # A storage the study file names: say which file and key, as a config error does.
        if storage is not None or not (ref.endswith(".toml") or Path(ref).is_file()):
            raise
        config = load_study_config(Path(ref))  # loaded once already: it loads
        if not config.run.storage:
            raise
        raise StorageError(f"{config.where('run.storage')}: "
                           f"{str(exc).removeprefix('storage ')}") from None


def run(study: str | Path | StudyConfig, *, n_trials: int | None = None,
        runs_dir: str | Path = "runs", storage: str | None = None, address: str | None = None,
        max_in_flight: int | None = None, progress: str | bool = "bar", evaluate: bool = True,
        report: bool = True, say: Callable[[str], None] | None = None) -> Study:
    """Run (or resume) a study, then test its best configuration and write its report.

    ``hpsearch run STUDY.toml`` as a function. Without ``address`` a local Ray instance is
    started for the run and shut down after it (one already started in this process is used
    and left running). Ctrl-C (a notebook's interrupt) stops cleanly: ``summary.interrupted``.

    Args:
        study: a study file, or a ``StudyConfig`` (``hpsearch.load_config``).
        n_trials: finished trials to reach (default: the study file's).
        runs_dir: where ``<name>/`` (storage, run log, tables, report) lives.
        storage: an Optuna storage URL (default: the study file's, else SQLite in ``runs_dir``).
        address: a Ray cluster to join ("auto", "HOST:PORT"); default a local instance.
        max_in_flight: most trials running at once (default: the cluster's CPUs).
        progress: "bar" (a notebook's widget where ipywidgets is installed, else text on
            stderr), "lines" (JSON lines on stdout) or "none"; True and False mean "bar", "none".
        evaluate: retrain the best configuration and score the test split (if the study file's
            ``[run] evaluate_best`` allows it).
        report: write the tables and the report (if the study file's ``[run] report`` allows).
        say: called with each line the CLI prints (what the run did, each step after it).

    Returns:
        The ``Study``, with ``summary`` set.

    Raises:
        ValueError: ``n_trials`` or ``max_in_flight`` is not a positive integer.
        hpsearch.study.ConfigError, hpsearch.datasets.DatasetError: the study file or its data
            is refused (before any storage is touched or Ray is started).
        hpsearch.search.StudyError, hpsearch.storage.StorageError: see ``run_study``.
    """
    import optuna

    from hpsearch.results import after_search
    from hpsearch.search import run_study

    for key, value in (("n_trials", n_trials), ("max_in_flight", max_in_flight)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"{key}: expected a positive integer, got {value!r}")
    config = _config_of(study)
    runs_dir = Path(runs_dir)
    dataset = config.load_data()  # before any storage is touched: bad data fails first
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summary = run_study(config, runs_dir=runs_dir, n_trials=n_trials, storage=storage,
                        address=address, max_in_flight=max_in_flight, progress=progress,
                        dataset=dataset)
    say = say or (lambda _line: None)
    for line in run_lines(summary):
        say(line)
    # Opened once, to read; by name, as the study file may be gone (a job's folder).
    def open_stored() -> StoredStudy:
        from hpsearch.study import find_study

        return find_study(config.name, runs_dir, storage or config.run.storage)

    done = Study(config, runs_dir, open_stored, summary=summary, dataset=dataset)
    if not summary.interrupted:
        after = after_search(done.stored, dataset,
                             evaluate_best=config.run.evaluate_best and evaluate,
                             write_report=config.run.report and report, say=say)
        done._evaluation = after.evaluation
    return done


def run_lines(summary: RunSummary) -> list[str]:
    """What a run did, as ``hpsearch run`` prints it: counts, the best trial, the storage."""
    best = ("no complete trial yet" if summary.best_value is None else
            f"best trial {summary.best_trial}: val acc {summary.best_value:.4f} "
            f"{json.dumps(summary.best_params, default=str)}")
    recovered = (f"; {summary.n_recovered} interrupted trials re-enqueued"
                 if summary.n_recovered else "")
    return [f"{summary.name}: {summary.n_complete} complete, {summary.n_pruned} pruned, "
            f"{summary.n_failed} failed in {summary.wall_s:.1f} s "
            f"({summary.efficiency:.0%} dispatch efficiency at {summary.max_in_flight} in flight)"
            + recovered, best, f"storage: {summary.storage}"]


def _config_of(study: Any) -> StudyConfig:
    from hpsearch.study import StudyConfig

    if isinstance(study, StudyConfig):
        return study
    if isinstance(study, str | Path):
        return load_config(study)
    raise TypeError(f"hpsearch.run: expected a study file's path or a StudyConfig, got "
                    f"{type(study).__name__}")

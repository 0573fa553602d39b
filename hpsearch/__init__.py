"""hpsearch: hyperparameter search for small neural nets on Ray, driven by Optuna.

From Python (a notebook, a script)::

    import hpsearch

    study = hpsearch.run("studies/digits.toml", n_trials=20)   # or a StudyConfig
    study.trials          # pandas DataFrame, one row per trial (`hpsearch trials`)
    study.best            # Best(number, value, params)
    study.evaluation      # the best configuration tested once, or None
    study.report()        # report.html and report.md

    study = hpsearch.load("digits")   # a stored study, by name or study file

``import hpsearch`` imports none of Optuna, Ray, pandas or matplotlib: each name below is
imported on first use (``hpsearch/_lazy.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._study import (
        Best,
        Study,
        load,
        load_config,
        run,
    )
    from .study import (
        ConfigError,
        StudyConfig,
    )

__version__ = "0.1.0"

_NAMES = {
    "Best": "._study",
    "Study": "._study",
    "load": "._study",
    "load_config": "._study",
    "run": "._study",
    "ConfigError": ".study",
    "StudyConfig": ".study",
}
__all__ = [
    "Best",
    "ConfigError",
    "Study",
    "StudyConfig",
    "__version__",
    "load",
    "load_config",
    "run",
]
__getattr__, __dir__ = face(__name__, _NAMES)

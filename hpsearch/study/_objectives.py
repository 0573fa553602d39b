"""What a study optimizes: validation accuracy and the costs a trial measures, with directions.

A study file may name several objectives (``[study] objectives``); the stored study is then an
ordinary multi-objective Optuna study whose values are, in order, validation accuracy and the
costs as the file lists them. Accuracy always comes first: it is the one objective with a
learning curve (what the pruners act on, what ranks trials for refit and the ensemble); costs
are known from the configuration or when the trial ends. ``[selection] rule = "one_se"`` names a
cost the same way (``COSTS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.study._errors import ConfigError, key_where, refused
from hpsearch.study._rules import Options

__all__ = ["ACCURACY", "COSTS", "DEFAULT_OBJECTIVES", "DIRECTIONS", "Cost", "Objective",
           "check_costs_vary", "parse_objectives"]

ACCURACY = "val_accuracy"
DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Cost:
    """A cost every trial measures (``TrialResult.costs``), usable as an objective.

    Attributes:
        label: how tables and figures name it.
        depends_on: the parameters that change it; None: it varies from trial to trial anyway
            (a time measured on the worker).
    """

    label: str
    depends_on: frozenset[str] | None = None


_ARCHITECTURE = frozenset({"model", "hidden_size", "num_layers", "per_layer_sizes", "hidden_sizes",
                           "normalization", "num_filters", "filter_size", "num_conv_stages"})
COSTS: dict[str, Cost] = {
    "n_params": Cost("parameters", _ARCHITECTURE),
    "train_cpu_s": Cost("training CPU-seconds"),
    "inference_ms": Cost("inference ms per 1000 examples"),
    "epochs": Cost("epochs trained", frozenset({"num_epochs", "num_iterations", "batch_size",
                                                "patience"})),
}


@dataclass(frozen=True)
class Objective:
    """One value the study optimizes: ``ACCURACY`` or a key of ``COSTS``, and its direction."""

    name: str
    direction: str

    @property
    def label(self) -> str:
        """How tables and figures name it."""
        return "validation accuracy" if self.name == ACCURACY else COSTS[self.name].label


_NAMES = Options(str, (ACCURACY, *COSTS))
_EXAMPLE = '{ val_accuracy = "maximize", n_params = "minimize" }'
DEFAULT_OBJECTIVES = (Objective(ACCURACY, "maximize"),)


def parse_objectives(value: Any, source: Any) -> tuple[Objective, ...]:
    """``[study] objectives``: a table of name -> direction, accuracy first in the result.

    Raises:
        ConfigError: not a table, an unknown name, a direction missing or not one of
            ``DIRECTIONS``, accuracy missing or not maximized (one line each).
    """
    where = key_where(source, "study.objectives")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a direction for each objective, as in "
                          f"objectives = {_EXAMPLE}, got {value!r}")
    if not isinstance(value, Mapping) or not value:
        raise refused(source, "study.objectives", f"a table of objective -> direction, as in "
                      f"{_EXAMPLE}", value)
    objectives = []
    for name, direction in value.items():
        if not _NAMES.is_satisfied_by(name):
            raise ConfigError(f"{where}: unknown objective {name!r}; expected "
                              f"{_NAMES}")
        if not isinstance(direction, str) or direction not in DIRECTIONS:
            raise ConfigError(f"{where}: {name}: expected a direction, 'maximize' or "
                              f"'minimize', got {direction!r}")
        objectives.append(Objective(name, direction))
    accuracy = [o for o in objectives if o.name == ACCURACY]
    if not accuracy:
        raise ConfigError(f"{where}: {ACCURACY} is missing; every study optimizes it (the "
                          f"objective with a learning curve): add {ACCURACY} = \"maximize\"")
    if accuracy[0].direction != "maximize":
        raise ConfigError(f"{where}: {ACCURACY}: expected 'maximize' (a study never seeks the "
                          f"least accurate net), got {accuracy[0].direction!r}")
    return tuple(accuracy + [o for o in objectives if o.name != ACCURACY])


def check_costs_vary(names: Any, space: Mapping[str, Any], source: Any, key: str) -> None:
    """Refuse a cost that no searched parameter changes: every trial would tie on it.

    Args:
        names: the cost names to check.
        space: the study's space (parameter -> spec; ``Fixed`` specs are not searched).
        source: the study file, for the message.
        key: the key that named them ("study.objectives", "selection.cost").

    Raises:
        ConfigError: naming the cost, what changes it and what is searched.
    """
    from hpsearch.study._space import Fixed

    searched = sorted(n for n, spec in space.items() if not isinstance(spec, Fixed))
    for name in names:
        depends_on = COSTS[name].depends_on
        if depends_on is not None and not depends_on & set(searched):
            raise ConfigError(
                f"{key_where(source, key)}: {name} is the same for every trial of this space, so "
                f"it cannot rank them; search one of {sorted(depends_on)} or drop it (searched: "
                f"{', '.join(searched) or 'nothing'})")

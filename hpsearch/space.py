"""Search-space specs: what a study file may say about each hyperparameter, and how to suggest it.

Every hyperparameter a trial understands is declared once, as data, in ``PARAMETERS``: its type,
its allowed values or bounds, and its default. A study file's ``[space]`` table gives each one a
fixed value, a range, a categorical choice or an explicit grid; ``parse_space`` turns that table
into specs (rejecting anything else with the key and what was expected) and ``suggest_params``
asks an Optuna trial for the searched ones. Nothing here needs a study, Ray or data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PARAMETERS",
    "Choice",
    "Fixed",
    "FloatRange",
    "Grid",
    "IntRange",
    "ParamDecl",
    "ParamSpec",
    "SpaceError",
    "grid_search_space",
    "parse_space",
    "resolve_params",
    "space_to_json",
    "suggest_params",
]


class SpaceError(ValueError):
    """A ``[space]`` entry that is not a valid spec; the message names the key."""


# --- the hyperparameters a trial understands ----------------------------------------------------


@dataclass(frozen=True)
class ParamDecl:
    """What one hyperparameter accepts.

    Attributes:
        kind: "float", "int", "str" or "bool"; "float|str" accepts either (``weight_scale``);
            "sizes" is a list of positive ints, kept as the string "10-6-4" so that Optuna can
            offer lists as categorical choices.
        default: the value used when the study file does not mention the parameter.
        low: inclusive lower bound for numbers (None: unbounded).
        high: upper bound for numbers (None: unbounded).
        high_open: whether ``high`` itself is excluded.
        low_open: whether ``low`` itself is excluded.
        choices: the allowed strings for "str" (and the string half of "float|str").
        doc: one line for error messages and docs.
    """

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""


# Declared once, as data (the scikit-learn way): the validator, the docs and the worker read this.
PARAMETERS: dict[str, ParamDecl] = {
    "model": ParamDecl("str", "fc", choices=("fc", "cnn"), doc="fully-connected net or small CNN"),
    "learning_rate": ParamDecl("float", 1e-3, low=0.0, low_open=True, doc="initial step size"),
    "lr_decay": ParamDecl("float", 1.0, low=0.0, high=1.0, low_open=True,
                          doc="learning rate multiplier per epoch"),
    "reg": ParamDecl("float", 0.0, low=0.0, doc="L2 strength: 0.5 * reg * sum(W**2)"),
    "num_epochs": ParamDecl("int", 10, low=1, doc="training epochs"),
    "num_iterations": ParamDecl("int", None, low=1,
                                doc="training iterations (overrides num_epochs)"),
    "batch_size": ParamDecl("int", 100, low=1, doc="minibatch size"),
    "hidden_size": ParamDecl("int", 100, low=1, doc="units per hidden layer"),
    "num_layers": ParamDecl("int", 1, low=1, doc="number of hidden fully-connected layers"),
    "per_layer_sizes": ParamDecl("bool", False,
                                 doc="search hidden_size_1..num_layers separately"),
    "hidden_sizes": ParamDecl("sizes", None,
                              doc="explicit hidden layer sizes, e.g. [10, 6, 4, 3, 3] "
                                  "(replaces num_layers and hidden_size)"),
    "dropout": ParamDecl("float", 0.0, low=0.0, high=1.0, high_open=True,
                         doc="probability of dropping a unit"),
    "update_rule": ParamDecl("str", "sgd",
                             choices=("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam"),
                             doc="netcore update rule"),
    "momentum": ParamDecl("float", 0.9, low=0.0, high=1.0, high_open=True,
                          doc="momentum for sgd_momentum / nesterov"),
    "activation": ParamDecl("str", "relu", choices=("relu", "leaky_relu", "tanh", "sigmoid"),
                            doc="hidden-layer nonlinearity"),
    "normalization": ParamDecl("str", "none", choices=("none", "batchnorm"),
                               doc="normalization after each hidden affine/conv layer"),
    "weight_scale": ParamDecl("float|str", "he", low=0.0, low_open=True,
                              choices=("he", "xavier"), doc="init std or scheme"),
    "augment": ParamDecl("str", "none", choices=("none", "flip"),
                         doc="minibatch augmentation (image data)"),
    "patience": ParamDecl("int", None, low=1, doc="early stopping patience in epochs"),
    "num_filters": ParamDecl("int", 16, low=1, doc="CNN: filters of the first conv stage"),
    "filter_size": ParamDecl("int", 3, low=1, doc="CNN: odd filter size"),
    "num_conv_stages": ParamDecl("int", 2, low=1, doc="CNN: conv-relu-pool stages"),
}

# Names of the per-layer sizes that ``per_layer_sizes`` adds (hidden_size_1, hidden_size_2, ...).
_LAYER_SIZE_PREFIX = "hidden_size_"


# --- specs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    """A value every trial uses."""

    value: Any


@dataclass(frozen=True)
class FloatRange:
    """A float drawn from [low, high], optionally on a log scale or a step grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True)
class IntRange:
    """An int drawn from [low, high], optionally on a log scale, with a step."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True)
class Choice:
    """One of a few values (Optuna's categorical)."""

    choices: tuple[Any, ...]


@dataclass(frozen=True)
class Grid:
    """An explicit list of values; with the grid sampler every combination runs once."""

    values: tuple[Any, ...] = field(default_factory=tuple)


ParamSpec = Fixed | FloatRange | IntRange | Choice | Grid


# --- parsing --------------------------------------------------------------------------------------


def _check_value(name: str, value: Any, decl: ParamDecl, where: str) -> Any:
    """Return ``value`` coerced to the parameter's type, or raise naming what was expected."""
    if value is None and decl.default is None:
        return None
    if decl.kind == "sizes":
        return _check_sizes(name, value, where)
    if decl.kind == "bool":
        if not isinstance(value, bool):
            raise SpaceError(f"{where}{name}: expected true or false, got {value!r}")
        return value
    if decl.kind == "str" or (decl.kind == "float|str" and isinstance(value, str)):
        if not isinstance(value, str) or value not in decl.choices:
            raise SpaceError(f"{where}{name}: expected one of {list(decl.choices)}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpaceError(f"{where}{name}: expected a number, got {value!r}")
    if decl.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise SpaceError(f"{where}{name}: expected an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise SpaceError(f"{where}{name}: expected a finite number, got {value!r}")
    if decl.low is not None and (value < decl.low or (decl.low_open and value == decl.low)):
        op = ">" if decl.low_open else ">="
        raise SpaceError(f"{where}{name}: expected a value {op} {decl.low}, got {value!r}")
    if decl.high is not None and (value > decl.high or (decl.high_open and value == decl.high)):
        op = "<" if decl.high_open else "<="
        raise SpaceError(f"{where}{name}: expected a value {op} {decl.high}, got {value!r}")
    return value


def _check_sizes(name: str, value: Any, where: str) -> str:
    sizes = value.split("-") if isinstance(value, str) else value
    try:
        ok = (isinstance(sizes, list) and len(sizes) > 0
              and all(not isinstance(v, bool) and int(v) == float(v) and int(v) >= 1
                      for v in sizes))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SpaceError(f"{where}{name}: expected a non-empty list of positive integers such as "
                         f"[10, 6, 4], got {value!r}")
    return "-".join(str(int(v)) for v in sizes)


_SPEC_KEYS = {
    "range": {"low", "high", "log", "step"},
    "choices": {"choices"},
    "grid": {"grid"},
}


def _parse_one(name: str, raw: Any, decl: ParamDecl, where: str) -> ParamSpec:
    if not isinstance(raw, Mapping):
        return Fixed(_check_value(name, raw, decl, where))
    keys = set(raw)
    if "choices" in keys or "grid" in keys:
        kind = "choices" if "choices" in keys else "grid"
        if extra := keys - _SPEC_KEYS[kind]:
            raise SpaceError(f"{where}{name}: unexpected keys {sorted(extra)} beside '{kind}'")
        values = raw[kind]
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{where}{name}.{kind}: expected a non-empty list, got {values!r}")
        checked = tuple(_check_value(name, v, decl, where) for v in values)
        if len(set(checked)) != len(checked):
            raise SpaceError(f"{where}{name}.{kind}: values repeat in {values!r}")
        return Choice(checked) if kind == "choices" else Grid(checked)
    if extra := keys - _SPEC_KEYS["range"]:
        raise SpaceError(
            f"{where}{name}: unknown keys {sorted(extra)}; expected a value, "
            "{low, high[, log][, step]}, {choices = [...]} or {grid = [...]}"
        )
    if not {"low", "high"} <= keys:
        raise SpaceError(f"{where}{name}: a range needs both 'low' and 'high', got {dict(raw)}")
    if decl.kind not in ("int", "float", "float|str"):
        raise SpaceError(f"{where}{name}: a {decl.kind} parameter takes a value or choices, "
                         "not a range")
    low = _check_value(name, raw["low"], decl, where)
    high = _check_value(name, raw["high"], decl, where)
    if isinstance(low, str) or isinstance(high, str):
        raise SpaceError(f"{where}{name}: range bounds must be numbers, got {low!r}..{high!r}")
    if low > high:
        raise SpaceError(f"{where}{name}: empty range, low {low!r} > high {high!r}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}{name}.log: expected true or false, got {log!r}")
    if log and low <= 0:
        raise SpaceError(f"{where}{name}: a log range needs low > 0, got low = {low!r}")
    step = raw.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float)
                             or step <= 0):
        raise SpaceError(f"{where}{name}.step: expected a positive number, got {step!r}")
    if step is not None and log:
        raise SpaceError(f"{where}{name}: 'step' and 'log' cannot be combined")
    if decl.kind == "int":
        if step is not None and not float(step).is_integer():
            raise SpaceError(f"{where}{name}.step: expected an integer step, got {step!r}")
        return IntRange(int(low), int(high), log, int(step or 1))
    return FloatRange(float(low), float(high), log, None if step is None else float(step))


def parse_space(raw: Mapping[str, Any], where: str = "") -> dict[str, ParamSpec]:
    """Turn a study file's ``[space]`` table into specs.

    Args:
        raw: parameter name -> value or spec table, as read from TOML.
        where: prefix for error messages (for example ``"studies/x.toml: space."``).

    Returns:
        Parameter name -> spec, for the parameters the table names (defaults are not added).

    Raises:
        SpaceError: an unknown parameter, a wrong type, an empty or inverted range, a log range
            that includes 0, or ``num_epochs`` and ``num_iterations`` both searched.
    """
    if unknown := set(raw) - set(PARAMETERS):
        raise SpaceError(
            f"{where}unknown parameters {sorted(unknown)}; expected some of {sorted(PARAMETERS)}"
        )
    space = {name: _parse_one(name, value, PARAMETERS[name], where) for name, value in raw.items()}
    fixed_layers = space.get("per_layer_sizes", Fixed(False))
    if not isinstance(fixed_layers, Fixed):
        raise SpaceError(f"{where}per_layer_sizes: expected true or false, not a search")
    if "hidden_sizes" in space and (clash := {"num_layers", "hidden_size", "per_layer_sizes"}
                                    & set(space)):
        raise SpaceError(f"{where}hidden_sizes: gives every layer's size, so it cannot be "
                         f"combined with {sorted(clash)}")
    return space


# --- suggesting -----------------------------------------------------------------------------------


def _suggest(trial: Any, name: str, spec: ParamSpec) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, FloatRange):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log, step=spec.step)
    if isinstance(spec, IntRange):
        return trial.suggest_int(name, spec.low, spec.high, log=spec.log, step=spec.step)
    values = spec.choices if isinstance(spec, Choice) else spec.values
    return trial.suggest_categorical(name, list(values))


def suggest_params(trial: Any, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """Ask ``trial`` for every searched parameter; fixed ones are returned as they are.

    Args:
        trial: an ``optuna.Trial`` (or ``optuna.trial.FixedTrial`` in tests).
        space: specs from ``parse_space``.

    Returns:
        Parameter name -> value, for the parameters named in ``space``. With
        ``per_layer_sizes = true``, ``hidden_size`` is replaced by ``hidden_size_1..k``, each
        suggested from ``hidden_size``'s spec, where k is the (possibly suggested) num_layers.
    """
    params = {name: _suggest(trial, name, spec) for name, spec in space.items()
              if name != "hidden_size" or not _per_layer(space)}
    if _per_layer(space):
        size_spec = space.get("hidden_size", Fixed(PARAMETERS["hidden_size"].default))
        n_layers = params.get("num_layers", PARAMETERS["num_layers"].default)
        for i in range(1, n_layers + 1):
            params[f"{_LAYER_SIZE_PREFIX}{i}"] = _suggest(trial, f"{_LAYER_SIZE_PREFIX}{i}",
                                                          size_spec)
    return params


def _per_layer(space: Mapping[str, ParamSpec]) -> bool:
    spec = space.get("per_layer_sizes")
    return isinstance(spec, Fixed) and bool(spec.value)


def resolve_params(params: Mapping[str, Any], space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """Complete a trial's parameters with the study's fixed values and the declared defaults.

    Args:
        params: what the trial sampled (``trial.params``), possibly only the searched ones.
        space: the study's specs.

    Returns:
        Every declared parameter plus any ``hidden_size_k``: sampled values win over fixed ones,
        fixed ones over defaults.
    """
    full = {name: decl.default for name, decl in PARAMETERS.items()}
    full.update({name: spec.value for name, spec in space.items() if isinstance(spec, Fixed)})
    full.update(params)
    return full


def hidden_dims(params: Mapping[str, Any]) -> tuple[int, ...]:
    """The hidden layer sizes a resolved parameter dict describes."""
    if params.get("hidden_sizes"):
        return tuple(int(v) for v in str(params["hidden_sizes"]).split("-"))
    n_layers = int(params["num_layers"])
    if params.get("per_layer_sizes"):
        return tuple(int(params[f"{_LAYER_SIZE_PREFIX}{i}"]) for i in range(1, n_layers + 1))
    return (int(params["hidden_size"]),) * n_layers


# --- grid and serialization -----------------------------------------------------------------------


def grid_search_space(space: Mapping[str, ParamSpec], where: str = "") -> dict[str, list[Any]]:
    """The search space for Optuna's ``GridSampler``: every searched parameter must be a list.

    Raises:
        SpaceError: a searched parameter is a range (a grid needs explicit values).
    """
    grid: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if isinstance(spec, Fixed):
            continue
        if isinstance(spec, FloatRange | IntRange):
            raise SpaceError(
                f"{where}{name}: the grid sampler needs explicit values "
                f"(grid = [...] or choices = [...]), got a range {spec.low}..{spec.high}"
            )
        grid[name] = list(spec.choices if isinstance(spec, Choice) else spec.values)
    if _per_layer(space):
        raise SpaceError(f"{where}per_layer_sizes: not supported with the grid sampler")
    return grid


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Number of combinations in a grid search space."""
    return math.prod(len(v) for v in grid.values())


def grid_combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid, in a stable order."""
    names = sorted(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(grid[n] for n in names))]


def space_to_json(space: Mapping[str, ParamSpec]) -> dict[str, dict[str, Any]]:
    """A JSON-able description of the specs (stored on the study for reports)."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in space.items():
        kind = type(spec).__name__
        body = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(spec).items()}
        out[name] = {"kind": kind, **body}
    return out

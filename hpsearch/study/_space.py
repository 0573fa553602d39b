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

from hpsearch.study._rules import AnyOf, Boolean, Constraint, Interval, ListOf, Options, refusal

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
    "budget_epochs",
    "discrete_values",
    "grid_search_space",
    "hidden_dims",
    "highest_value",
    "largest_configurations",
    "parse_space",
    "resolve_params",
    "space_to_json",
    "space_values",
    "suggest_params",
]


class SpaceError(ValueError):
    """A ``[space]`` entry that is not a valid spec; the message names the key."""


# --- the hyperparameters a trial understands ----------------------------------------------------


@dataclass(frozen=True)
class ParamDecl:
    """What one hyperparameter accepts.

    Attributes:
        allowed: the values a study file may give it (``hpsearch.study._rules``): an
            ``Interval`` for numbers, ``Options`` for strings, ``Boolean``, an ``AnyOf`` of a
            number and strings (``weight_scale``), or a ``ListOf`` integers (``hidden_sizes``,
            kept as the string "10-6-4" so that Optuna can offer lists as categorical choices).
        default: the value used when the study file does not mention the parameter.
        doc: one line for error messages and docs.
    """

    allowed: Constraint
    default: Any
    doc: str = ""

    @property
    def interval(self) -> Interval | None:
        """The numbers it accepts (a range's bounds must lie in them), or None: no range."""
        if isinstance(self.allowed, AnyOf):
            return self.allowed.find(Interval)  # type: ignore[return-value]
        return self.allowed if isinstance(self.allowed, Interval) else None

    @property
    def choices(self) -> tuple[str, ...]:
        """The strings it accepts (empty for numbers, booleans and lists)."""
        options = (self.allowed.find(Options) if isinstance(self.allowed, AnyOf)
                   else self.allowed)
        if isinstance(options, Options) and options.type is str:
            return options.options
        return ()


# Sane upper bounds: a value past them is a typo or a hostile file, not a study (issue 15: a
# hidden_size of 10^9 took 17 GB before anything failed). The memory check then sets the largest
# configuration a space allows (largest_configurations, hpsearch.training.estimate_trial_bytes)
# against the memory a trial really has.
MAX_WIDTH = 65_536  # units in one hidden layer
MAX_LAYERS = 100  # hidden fully-connected layers
MAX_EPOCHS = 100_000
MAX_ITERATIONS = 100_000_000
MAX_BATCH = 100_000
MAX_FILTERS = 4_096  # filters of the first conv stage (later stages double it)
MAX_FILTER_SIZE = 31
MAX_CONV_STAGES = 10


def _positive(type_: type, high: float | None = None) -> Interval:
    """Integers in [1, high], or finite numbers in (0, high]."""
    return Interval(type_, 0 if type_ is float else 1, high,
                    closed="right" if type_ is float else "both")


# Declared once, as data (the scikit-learn way): the validator, the docs and the worker read this.
PARAMETERS: dict[str, ParamDecl] = {
    "model": ParamDecl(Options(str, ("fc", "cnn")), "fc", "fully-connected net or small CNN"),
    "learning_rate": ParamDecl(Interval(float, 0, None, closed="neither"), 1e-3,
                               "initial step size"),
    "lr_decay": ParamDecl(_positive(float, 1.0), 1.0, "learning rate multiplier per epoch"),
    "reg": ParamDecl(Interval(float, 0, None), 0.0, "L2 strength: 0.5 * reg * sum(W**2)"),
    "num_epochs": ParamDecl(_positive(int, MAX_EPOCHS), 10, "training epochs"),
    "num_iterations": ParamDecl(_positive(int, MAX_ITERATIONS), None,
                                "training iterations (overrides num_epochs)"),
    "batch_size": ParamDecl(_positive(int, MAX_BATCH), 100, "minibatch size"),
    "hidden_size": ParamDecl(_positive(int, MAX_WIDTH), 100, "units per hidden layer"),
    "num_layers": ParamDecl(_positive(int, MAX_LAYERS), 1,
                            "number of hidden fully-connected layers"),
    "per_layer_sizes": ParamDecl(Boolean(), False, "search hidden_size_1..num_layers separately"),
    "hidden_sizes": ParamDecl(ListOf(_positive(int, MAX_WIDTH), 1, MAX_LAYERS), None,
                              "explicit hidden layer sizes, e.g. [10, 6, 4, 3, 3] "
                              "(replaces num_layers and hidden_size)"),
    "dropout": ParamDecl(Interval(float, 0, 1, closed="left"), 0.0,
                         "probability of dropping a unit"),
    "update_rule": ParamDecl(Options(str, ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam")),
                             "sgd", "netcore update rule"),
    "momentum": ParamDecl(Interval(float, 0, 1, closed="left"), 0.9,
                          "momentum for sgd_momentum / nesterov"),
    "activation": ParamDecl(Options(str, ("relu", "leaky_relu", "tanh", "sigmoid")), "relu",
                            "hidden-layer nonlinearity"),
    "normalization": ParamDecl(Options(str, ("none", "batchnorm")), "none",
                               "normalization after each hidden affine/conv layer"),
    "weight_scale": ParamDecl(AnyOf(Interval(float, 0, None, closed="neither"),
                                    Options(str, ("he", "xavier"))), "he", "init std or scheme"),
    "augment": ParamDecl(Options(str, ("none", "flip")), "none",
                         "minibatch augmentation (image data)"),
    "patience": ParamDecl(_positive(int, MAX_EPOCHS), None, "early stopping patience in epochs"),
    "num_filters": ParamDecl(_positive(int, MAX_FILTERS), 16,
                             "CNN: filters of the first conv stage"),
    # odd: stride 1 with "same" padding needs an odd filter size
    "filter_size": ParamDecl(Interval(int, 1, MAX_FILTER_SIZE, odd=True), 3,
                             "CNN: odd filter size"),
    "num_conv_stages": ParamDecl(_positive(int, MAX_CONV_STAGES), 2, "CNN: conv-relu-pool stages"),
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


def discrete_values(spec: ParamSpec) -> tuple[Any, ...] | None:
    """The values a categorical spec lists (``Choice.choices`` or ``Grid.values``), else None.

    The one place that knows the two spellings; ranges and fixed values give None.
    """
    if isinstance(spec, Choice):
        return spec.choices
    if isinstance(spec, Grid):
        return spec.values
    return None


def space_values(spec: ParamSpec) -> tuple[Any, ...] | None:
    """Every value a spec can give when that is a finite list: a fixed value, choices or a grid.

    Returns None for ranges (use their ``low`` and ``high``).
    """
    if isinstance(spec, Fixed):
        return (spec.value,)
    return discrete_values(spec)


# --- parsing --------------------------------------------------------------------------------------


def _whole(value: Any) -> Any:
    """A whole float as an int (TOML may write 1e3 for 1000); anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _coerce(value: Any, allowed: Constraint) -> Any:
    """Bring a TOML value to the form ``allowed`` judges: whole floats for integers, "10-6-4"."""
    if isinstance(allowed, Interval) and allowed.type is int:
        return _whole(value)
    if isinstance(allowed, ListOf):
        items = value.split("-") if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            items = [int(v) if isinstance(v, str) and v.isdigit() else v for v in items]
            return [_coerce(v, allowed.item) for v in items]
    return value


def _check_value(name: str, value: Any, decl: ParamDecl, where: str) -> Any:
    """Return ``value`` in the parameter's type, or raise naming what was expected."""
    if value is None and decl.default is None:
        return None
    checked = _coerce(value, decl.allowed)
    if not decl.allowed.is_satisfied_by(checked):
        raise SpaceError(refusal(f"{where}{name}", decl.allowed, value))
    if isinstance(decl.allowed, ListOf):
        return "-".join(str(v) for v in checked)
    if isinstance(checked, int) and not isinstance(checked, bool) and (
            decl.interval is not None and decl.interval.type is float):
        return float(checked)
    return checked


def _check_bound(name: str, value: Any, decl: ParamDecl, where: str) -> Any:
    """A range's bound: a number the parameter accepts."""
    interval = decl.interval
    assert interval is not None  # ranges are refused before for parameters without numbers
    checked = _coerce(value, interval)
    if not interval.is_satisfied_by(checked):
        raise SpaceError(refusal(f"{where}{name}", interval, value))
    return interval.type(checked)


_SPEC_KEYS = {
    "range": {"low", "high", "log", "step"},
    "choices": {"choices"},
    "grid": {"grid"},
}


_LOG = Boolean()
_FLOAT_STEP = Interval(float, 0, None, closed="neither")
_INT_STEP = Interval(int, 1, None)


def _parse_one(name: str, raw: Any, decl: ParamDecl, where: str) -> ParamSpec:
    if not isinstance(raw, Mapping):
        return Fixed(_check_value(name, raw, decl, where))
    keys = set(raw)
    if "choices" in keys or "grid" in keys:
        return _parse_listed(name, raw, decl, where)
    if extra := keys - _SPEC_KEYS["range"]:
        raise SpaceError(
            f"{where}{name}: unknown keys {sorted(extra)}; expected a value, "
            "{low, high[, log][, step]}, {choices = [...]} or {grid = [...]}"
        )
    if not {"low", "high"} <= keys:
        raise SpaceError(f"{where}{name}: a range needs both 'low' and 'high', got {dict(raw)}")
    return _parse_range(name, raw, decl, where)


def _parse_listed(name: str, raw: Mapping[str, Any], decl: ParamDecl, where: str) -> ParamSpec:
    """``{ choices = [...] }`` or ``{ grid = [...] }``."""
    kind = "choices" if "choices" in raw else "grid"
    if extra := set(raw) - _SPEC_KEYS[kind]:
        raise SpaceError(f"{where}{name}: unexpected keys {sorted(extra)} beside '{kind}'")
    values = raw[kind]
    if not isinstance(values, list) or not values:
        raise SpaceError(refusal(f"{where}{name}.{kind}", "a non-empty list", values))
    checked = tuple(_check_value(name, v, decl, where) for v in values)
    if len(set(checked)) != len(checked):
        raise SpaceError(f"{where}{name}.{kind}: values repeat in {values!r}")
    return Choice(checked) if kind == "choices" else Grid(checked)


def _parse_range(name: str, raw: Mapping[str, Any], decl: ParamDecl, where: str) -> ParamSpec:
    """``{ low, high[, log][, step] }``: bounds the parameter accepts, a usable scale and step."""
    interval = decl.interval
    if interval is None:
        raise SpaceError(f"{where}{name}: takes a value or choices, not a range "
                         f"(expected {decl.allowed})")
    low = _check_bound(name, raw["low"], decl, where)
    high = _check_bound(name, raw["high"], decl, where)
    if low > high:
        raise SpaceError(f"{where}{name}: empty range, low {low!r} > high {high!r}")
    log = raw.get("log", False)
    if not _LOG.is_satisfied_by(log):
        raise SpaceError(refusal(f"{where}{name}.log", _LOG, log))
    if log and low <= 0:
        raise SpaceError(f"{where}{name}: a log range needs low > 0, got low = {low!r}")
    step = raw.get("step")
    rule = _INT_STEP if interval.type is int else _FLOAT_STEP
    if step is not None and not rule.is_satisfied_by(_coerce(step, rule)):
        raise SpaceError(refusal(f"{where}{name}.step", rule, step))
    if step is not None and log:
        raise SpaceError(f"{where}{name}: 'step' and 'log' cannot be combined")
    if interval.type is float:
        return FloatRange(low, high, log, None if step is None else float(step))
    step = int(_coerce(step, rule) or 1)
    if interval.odd and (log or step % 2):
        raise SpaceError(f"{where}{name}: only odd values work, so a range needs an even "
                         f"step and no log, e.g. {{ low = {low}, high = {high}, step = 2 }}; "
                         f"got step = {raw.get('step')!r}, log = {log!r}")
    return IntRange(low, high, log, step)


def parse_space(raw: Mapping[str, Any], where: str = "") -> dict[str, ParamSpec]:
    """Turn a study file's ``[space]`` table into specs.

    Args:
        raw: parameter name -> value or spec table, as read from TOML.
        where: prefix for error messages (for example ``"studies/x.toml: [space] "``).

    Returns:
        Parameter name -> spec, for the parameters the table names (defaults are not added).

    Raises:
        SpaceError: an unknown parameter, a wrong type, a value past its declared bounds, an
            empty or inverted range, a log range that includes 0, a non-finite bound or step, an
            even ``filter_size``, or ``num_epochs`` and ``num_iterations`` both searched.
    """
    if not isinstance(raw, Mapping):
        raise SpaceError(refusal(where.rstrip(". "), "a table of parameters", raw))
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
    searched = [n for n in ("num_epochs", "num_iterations")
                if n in space and not isinstance(space[n], Fixed)]
    if len(searched) == 2:
        raise SpaceError(f"{where}num_iterations: overrides num_epochs, so only one of them may "
                         "be searched; fix the other (or leave it out)")
    return space


# --- suggesting -----------------------------------------------------------------------------------


def _suggest(trial: Any, name: str, spec: ParamSpec) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, FloatRange):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log, step=spec.step)
    if isinstance(spec, IntRange):
        return trial.suggest_int(name, spec.low, spec.high, log=spec.log, step=spec.step)
    return trial.suggest_categorical(name, list(discrete_values(spec) or ()))


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
        grid[name] = list(discrete_values(spec) or ())
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


# --- what a space costs: epochs, and the trials that need the most memory -------------------------


def highest_value(space: Mapping[str, ParamSpec], name: str) -> Any:
    """The largest value ``name`` can take in ``space`` (its declared default when absent)."""
    spec = space.get(name)
    if spec is None:
        return PARAMETERS[name].default
    if isinstance(spec, FloatRange | IntRange):
        return spec.high
    values = space_values(spec)
    return max(values) if values else None


def budget_epochs(space: Mapping[str, ParamSpec], n_train: int) -> int:
    """The full per-trial budget in epochs: the most a trial of this space can train.

    With ``num_iterations`` an epoch is ``max(n_train // batch_size, 1)`` iterations (netcore's
    Solver), so the most epochs come from the most iterations with the largest batch.

    Args:
        space: specs from ``parse_space``.
        n_train: training examples.
    """
    iterations = highest_value(space, "num_iterations")
    if iterations is None:
        return int(highest_value(space, "num_epochs"))
    batch = int(highest_value(space, "batch_size"))
    return math.ceil(int(iterations) / max(int(n_train) // batch, 1))


def largest_configurations(space: Mapping[str, ParamSpec]) -> list[dict[str, Any]]:
    """Resolved parameter sets among which the space's most memory-hungry trial lies.

    Every size that only adds memory (widths, depth, batch, filters, dropout, batchnorm, the
    update rule's state) is taken at its largest; the model kind, the number of conv stages and
    explicit ``hidden_sizes`` change the shapes both ways, so each of their values is listed.
    """
    def values(name: str) -> list[Any]:
        spec = space.get(name)
        if spec is None:
            return [PARAMETERS[name].default]
        if isinstance(spec, IntRange):
            return list(range(spec.low, spec.high + 1, spec.step))  # num_conv_stages: <= 10
        if isinstance(spec, FloatRange):
            return [spec.high]
        return list(space_values(spec) or ())

    from hpsearch.training import RULE_STATE  # here: hpsearch.training reads this module

    base: dict[str, Any] = {}
    for name in ("hidden_size", "num_layers", "batch_size", "num_filters", "filter_size",
                 "dropout"):
        base[name] = highest_value(space, name)
    base["update_rule"] = max(values("update_rule"), key=lambda r: RULE_STATE.get(r, 2))
    base["normalization"] = "batchnorm" if "batchnorm" in values("normalization") else "none"
    if _per_layer(space):
        for i in range(1, int(base["num_layers"]) + 1):
            base[f"{_LAYER_SIZE_PREFIX}{i}"] = base["hidden_size"]
    out = []
    for model, stages, sizes in itertools.product(
            dict.fromkeys(values("model")), dict.fromkeys(values("num_conv_stages")),
            dict.fromkeys(values("hidden_sizes"))):
        fixed = {"model": model, "num_conv_stages": stages, "hidden_sizes": sizes, **base}
        out.append(resolve_params(fixed, space))
    return out

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
    "budget_epochs",
    "discrete_values",
    "estimate_trial_bytes",
    "grid_search_space",
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
        odd: only odd integers (``filter_size``: stride 1 with "same" padding needs them).
    """

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""
    odd: bool = False


# Sane upper bounds: a value past them is a typo or a hostile file, not a study (issue 15: a
# hidden_size of 10^9 took 17 GB before anything failed). The memory estimate below then checks
# the largest configuration a space allows against the memory a trial really has.
MAX_WIDTH = 65_536  # units in one hidden layer
MAX_LAYERS = 100  # hidden fully-connected layers
MAX_EPOCHS = 100_000
MAX_ITERATIONS = 100_000_000
MAX_BATCH = 100_000
MAX_FILTERS = 4_096  # filters of the first conv stage (later stages double it)
MAX_FILTER_SIZE = 31
MAX_CONV_STAGES = 10


# Declared once, as data (the scikit-learn way): the validator, the docs and the worker read this.
PARAMETERS: dict[str, ParamDecl] = {
    "model": ParamDecl("str", "fc", choices=("fc", "cnn"), doc="fully-connected net or small CNN"),
    "learning_rate": ParamDecl("float", 1e-3, low=0.0, low_open=True, doc="initial step size"),
    "lr_decay": ParamDecl("float", 1.0, low=0.0, high=1.0, low_open=True,
                          doc="learning rate multiplier per epoch"),
    "reg": ParamDecl("float", 0.0, low=0.0, doc="L2 strength: 0.5 * reg * sum(W**2)"),
    "num_epochs": ParamDecl("int", 10, low=1, high=MAX_EPOCHS, doc="training epochs"),
    "num_iterations": ParamDecl("int", None, low=1, high=MAX_ITERATIONS,
                                doc="training iterations (overrides num_epochs)"),
    "batch_size": ParamDecl("int", 100, low=1, high=MAX_BATCH, doc="minibatch size"),
    "hidden_size": ParamDecl("int", 100, low=1, high=MAX_WIDTH, doc="units per hidden layer"),
    "num_layers": ParamDecl("int", 1, low=1, high=MAX_LAYERS,
                            doc="number of hidden fully-connected layers"),
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
    "patience": ParamDecl("int", None, low=1, high=MAX_EPOCHS,
                          doc="early stopping patience in epochs"),
    "num_filters": ParamDecl("int", 16, low=1, high=MAX_FILTERS,
                             doc="CNN: filters of the first conv stage"),
    "filter_size": ParamDecl("int", 3, low=1, high=MAX_FILTER_SIZE, odd=True,
                             doc="CNN: odd filter size"),
    "num_conv_stages": ParamDecl("int", 2, low=1, high=MAX_CONV_STAGES,
                                 doc="CNN: conv-relu-pool stages"),
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
        if decl.odd and value % 2 == 0:
            raise SpaceError(f"{where}{name}: expected an odd integer (stride 1 with 'same' "
                             f"padding needs an odd size), got {value!r}")
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
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise SpaceError(f"{where}{name}: expected a non-empty list of positive integers such as "
                         f"[10, 6, 4], got {value!r}")
    if len(sizes) > MAX_LAYERS or max(int(v) for v in sizes) > MAX_WIDTH:
        raise SpaceError(f"{where}{name}: expected at most {MAX_LAYERS} layers of at most "
                         f"{MAX_WIDTH} units each, got {value!r}")
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
                             or not 0 < step < math.inf):
        raise SpaceError(f"{where}{name}.step: expected a positive finite number, got {step!r}")
    if step is not None and log:
        raise SpaceError(f"{where}{name}: 'step' and 'log' cannot be combined")
    if decl.kind == "int":
        if step is not None and not float(step).is_integer():
            raise SpaceError(f"{where}{name}.step: expected an integer step, got {step!r}")
        if decl.odd and (log or int(step or 1) % 2):
            raise SpaceError(f"{where}{name}: only odd values work, so a range needs an even "
                             f"step and no log, e.g. {{ low = {low}, high = {high}, step = 2 }}; "
                             f"got step = {step!r}, log = {log!r}")
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
        SpaceError: an unknown parameter, a wrong type, a value past its declared bounds, an
            empty or inverted range, a log range that includes 0, a non-finite bound or step, an
            even ``filter_size``, or ``num_epochs`` and ``num_iterations`` both searched.
    """
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{where.rstrip('.')}: expected a table of parameters, got {raw!r}")
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


# --- what a space costs: epochs and memory --------------------------------------------------------


def _highest(space: Mapping[str, ParamSpec], name: str) -> Any:
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
    iterations = _highest(space, "num_iterations")
    if iterations is None:
        return int(_highest(space, "num_epochs"))
    batch = int(_highest(space, "batch_size"))
    return math.ceil(int(iterations) / max(int(n_train) // batch, 1))


# Update-rule state kept per parameter element (velocity, caches, moments).
RULE_STATE: dict[str, int] = {"sgd": 0, "sgd_momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2}
# Rows the Solver scores per forward pass when it measures accuracy (``check_accuracy``).
_EVAL_ROWS = 1000
# netcore's ConvNet scores in chunks whose im2col matrix stays under this (cnn._EVAL_BYTES).
_EVAL_COLS_BYTES = 64 * 2**20


def estimate_trial_bytes(params: Mapping[str, Any], input_shape: Sequence[int],
                         num_classes: int, itemsize: int = 4) -> int:
    """Roughly how many bytes one trial allocates while it trains (within a factor of ~2).

    Counts what netcore holds at its peak: the parameters with their gradients, best-so-far
    snapshot, the Solver's flat buffers and the update rule's state; the activations and
    gradients of one minibatch (and of one scoring pass); for a CNN the im2col buffers of every
    stage (forward and backward); and the float64 temporaries of weight initialization. The
    dataset itself is not counted (workers share one read-only copy).

    Args:
        params: resolved parameters (``resolve_params``).
        input_shape: per-sample shape the model sees, e.g. ``(64,)`` or ``(3, 32, 32)``.
        num_classes: number of classes.
        itemsize: bytes per number (4 for the float32 that trials train in).

    Returns:
        The estimate in bytes.
    """
    batch = int(params["batch_size"])
    hidden = list(hidden_dims(params))
    bn = params.get("normalization") == "batchnorm"
    per_hidden_train = 4 + (4 if bn else 0) + (2 if float(params.get("dropout") or 0) else 0)
    n_params = 0
    largest = 0
    train_row = eval_row = 0  # numbers per example in a training step / a scoring pass
    eval_rows = _EVAL_ROWS
    if params.get("model") == "cnn" and len(input_shape) == 3:
        c, h, w = (int(v) for v in input_shape)
        k = int(params["filter_size"])
        pad = (k - 1) // 2
        cols_row = 0
        for i in range(int(params["num_conv_stages"])):
            f = int(params["num_filters"]) * 2**i
            n_params += f * c * k * k + f + (2 * f if bn else 0)
            largest = max(largest, f * c * k * k)
            cols = h * w * k * k * c
            padded = (h + 2 * pad) * (w + 2 * pad) * c
            maps = h * w * f
            train_row += 2 * cols + 2 * padded + (6 + (4 if bn else 0)) * maps
            eval_row += cols + padded + 2 * maps
            cols_row = max(cols_row, cols)
            c, h, w = f, h // 2, w // 2
        flat = c * h * w
        eval_rows = min(_EVAL_ROWS, max(1, _EVAL_COLS_BYTES // max(1, cols_row * itemsize)))
    else:
        flat = math.prod(int(v) for v in input_shape)
    widths = [flat, *hidden, int(num_classes)]
    for a, b in itertools.pairwise(widths):
        n_params += a * b + b
        largest = max(largest, a * b)
    n_params += 2 * sum(hidden) if bn else 0
    train_row += 3 * math.prod(int(v) for v in input_shape) + 3 * flat
    train_row += per_hidden_train * sum(hidden) + 4 * int(num_classes)
    eval_row += flat + sum(hidden) + 2 * int(num_classes)
    state = RULE_STATE.get(str(params.get("update_rule")), 2)
    # Training: parameters, gradients and the best-so-far snapshot (the Solver's flat buffers
    # replace, not double, them), the rule's state, and one step's or one scoring pass's arrays.
    steady = n_params * (3 + state) + max(batch * train_row, eval_rows * eval_row)
    # Initialization: each weight matrix drawn in float64, then cast (NumPy elides the scaling
    # temporary), beside the parameters made so far.
    init = n_params * itemsize + (8 + itemsize) * largest
    return int(max(steady * itemsize, init))


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

    base: dict[str, Any] = {}
    for name in ("hidden_size", "num_layers", "batch_size", "num_filters", "filter_size",
                 "dropout"):
        base[name] = _highest(space, name)
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

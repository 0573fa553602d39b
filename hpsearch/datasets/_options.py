"""Dataset options declared once as data, and their validation.

Each option's allowed values are a constraint of the study file's vocabulary
(``hpsearch.study.Interval``, ``Options``, ...), so a bad dataset option reads like any other bad
value: ``dataset 'moons': option 'noise': expected a finite number in [0, 100], got inf``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.datasets._base import DatasetError
from hpsearch.study import AnyOf, Boolean, Constraint, Interval, Options, Text, refusal

__all__ = ["COMMON", "IMAGE", "MAX_CLASSES", "MAX_EXAMPLES", "Option", "count", "resolve_options"]


@dataclass(frozen=True)
class Option:
    """One accepted option: the values it allows, its default and one line of help.

    Attributes:
        allowed: the values accepted (``hpsearch.study.Interval``, ``Options``, ...). None is
            accepted too where the default is None: the dataset's own choice.
        default: the value used when the option is not given.
        help: one line for docs.
    """

    allowed: Constraint
    default: Any = None
    help: str = ""


MAX_EXAMPLES = 1_000_000_000  # rows in any split
MAX_CLASSES = 100_000
MAX_SEED = 2**63 - 1


def count(high: int) -> Interval:
    """A count: an integer in [1, high] (a count past it is a typo or a hostile file)."""
    return Interval(int, 1, high)


COMMON: dict[str, Option] = {
    "n_train": Option(count(MAX_EXAMPLES), help="training examples (default: all that are left)"),
    "n_val": Option(count(MAX_EXAMPLES), help="validation examples"),
    "n_test": Option(count(MAX_EXAMPLES), help="test examples"),
    "seed": Option(Interval(int, 0, MAX_SEED), 0, help="split seed (the study seed)"),
    "stratify": Option(Boolean(), False, help="keep class proportions in every split"),
    "scale": Option(Options(str, ("none", "unit")), "none", "bring values to [0, 1]"),
    "center": Option(Options(str, ("none", "mean_image", "standardize")), "none",
                     "subtract the training mean (and divide by the training std)"),
    "dtype": Option(Options(str, ("float32", "float64")), "float32", "dtype of X"),
    "folds": Option(count(20), help="stratified k-fold assignment over train + validation, "
                    "seeded by seed (a study file sets it as [selection] folds; 1 or unset: none)"),
}
IMAGE: dict[str, Option] = {
    "flatten": Option(Boolean(), True, help="rows of C*H*W values (true) or (C, H, W) images"),
}
# A label column: its name in the header, or its index.
COLUMN = AnyOf(Text(non_empty=True, description="a column name"), Interval(int, None, None))


def _check(key: str, value: Any, opt: Option, where: Callable[[str], str]) -> Any:
    if value is None and opt.default is None:
        return None
    if not opt.allowed.is_satisfied_by(value):
        raise DatasetError(refusal(where(key), opt.allowed, value), key=key)
    if isinstance(opt.allowed, Interval) and opt.allowed.type is float:
        return float(value)
    return value


def resolve_options(dataset: str, accepted: Mapping[str, Option], given: Mapping[str, Any],
                    where: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Check ``given`` against ``accepted`` and fill in defaults.

    Args:
        dataset: the dataset's name, for messages.
        accepted: option name -> declaration.
        given: the options asked for.
        where: names an option for a message (default: ``dataset 'moons': option 'noise'``); a
            study file names its key instead (``studies/x.toml: [dataset] noise``).

    Raises:
        DatasetError: an unknown option (listing the accepted ones) or a bad value; ``key``
            names the option.
    """
    if unknown := set(given) - set(accepted):
        raise DatasetError(f"dataset {dataset!r}: unknown options {sorted(unknown)}; "
                           f"expected some of {sorted(accepted)}", key=sorted(unknown)[0])
    if where is None:
        def where(key: str) -> str:
            return f"dataset {dataset!r}: option {key!r}"
    return {key: _check(key, given[key], opt, where) if key in given else opt.default
            for key, opt in accepted.items()}

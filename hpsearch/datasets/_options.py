"""Dataset options declared once as data, and their validation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.datasets._base import DatasetError

__all__ = ["COMMON", "IMAGE", "MAX_CLASSES", "MAX_EXAMPLES", "Option", "resolve_options"]


@dataclass(frozen=True)
class Option:
    """One accepted option: its kind, default and (for ``kind="choice"``) allowed values.

    Kinds: ``"count"`` (int >= 1, or None for the dataset's default), ``"seed"`` (int >= 0),
    ``"bool"``, ``"choice"``, ``"float"`` (finite, >= 0), ``"str"``, ``"column"`` (str or int,
    or None). ``high`` bounds counts and floats from above (a sample count or number of classes
    past it is a typo or a hostile file, not a dataset).
    """

    kind: str
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    high: float | None = None


MAX_EXAMPLES = 1_000_000_000  # rows in any split
MAX_CLASSES = 100_000
MAX_SEED = 2**63 - 1


COMMON: dict[str, Option] = {
    "n_train": Option("count", help="training examples (default: all that are left)",
                      high=MAX_EXAMPLES),
    "n_val": Option("count", help="validation examples", high=MAX_EXAMPLES),
    "n_test": Option("count", help="test examples", high=MAX_EXAMPLES),
    "seed": Option("seed", 0, help="split seed (the study seed)", high=MAX_SEED),
    "stratify": Option("bool", False, help="keep class proportions in every split"),
    "scale": Option("choice", "none", ("none", "unit"), "bring values to [0, 1]"),
    "center": Option("choice", "none", ("none", "mean_image", "standardize"),
                     "subtract the training mean (and divide by the training std)"),
    "dtype": Option("choice", "float32", ("float32", "float64"), "dtype of X"),
    "folds": Option("count", help="stratified k-fold assignment over train + validation, seeded "
                    "by seed (a study file sets it as [selection] folds; 1 or unset: none)",
                    high=20),
}
IMAGE: dict[str, Option] = {
    "flatten": Option("bool", True, help="rows of C*H*W values (true) or (C, H, W) images"),
}


def _check(dataset: str, key: str, value: Any, opt: Option) -> Any:
    where = f"dataset {dataset!r}: option {key!r}"

    def bad(expected: str) -> DatasetError:
        return DatasetError(f"{where}: expected {expected}, got {value!r}", key=key)

    if opt.kind in ("count", "seed"):
        low = 1 if opt.kind == "count" else 0
        if value is None and opt.kind == "count":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise bad(f"an integer >= {low}")
        if opt.high is not None and value > opt.high:
            raise bad(f"an integer in [{low}, {opt.high:,}]")
        return int(value)
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if opt.kind == "choice":
        if not isinstance(value, str) or value not in opt.choices:
            raise bad(f"one of {list(opt.choices)}")
        return value
    if opt.kind == "float":
        high = math.inf if opt.high is None else opt.high
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                0 <= value <= high and math.isfinite(value)):
            raise bad("a finite number >= 0" + (f" and <= {high}" if opt.high is not None
                                                 else ""))
        return float(value)
    if opt.kind == "str":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if opt.kind == "column":
        if value is None or (isinstance(value, str) and value) or (
                isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise bad("a column name or index")
    raise AssertionError(f"unknown option kind {opt.kind!r}")  # a bug in the table, not input


def resolve_options(dataset: str, accepted: Mapping[str, Option], given: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """Check ``given`` against ``accepted`` and fill in defaults.

    Raises:
        DatasetError: an unknown option (listing the accepted ones) or a bad value.
    """
    if unknown := set(given) - set(accepted):
        raise DatasetError(f"dataset {dataset!r}: unknown options {sorted(unknown)}; "
                           f"expected some of {sorted(accepted)}", key=sorted(unknown)[0])
    return {key: _check(dataset, key, given[key], opt) if key in given else opt.default
            for key, opt in accepted.items()}

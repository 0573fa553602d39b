"""Dataset options declared once as data, and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.datasets._base import DatasetError

__all__ = ["COMMON", "IMAGE", "Option", "resolve_options"]


@dataclass(frozen=True)
class Option:
    """One accepted option: its kind, default and (for ``kind="choice"``) allowed values.

    Kinds: ``"count"`` (int >= 1, or None for the dataset's default), ``"seed"`` (int >= 0),
    ``"bool"``, ``"choice"``, ``"float"`` (>= 0), ``"str"``, ``"column"`` (str or int, or None).
    """

    kind: str
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""


COMMON: dict[str, Option] = {
    "n_train": Option("count", help="training examples (default: all that are left)"),
    "n_val": Option("count", help="validation examples"),
    "n_test": Option("count", help="test examples"),
    "seed": Option("seed", 0, help="split seed (the study seed)"),
    "stratify": Option("bool", False, help="keep class proportions in every split"),
    "scale": Option("choice", "none", ("none", "unit"), "bring values to [0, 1]"),
    "center": Option("choice", "none", ("none", "mean_image", "standardize"),
                     "subtract the training mean (and divide by the training std)"),
    "dtype": Option("choice", "float32", ("float32", "float64"), "dtype of X"),
}
IMAGE: dict[str, Option] = {
    "flatten": Option("bool", True, help="rows of C*H*W values (true) or (C, H, W) images"),
}


def _check(dataset: str, key: str, value: Any, opt: Option) -> Any:
    where = f"dataset {dataset!r}: option {key!r}"
    if opt.kind in ("count", "seed"):
        low = 1 if opt.kind == "count" else 0
        if value is None and opt.kind == "count":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DatasetError(f"{where}: expected an integer >= {low}, got {value!r}")
        return int(value)
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise DatasetError(f"{where}: expected true or false, got {value!r}")
        return value
    if opt.kind == "choice":
        if value not in opt.choices:
            raise DatasetError(f"{where}: expected one of {list(opt.choices)}, got {value!r}")
        return value
    if opt.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise DatasetError(f"{where}: expected a number >= 0, got {value!r}")
        return float(value)
    if opt.kind == "str":
        if not isinstance(value, str) or not value:
            raise DatasetError(f"{where}: expected a non-empty string, got {value!r}")
        return value
    if opt.kind == "column":
        if value is None or (isinstance(value, str) and value) or (
                isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise DatasetError(f"{where}: expected a column name or index, got {value!r}")
    raise AssertionError(f"unknown option kind {opt.kind!r}")  # a bug in the table, not input


def resolve_options(dataset: str, accepted: Mapping[str, Option], given: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """Check ``given`` against ``accepted`` and fill in defaults.

    Raises:
        DatasetError: an unknown option (listing the accepted ones) or a bad value.
    """
    if unknown := set(given) - set(accepted):
        raise DatasetError(f"dataset {dataset!r}: unknown options {sorted(unknown)}; "
                           f"expected some of {sorted(accepted)}")
    return {key: _check(dataset, key, given[key], opt) if key in given else opt.default
            for key, opt in accepted.items()}

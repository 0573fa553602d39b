"""2-D toy sets generated from the seed: moons, circles, spiral (for decision-boundary studies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.datasets._base import DatasetError, Pool, RawData

__all__ = ["MAX_TOY_SAMPLES", "check_toy_options", "load_toy_raw"]

# Generation draws from its own stream, not the split's: default_rng([_SALT, seed]).
_SALT = 0x70E5
# Points in the plane for decision-boundary studies: a million is 16 MB; 10^9 would be 16 GB.
MAX_TOY_SAMPLES = 1_000_000


def check_toy_options(name: str, options: dict[str, Any]) -> None:
    """Refuse option combinations a toy set cannot honour (``DatasetError.key`` names one).

    Args:
        name: "moons", "circles" or "spiral".
        options: resolved options.
    """
    n = options["n_samples"]
    k = options.get("n_classes", 2)
    if k < 2:
        raise DatasetError(f"dataset {name!r}: option 'n_classes' must be at least 2, got {k}",
                           key="n_classes")
    if n < 3 * k:
        raise DatasetError(f"dataset {name!r}: option 'n_samples' = {n} is too few for "
                           f"{k} classes and three splits; expected at least {3 * k}",
                           key="n_samples")
    asked = {s: options[s] for s in ("n_train", "n_val", "n_test") if options.get(s)}
    if sum(asked.values()) > n:
        sizes = ", ".join(f"{s} = {v}" for s, v in asked.items())
        raise DatasetError(f"dataset {name!r}: {sizes} add up to more than n_samples = {n}; "
                           "lower them or raise n_samples", key=next(iter(asked)))


def _moons(n: int, noise: float, rng: np.random.Generator, _: dict[str, Any]
           ) -> tuple[np.ndarray, np.ndarray]:
    n_out = n // 2
    t = rng.uniform(0.0, np.pi, n)
    outer = np.stack([np.cos(t[:n_out]), np.sin(t[:n_out])], axis=1)
    inner = np.stack([1 - np.cos(t[n_out:]), 0.5 - np.sin(t[n_out:])], axis=1)
    X = np.concatenate([outer, inner]) + rng.normal(0.0, noise, (n, 2))
    return X, np.repeat([0, 1], [n_out, n - n_out])


def _circles(n: int, noise: float, rng: np.random.Generator, options: dict[str, Any]
             ) -> tuple[np.ndarray, np.ndarray]:
    n_out = n // 2
    radius = np.where(np.arange(n) < n_out, 1.0, options["factor"])
    t = rng.uniform(0.0, 2 * np.pi, n)
    X = radius[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1) + rng.normal(0.0, noise, (n, 2))
    return X, np.repeat([0, 1], [n_out, n - n_out])


def _spiral(n: int, noise: float, rng: np.random.Generator, options: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray]:
    # CS231n's spiral: K arms, radius 0..1, angle spread by Gaussian noise.
    k = options["n_classes"]
    y = np.arange(n) % k
    r = rng.uniform(0.0, 1.0, n)
    t = y * (2 * np.pi / k) + 4.0 * r + rng.normal(0.0, noise, n)
    return np.stack([r * np.sin(t), r * np.cos(t)], axis=1), y


_GENERATORS = {"moons": _moons, "circles": _circles, "spiral": _spiral}


def load_toy_raw(name: str, path: Path | None, options: dict[str, Any]) -> RawData:
    """Generate a toy set as float64 points in the plane.

    Raises:
        DatasetError: a path was given, or too few samples for the classes.
    """
    if path is not None:
        raise DatasetError(f"dataset {name!r} is generated from the seed and takes no path; "
                           f"remove [dataset] path = {str(path)!r}", key="path")
    check_toy_options(name, options)
    n = options["n_samples"]
    k = options.get("n_classes", 2)
    rng = np.random.default_rng([_SALT, options["seed"]])
    X, y = _GENERATORS[name](n, options["noise"], rng, options)
    return RawData(train=Pool(X, y.astype(np.int64), f"generated {name}"), val=None, test=None,
                   num_classes=k, class_names=tuple(str(c) for c in range(k)),
                   image_shape=None, pixel_max=None)

"""Checks of a study's space against its dataset: what the data can feed, what memory holds.

Two stages: ``check_space_against_source`` runs while the study file is parsed and knows only the
dataset's name and options (a CNN on feature vectors is refused there); ``check_space_against_data``
runs in the driver once the data are loaded (image size, folds, memory). Both name the file and
the key, as parse errors do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch.study._config import StudyConfig
from hpsearch.study._errors import ConfigError, key_where
from hpsearch.study._space import (
    PARAMETERS,
    ParamSpec,
    hidden_dims,
    highest_value,
    largest_configurations,
    space_values,
)
from hpsearch.training import estimate_trial_bytes

__all__ = [
    "check_memory",
    "check_space_against_data",
    "check_space_against_source",
    "estimate_trial_bytes",
]


def _may_be(space: Mapping[str, ParamSpec], name: str, value: Any) -> bool:
    """Whether some trial of ``space`` can give ``name`` the (string) ``value``."""
    spec = space.get(name)
    values = space_values(spec) if spec is not None else (PARAMETERS[name].default,)
    return value in (values or ())


def check_space_against_source(space: Mapping[str, ParamSpec], dataset: str,
                                options: Mapping[str, Any], source: Any) -> None:
    """Refuse, from the study file alone, models and augmentations the dataset cannot feed."""
    from hpsearch.datasets import TABULAR_DATASETS

    if _may_be(space, "model", "cnn"):
        if dataset in TABULAR_DATASETS:
            raise ConfigError(f"{key_where(source, 'space.model')}: 'cnn' needs image data, but "
                              f"dataset {dataset!r} holds feature vectors; use model = 'fc'")
        if options.get("flatten", True):
            raise ConfigError(f"{key_where(source, 'space.model')}: 'cnn' needs images kept as "
                              "(C, H, W); add flatten = false to [dataset]")
    if _may_be(space, "augment", "flip") and dataset in TABULAR_DATASETS:
        raise ConfigError(f"{key_where(source, 'space.augment')}: 'flip' mirrors images, but "
                          f"dataset {dataset!r} holds feature vectors; use augment = 'none'")


def _describe(params: Mapping[str, Any]) -> str:
    keys = ["model", "batch_size", "update_rule", "normalization"]
    if params.get("model") == "cnn":
        keys += ["num_filters", "filter_size", "num_conv_stages"]
    shown = ", ".join(f"{k} = {params[k]!r}" for k in keys)
    return f"hidden layers {list(hidden_dims(params))}, {shown}"


def check_memory(config: StudyConfig, input_shape: tuple[int, ...], num_classes: int,
                 available_bytes: int | None = None) -> int:
    """Refuse a space whose largest trial cannot fit in the memory one trial has.

    Args:
        config: the study.
        input_shape: per-sample shape the model sees (``Dataset.input_shape``).
        num_classes: ``Dataset.num_classes``.
        available_bytes: memory one trial may use (a worker's memory divided by the trials it
            runs at once); None: this machine's available memory.

    Returns:
        The estimate for the largest trial, in bytes (``hpsearch.training.estimate_trial_bytes``).

    Raises:
        ConfigError: naming the file, the largest configuration's values, the estimate and the
            memory available.
    """
    worst, worst_params = 0, None
    for params in largest_configurations(config.space):
        if params["model"] == "cnn" and len(input_shape) != 3:
            continue  # refused by check_space_against_data
        estimate = estimate_trial_bytes(params, input_shape, num_classes)
        if estimate > worst:
            worst, worst_params = estimate, params
    if available_bytes is None:
        from hpsearch.datasets import available_memory

        available_bytes = available_memory()
    if worst_params is not None and available_bytes is not None and worst > available_bytes:
        raise ConfigError(
            f"{key_where(config.source, 'space')}: the largest trial this space allows "
            f"({_describe(worst_params)}; inputs {tuple(input_shape)}, {num_classes} classes) "
            f"needs about {worst / 2**30:.3g} GiB (parameters, activations for one batch, "
            f"im2col buffers), but a trial has {available_bytes / 2**30:.3g} GiB; lower the "
            "largest hidden_size, num_layers, batch_size or num_filters")
    return worst


def check_space_against_data(config: StudyConfig, dataset: Any,
                             available_bytes: int | None = None) -> int:
    """Everything about the space that needs the loaded dataset, checked before any trial runs.

    A CNN needs (C, H, W) inputs large enough for its pooling stages, ``augment = 'flip'`` needs
    images, and the largest trial must fit in memory (``check_memory``).

    Args:
        config: the study.
        dataset: the loaded ``hpsearch.datasets.Dataset``.
        available_bytes: memory one trial may use; None: this machine's available memory.

    Returns:
        The memory estimate of the largest trial, in bytes.

    Raises:
        ConfigError: naming the file, the key and what the data allow.
    """
    space, source = config.space, config.source
    shape = tuple(dataset.input_shape)
    if _may_be(space, "model", "cnn"):
        if len(shape) != 3:
            raise ConfigError(
                f"{key_where(source, 'space.model')}: 'cnn' needs images kept as (C, H, W), but "
                f"dataset {dataset.name!r} gives per-sample shape {shape}"
                + ("; add flatten = false to [dataset]" if dataset.image_shape else ""))
        stages = int(highest_value(space, "num_conv_stages"))
        fits = min(shape[1:]).bit_length() - 1  # halvings that leave at least 2 pixels
        if stages > fits:
            raise ConfigError(
                f"{key_where(source, 'space.num_conv_stages')}: up to {stages} stages each halve "
                f"the image, but {shape[1]}x{shape[2]} images allow at most {fits}")
    folds = config.selection.folds
    if folds and folds > (n_pool := len(dataset.y_train) + len(dataset.y_val)):
        raise ConfigError(f"{key_where(source, 'selection.folds')}: {folds} folds but only "
                          f"{n_pool} training and validation examples; lower folds")
    if _may_be(space, "augment", "flip") and dataset.image_shape is None:
        raise ConfigError(f"{key_where(source, 'space.augment')}: 'flip' mirrors images, but "
                          f"dataset {dataset.name!r} has no image shape (per-sample shape "
                          f"{shape}); use augment = 'none'")
    return check_memory(config, shape, int(dataset.num_classes), available_bytes)

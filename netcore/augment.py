"""Minibatch augmentation for image data, usable as a Solver ``transform``.

Both functions take (N, C, H, W) arrays, or flat rows (N, C*H*W) with ``image_shape=(C, H, W)``,
draw from the generator they are given and return a new array (the input is never written).
Bind the extra arguments with ``functools.partial`` to get a ``transform(X, rng)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_crop", "random_flip"]


def _as_images(X: np.ndarray, image_shape: tuple[int, int, int] | None) -> np.ndarray:
    if image_shape is None:
        if X.ndim != 4:
            raise ValueError(
                f"X has shape {X.shape}; expected (N, C, H, W), or flat rows with image_shape"
            )
        return X
    c, h, w = image_shape
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != c * h * w:
        raise ValueError(
            f"X has shape {X.shape}; expected rows of {c * h * w} values for image_shape "
            f"{tuple(image_shape)}"
        )
    return X.reshape(len(X), c, h, w)


def random_flip(
    X: np.ndarray, rng: np.random.Generator, image_shape: tuple[int, int, int] | None = None
) -> np.ndarray:
    """Flip each image left-right with probability 1/2.

    Args:
        X: Images (N, C, H, W), or flat rows with ``image_shape``.
        rng: Generator that decides which images flip.
        image_shape: ``(C, H, W)`` of flat rows.

    Returns:
        A new array shaped like ``X``.
    """
    images = _as_images(X, image_shape)
    flip = rng.random(len(images)) < 0.5
    out = images.copy()
    out[flip] = images[flip, :, :, ::-1]
    return out.reshape(X.shape)


def random_crop(
    X: np.ndarray,
    rng: np.random.Generator,
    padding: int,
    image_shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Zero-pad each image by ``padding`` pixels and crop it back at a random offset.

    Args:
        X: Images (N, C, H, W), or flat rows with ``image_shape``.
        rng: Generator for the offsets (uniform in ``[0, 2 * padding]`` on each axis).
        padding: Pixels of zero padding on each side (>= 0).
        image_shape: ``(C, H, W)`` of flat rows.

    Returns:
        A new array shaped like ``X``.
    """
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"padding = {padding!r}; expected an integer >= 0")
    images = _as_images(X, image_shape)
    if padding == 0:
        return X.copy()
    n, c, h, w = images.shape
    p = int(padding)
    padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p)))
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)  # (N, H)
    cols = dx[:, None] + np.arange(w)  # (N, W)
    out = padded[
        np.arange(n)[:, None, None, None],
        np.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return out.reshape(X.shape)

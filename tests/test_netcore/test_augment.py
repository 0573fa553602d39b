"""Augmentation: flips and crops, new arrays, reproducible from the generator."""

from __future__ import annotations

import numpy as np
import pytest

import netcore as nc


@pytest.fixture
def images():
    return np.random.default_rng(0).standard_normal((64, 3, 5, 6)).astype(np.float32)


def test_flip_mirrors_about_half_of_the_images(images):
    images.flags.writeable = False
    out = nc.random_flip(images, np.random.default_rng(1))
    assert out.shape == images.shape and not np.shares_memory(out, images)
    same = [np.array_equal(o, x) for o, x in zip(out, images, strict=True)]
    mirrored = [np.array_equal(o, x[:, :, ::-1]) for o, x in zip(out, images, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 16 < sum(mirrored) < 48
    np.testing.assert_array_equal(out, nc.random_flip(images, np.random.default_rng(1)))


def test_flip_on_flat_rows_matches_image_layout(images):
    flat = images.reshape(64, -1)
    out = nc.random_flip(flat, np.random.default_rng(1), image_shape=(3, 5, 6))
    assert out.shape == flat.shape
    np.testing.assert_array_equal(
        out.reshape(images.shape), nc.random_flip(images, np.random.default_rng(1))
    )


def test_crop_is_a_window_of_the_padded_image(images):
    pad = 2
    out = nc.random_crop(images, np.random.default_rng(2), padding=pad)
    assert out.shape == images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    offsets = set()
    for o, p in zip(out, padded, strict=True):
        windows = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if np.array_equal(o, p[:, dy : dy + 5, dx : dx + 6])
        ]
        assert windows
        offsets.add(windows[0])
    assert len(offsets) > 5  # offsets vary across images
    zero = nc.random_crop(images, np.random.default_rng(2), padding=0)
    np.testing.assert_array_equal(zero, images)
    assert not np.shares_memory(zero, images)


def test_bad_shapes_and_padding(images):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"shape \(64, 90\).*image_shape"):
        nc.random_flip(images.reshape(64, -1), rng)
    with pytest.raises(ValueError, match=r"rows of 12 values"):
        nc.random_crop(images.reshape(64, -1), rng, 1, image_shape=(3, 2, 2))
    with pytest.raises(ValueError, match=r"padding = -1"):
        nc.random_crop(images, rng, -1)

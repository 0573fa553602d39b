"""hpsearch.datasets: API, options, splits, preprocessing, fingerprints, digits and toy sets."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from hpsearch.datasets import (
    DATASET_NAMES,
    Dataset,
    DatasetError,
    dataset_options,
    load_dataset,
)


def _ids_npz(tmp_path, n=200, labels=None, name="ids.npz", **extra):
    """An npz whose row i is [i, i, i]: lets tests see which rows went where."""
    X = np.repeat(np.arange(n, dtype=np.float64)[:, None], 3, axis=1)
    y = np.arange(n) % 4 if labels is None else labels
    path = tmp_path / name
    np.savez(path, X=X, y=y, **extra)
    return path


def _row_ids(ds: Dataset, split: str) -> np.ndarray:
    return getattr(ds, f"X_{split}")[:, 0].astype(np.int64)


RAW = {"scale": "none", "center": "none", "dtype": "float64"}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


# --- registry and options ---------------------------------------------------------------------

def test_registry_names_and_options():
    assert set(DATASET_NAMES) == {"digits", "cifar10", "mnist", "fashion_mnist", "npz", "csv",
                                  "moons", "circles", "spiral"}
    common = {"n_train", "n_val", "n_test", "seed", "stratify", "scale", "center", "dtype"}
    for name in DATASET_NAMES:
        assert common <= dataset_options(name), name
    assert "flatten" in dataset_options("cifar10") and "format" in dataset_options("cifar10")
    assert "flatten" not in dataset_options("moons")  # 2-D points are no images
    assert {"n_samples", "noise"} <= dataset_options("spiral")
    assert {"x_key", "y_key", "num_classes"} <= dataset_options("npz")
    assert {"label_column", "header", "delimiter"} <= dataset_options("csv")


def test_unknown_dataset_lists_names():
    with pytest.raises(DatasetError, match=r"unknown dataset 'imagenet'.*cifar10"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="unknown dataset"):
        dataset_options("imagenet")


def test_unknown_option_lists_accepted():
    with pytest.raises(DatasetError, match=r"unknown options \['colour'\].*'n_samples'"):
        load_dataset("moons", colour=True)
    with pytest.raises(DatasetError, match=r"unknown options \['flatten'\]"):
        load_dataset("spiral", flatten=False)


@pytest.mark.parametrize(("options", "message"), [
    ({"n_train": 0}, r"option 'n_train': expected an integer in \[1, 1,000,000,000\], got 0$"),
    ({"n_val": True}, r"option 'n_val': expected an integer in \[1, .*\], got True$"),
    ({"seed": -1}, r"option 'seed': expected an integer in \[0, .*\], got -1$"),
    ({"scale": "minmax"}, r"'scale'.*\['none', 'unit'\], got 'minmax'"),
    ({"center": "mean"}, r"'center'.*'standardize'"),
    ({"dtype": "float16"}, r"'dtype'.*float32"),
    ({"stratify": "yes"}, r"'stratify'.*true or false"),
    ({"noise": -0.1}, r"option 'noise': expected a finite number in \[0, 100\], got -0.1$"),
])
def test_bad_option_values_named(options, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset("moons", **options)


def test_sizes_that_do_not_fit_are_reported():
    with pytest.raises(DatasetError, match=r"1000 examples; n_train = 900, n_test = 200, "
                                           r"n_val = 200 do not fit \(only 600 left"):
        load_dataset("moons", n_train=900)


def test_toy_sets_take_no_path(tmp_path):
    with pytest.raises(DatasetError, match="takes no path"):
        load_dataset("circles", tmp_path)


# --- splits -----------------------------------------------------------------------------------

def test_split_reproducible_bit_for_bit_and_seed_dependent(tmp_path):
    path = _ids_npz(tmp_path)
    a, b = load_dataset("npz", path, seed=5, **RAW), load_dataset("npz", path, seed=5, **RAW)
    for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        assert getattr(a, key).tobytes() == getattr(b, key).tobytes()
    assert a.fingerprint == b.fingerprint
    c = load_dataset("npz", path, seed=6, **RAW)
    assert not np.array_equal(_row_ids(a, "val"), _row_ids(c, "val"))
    assert a.fingerprint != c.fingerprint


def test_splits_disjoint_and_sized(tmp_path):
    path = _ids_npz(tmp_path, n=200)
    ds = load_dataset("npz", path, n_val=30, n_test=50, **RAW)
    ids = {s: set(_row_ids(ds, s).tolist()) for s in ("train", "val", "test")}
    assert [len(ids[s]) for s in ("train", "val", "test")] == [120, 30, 50]
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    assert ids["train"] | ids["val"] | ids["test"] == set(range(200))
    # Labels travel with their rows.
    np.testing.assert_array_equal(ds.y_val, _row_ids(ds, "val") % 4)
    assert ds.options["n_train"] == 120 and ds.options["layout"] == "single"


def test_default_carve_is_twenty_percent(tmp_path):
    ds = load_dataset("npz", _ids_npz(tmp_path, n=200), **RAW)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (120, 40, 40)


def test_n_train_subsample_keeps_val_and_test(tmp_path):
    path = _ids_npz(tmp_path, n=200)
    full = load_dataset("npz", path, seed=1, **RAW)
    small = load_dataset("npz", path, seed=1, n_train=25, **RAW)
    np.testing.assert_array_equal(_row_ids(full, "val"), _row_ids(small, "val"))
    np.testing.assert_array_equal(_row_ids(full, "test"), _row_ids(small, "test"))
    assert len(small.y_train) == 25
    assert set(_row_ids(small, "train")) <= set(_row_ids(full, "train"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_splits_keep_class_proportions(tmp_path, seed):
    labels = np.array([0] * 160 + [1] * 30 + [2] * 10)  # 80% / 15% / 5%
    path = _ids_npz(tmp_path, n=200, labels=labels)
    ds = load_dataset("npz", path, seed=seed, stratify=True, n_val=40, n_test=40, **RAW)
    for split, n in (("train", 120), ("val", 40), ("test", 40)):
        counts = np.bincount(getattr(ds, f"y_{split}"), minlength=3)
        assert counts.sum() == n
        np.testing.assert_allclose(counts, n * np.array([0.8, 0.15, 0.05]), atol=1)
    ids = [set(_row_ids(ds, s).tolist()) for s in ("train", "val", "test")]
    assert sum(map(len, ids)) == len(set().union(*ids)) == 200


def test_unstratified_small_splits_can_miss_a_class(tmp_path):
    # The contrast that makes the stratified test meaningful: some seed leaves class 2 out.
    labels = np.array([0] * 160 + [1] * 30 + [2] * 10)
    path = _ids_npz(tmp_path, n=200, labels=labels)
    missing = [seed for seed in range(20)
               if 2 not in load_dataset("npz", path, seed=seed, n_val=20, **RAW).y_val]
    assert missing


# --- preprocessing ----------------------------------------------------------------------------

def _shifted_npz(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 2.0, (300, 4))
    X[:, 3] = 7.0  # constant feature
    np.savez(tmp_path / "shift.npz", X_train=X, y_train=np.arange(300) % 2,
             X_val=rng.normal(-40.0, 9.0, (50, 4)), y_val=np.arange(50) % 2,
             X_test=rng.normal(100.0, 0.1, (50, 4)), y_test=np.arange(50) % 2)
    return tmp_path / "shift.npz"


def test_standardize_uses_training_statistics_only(tmp_path):
    path = _shifted_npz(tmp_path)
    raw = load_dataset("npz", path, **RAW)
    ds = load_dataset("npz", path, center="standardize", dtype="float64")
    mean, std = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    std[std == 0] = 1.0
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0)[:3], 1.0, rtol=1e-12)
    np.testing.assert_allclose(ds.X_val, (raw.X_val - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(ds.X_test, (raw.X_test - mean) / std, rtol=1e-12)
    assert abs(ds.X_test[:, 0].mean()) > 10  # test data were not standardized by their own stats
    assert np.all(ds.X_train[:, 3] == 0)  # constant feature: centered, not divided by zero


def test_mean_image_and_unit_scale_on_features(tmp_path):
    path = _shifted_npz(tmp_path)
    raw = load_dataset("npz", path, **RAW)
    ds = load_dataset("npz", path, scale="unit", center="mean_image", dtype="float64")
    low, span = raw.X_train.min(axis=0), np.ptp(raw.X_train, axis=0)
    span[span == 0] = 1
    unit_train = (raw.X_train - low) / span
    np.testing.assert_allclose(ds.X_train, unit_train - unit_train.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(ds.X_val, (raw.X_val - low) / span - unit_train.mean(axis=0),
                               atol=1e-12)


def test_float32_standardize_matches_float64(tmp_path):
    path = _shifted_npz(tmp_path)
    a = load_dataset("npz", path, center="standardize")
    b = load_dataset("npz", path, center="standardize", dtype="float64")
    assert a.X_train.dtype == np.float32 and b.X_train.dtype == np.float64
    np.testing.assert_allclose(a.X_val, b.X_val, rtol=1e-5, atol=1e-5)


# --- fingerprint ------------------------------------------------------------------------------

def test_fingerprint_tracks_data_and_preprocessing(tmp_path):
    path = _ids_npz(tmp_path)
    base = load_dataset("npz", path, center="mean_image")
    assert base.fingerprint == load_dataset("npz", path, center="mean_image").fingerprint
    assert len(base.fingerprint) == 16 and int(base.fingerprint, 16) >= 0
    for options in ({"center": "standardize"}, {"center": "mean_image", "dtype": "float64"},
                    {"center": "mean_image", "n_train": 50}):
        assert load_dataset("npz", path, **options).fingerprint != base.fingerprint, options
    labels = np.arange(200) % 4
    labels[7] = (labels[7] + 1) % 4  # one label changed
    changed = _ids_npz(tmp_path, labels=labels, name="changed.npz")
    assert load_dataset("npz", changed, center="mean_image").fingerprint != base.fingerprint
    # The same data from a differently named file (and key names) is the same data.
    X, y = np.load(path)["X"], np.load(path)["y"]
    np.savez(tmp_path / "renamed.npz", feats=X, target=y)
    same = load_dataset("npz", tmp_path / "renamed.npz", x_key="feats", y_key="target",
                        center="mean_image")
    assert same.fingerprint == base.fingerprint


# --- digits -----------------------------------------------------------------------------------

def test_digits_defaults(digits):
    assert (digits.X_train.shape, digits.X_val.shape, digits.X_test.shape) == (
        (1197, 64), (300, 64), (300, 64))
    assert digits.X_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.input_shape == (64,) and digits.image_shape == (1, 8, 8)
    assert digits.num_classes == 10 and digits.class_names == tuple("0123456789")
    assert all(getattr(digits, k).flags.c_contiguous for k in ("X_train", "X_val", "X_test"))
    np.testing.assert_allclose(digits.X_train.mean(axis=0), 0.0, atol=1e-6)  # mean-centered
    assert digits.options["scale"] == "unit" and digits.options["center"] == "mean_image"
    assert json.loads(json.dumps(digits.options)) == {
        "n_train": 1197, "n_val": 300, "n_test": 300, "seed": 0, "stratify": False,
        "scale": "unit", "center": "mean_image", "dtype": "float32", "flatten": True,
        "folds": None}
    assert set(np.unique(digits.y_train)) == set(range(10))


def test_digits_unit_scale_and_images():
    ds = load_dataset("digits", center="none", flatten=False, n_train=100)
    assert ds.X_train.shape == (100, 1, 8, 8) and ds.input_shape == (1, 8, 8)
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    assert np.all(np.isin(ds.X_train * 16, np.arange(17)))  # pixels 0..16 / 16


def test_digits_takes_no_path(tmp_path):
    with pytest.raises(DatasetError, match="takes no path"):
        load_dataset("digits", tmp_path)


def test_arrays_are_read_only_and_shared(digits):
    with pytest.raises(ValueError, match="read-only"):
        digits.X_train[0, 0] = 1.0
    data = digits.as_solver_data()
    assert set(data) == {"X_train", "y_train", "X_val", "y_val"}
    assert data["X_train"] is digits.X_train and data["y_val"] is digits.y_val


def test_pickles_cheaply(digits):
    nbytes = sum(getattr(digits, k).nbytes for k in
                 ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"))
    blob = pickle.dumps(digits, protocol=5)
    assert len(blob) < nbytes + 4096
    back = pickle.loads(blob)
    assert back.fingerprint == digits.fingerprint
    np.testing.assert_array_equal(back.X_test, digits.X_test)
    assert "fingerprint=" in repr(digits) and "train=1197" in repr(digits)


# --- toy sets ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "classes"), [("moons", 2), ("circles", 2), ("spiral", 3)])
def test_toy_sets(name, classes):
    ds = load_dataset(name, seed=3, n_samples=300)
    assert ds.input_shape == (2,) and ds.image_shape is None and ds.num_classes == classes
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 300
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_val, ds.y_test]))) == set(
        range(classes))
    again = load_dataset(name, seed=3, n_samples=300)
    assert again.X_train.tobytes() == ds.X_train.tobytes()
    assert load_dataset(name, seed=4, n_samples=300).fingerprint != ds.fingerprint
    assert load_dataset(name, seed=3, n_samples=300, noise=0.5).fingerprint != ds.fingerprint


def test_circles_radii():
    ds = load_dataset("circles", noise=0.0, factor=0.3, dtype="float64")
    radius = np.hypot(ds.X_train[:, 0], ds.X_train[:, 1])
    np.testing.assert_allclose(radius, np.where(ds.y_train == 0, 1.0, 0.3))


def test_spiral_classes_option():
    ds = load_dataset("spiral", n_classes=5, n_samples=500)
    assert ds.num_classes == 5 and len(ds.class_names) == 5


# --- isolation --------------------------------------------------------------------------------

def test_import_pulls_in_nothing_heavy():
    code = ("import sys, hpsearch.datasets; "
            "print(sorted(m for m in ('optuna', 'ray', 'pandas', 'matplotlib', 'sklearn', "
            "'netcore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

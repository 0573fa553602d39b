"""Hostile and mistaken dataset files fail fast, from headers, with small memory (issue 15).

Every message names the file (or the option) and what was expected; nothing allocates what a
header or a stray label merely claims.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from _dataset_files import (
    IMAGES_MAGIC,
    cifar_arrays,
    idx_bytes,
    write_cifar_binary,
    write_mnist,
)

import hpsearch.datasets._base as base
from hpsearch.datasets import DatasetError, check_dataset_options, load_dataset


@contextlib.contextmanager
def traced():
    """Trace NumPy and Python allocations inside the block; ``peak[0]`` is the peak in bytes."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


# --- labels and classes -------------------------------------------------------------------------


def _csv(path, labels):
    rows = [f"{i * 0.1},{i % 7},{label}" for i, label in enumerate(labels)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    return path


def test_csv_label_of_a_billion_refused_before_allocating(tmp_path):
    f = _csv(tmp_path / "d.csv", [0, 1] * 20 + [10**9])
    with traced() as peak, pytest.raises(DatasetError) as info:
        load_dataset("csv", f)
    assert "'csv': the largest label is 1000000000 but there are only 41 examples" in str(
        info.value)
    assert peak[0] < 20 * 2**20


def test_npz_label_of_a_billion_refused_before_allocating(tmp_path):
    y = np.array([0, 1] * 20 + [10**9])
    np.savez(tmp_path / "d.npz", X=np.zeros((41, 3)), y=y)
    with traced() as peak, pytest.raises(DatasetError, match="largest label is 1000000000 but "
                                                             "there are only 41"):
        load_dataset("npz", tmp_path / "d.npz")
    assert peak[0] < 20 * 2**20


def test_num_classes_option_bounded_and_checked_against_examples(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((40, 3)), y=np.arange(40) % 2)
    with pytest.raises(DatasetError, match=r"option 'num_classes': expected an integer in "
                                           r"\[1, 100,000\], got 1000000000") as info:
        load_dataset("npz", tmp_path / "d.npz", num_classes=10**9)
    assert info.value.key == "num_classes"
    with pytest.raises(DatasetError, match=r"'num_classes' = 50 but there are only 40 examples"):
        load_dataset("npz", tmp_path / "d.npz", num_classes=50)


@pytest.mark.parametrize("fmt", ["csv", "npz"])
def test_fractional_labels_refused_alike_in_csv_and_npz(tmp_path, fmt):
    labels = [0, 1] * 20 + [0.5]
    if fmt == "csv":
        path = _csv(tmp_path / "d.csv", labels)
    else:
        path = tmp_path / "d.npz"
        np.savez(path, X=np.zeros((41, 3)), y=np.array(labels, dtype=float))
    with pytest.raises(DatasetError, match=r"1 of 41 labels are not whole numbers \(first: "
                                           r"(np.float64\()?0.5\)?\); expected class indices"):
        load_dataset(fmt, path)


def test_csv_whole_float_labels_read_as_classes(tmp_path):
    ds = load_dataset("csv", _csv(tmp_path / "d.csv", ["0.0", "1.0"] * 20))
    assert ds.num_classes == 2


# --- npz headers --------------------------------------------------------------------------------


def _npy_header(shape, dtype="<f8") -> bytes:
    buf = io.BytesIO()  # the writer puts the magic string first
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def test_npz_header_claiming_a_trillion_elements_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X.npy", _npy_header((10**12,)) + bytes(800))
        zf.writestr("y.npy", _npy_header((100,), "<i8") + bytes(800))
    with traced() as peak, pytest.raises(
            DatasetError, match=r"^\S+bomb.npz: X.npy claims shape \(1000000000000,\) of float64 "
                                r"\(8,000,000,000,000 bytes\) but holds 800 bytes"):
        load_dataset("npz", path)
    assert peak[0] < 5 * 2**20


def test_npz_larger_than_free_memory_refused_with_sizes(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", X=np.zeros((1000, 100)), y=np.arange(1000) % 2)
    monkeypatch.setattr(base, "available_memory", lambda: 100_000)
    with pytest.raises(DatasetError, match=r"d.npz: its arrays would need 0.000\d+ GiB of "
                                           r"memory, but only 9.\d+e-05 GiB is available"):
        load_dataset("npz", tmp_path / "d.npz")


# --- MNIST gzip bombs ---------------------------------------------------------------------------


def test_gzip_idx_claiming_a_huge_body_refused_from_its_header(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10)
    head = struct.pack(">IIII", IMAGES_MAGIC, 60_000_000, 280, 280)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + bytes(1000)))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: truncated: the header "
                                           r"gives shape \(60000000, 280, 280\).*gzipped\) "
                                           r"cannot hold that many"):
        load_dataset("mnist", tmp_path)


def test_gzip_idx_expanding_far_past_its_header_stops_at_the_header_size(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10)
    head = idx_bytes(np.zeros((30, 28, 28), np.uint8), IMAGES_MAGIC)
    zeros = gzip.compress(head + bytes(64 * 2**20), compresslevel=9)  # 64 MB of zeros, ~64 KB
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(zeros)
    del head
    with traced() as peak, pytest.raises(
            DatasetError, match=r"train-images-idx3-ubyte.gz: has trailing bytes: more than "
                                r"the 23536 bytes its header gives"):
        load_dataset("mnist", tmp_path)
    assert peak[0] < 5 * 2**20


def test_idx_body_larger_than_free_memory_refused(tmp_path, monkeypatch):
    write_mnist(tmp_path, n_train=30, n_test=10)
    monkeypatch.setattr(base, "available_memory", lambda: 1000)
    with pytest.raises(DatasetError, match=r"shape \(30, 28, 28\) would need .* GiB of memory"):
        load_dataset("mnist", tmp_path)


# --- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar_non_utf8_meta_names_the_file(tmp_path):
    batches, test = cifar_arrays(n_per_batch=10, n_test=10)
    d = write_cifar_binary(tmp_path / "bin", batches, test)
    (d / "batches.meta.txt").write_bytes(b"airplane\n\xff\xfe\x80car\n")
    with pytest.raises(DatasetError, match=r"batches.meta.txt: class names are not UTF-8 text"):
        load_dataset("cifar10", d)


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "options", "key", "message"), [
    ("moons", {"noise": float("inf")}, "noise",
     "option 'noise': expected a finite number in [0, 100], got inf"),
    ("moons", {"noise": float("nan")}, "noise",
     "option 'noise': expected a finite number in [0, 100], got nan"),
    ("circles", {"factor": 2.0}, "factor", "expected a finite number in [0, 1], got 2.0"),
    ("moons", {"n_samples": 10**9}, "n_samples", r"expected an integer in [1, 1,000,000]"),
    ("spiral", {"n_classes": 10**6}, "n_classes", "expected an integer in [1, 1,000]"),
    ("moons", {"n_samples": 100, "n_train": 90, "n_val": 20}, "n_train",
     "n_train = 90, n_val = 20 add up to more than n_samples = 100"),
    ("digits", {"n_train": 10**12}, "n_train", "expected an integer in [1, 1,000,000,000]"),
    ("digits", {"scale": ["unit"]}, "scale", "expected one of ['none', 'unit']"),
])
def test_bad_options_name_the_key(name, options, key, message):
    with pytest.raises(DatasetError) as info:
        check_dataset_options(name, options)
    assert message in str(info.value)
    assert info.value.key == key

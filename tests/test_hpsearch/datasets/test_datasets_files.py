"""hpsearch.datasets on files in the real formats: CIFAR-10, MNIST IDX, npz, CSV.

Every file is generated under tmp_path (nothing is downloaded), read back, then broken on purpose.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tracemalloc

import numpy as np
import pytest
from _dataset_files import (
    CIFAR_NAMES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    cifar_arrays,
    idx_bytes,
    py2_pickle,
    write_cifar_binary,
    write_cifar_python,
    write_mnist,
)

from hpsearch.datasets import DatasetError, load_dataset

RAW = {"scale": "none", "center": "none"}


def _all_rows(ds, split):
    return getattr(ds, f"X_{split}").reshape(len(getattr(ds, f"y_{split}")), -1)


# --- CIFAR-10 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cifar_small():
    return cifar_arrays(n_per_batch=40, n_test=30)


@pytest.mark.parametrize("style", ["py2", "py3"])
def test_cifar_python_roundtrip(tmp_path, cifar_small, style):
    batches, test = cifar_small
    root = write_cifar_python(tmp_path / "cifar-10-batches-py", batches, test, style=style)
    ds = load_dataset("cifar10", root, n_val=20, flatten=False, **RAW)
    assert ds.X_train.shape == (180, 3, 32, 32) and ds.input_shape == (3, 32, 32)
    assert ds.image_shape == (3, 32, 32) and ds.class_names == tuple(CIFAR_NAMES)
    assert ds.options["format"] == "python" and ds.options["n_test"] == 30
    # The test split is test_batch, in order; train and val together are the five batches.
    np.testing.assert_array_equal(_all_rows(ds, "test"), test[0])
    np.testing.assert_array_equal(ds.y_test, test[1])
    pool = np.concatenate([b[0] for b in batches])
    pool_labels = np.concatenate([b[1] for b in batches])
    got = np.concatenate([_all_rows(ds, "train"), _all_rows(ds, "val")])
    got_labels = np.concatenate([ds.y_train, ds.y_val])
    order = np.lexsort(got.T[::-1])
    expected = np.lexsort(pool.T[::-1])
    np.testing.assert_array_equal(got[order], pool[expected])
    np.testing.assert_array_equal(got_labels[order], pool_labels[expected])


def test_cifar_parent_directory_and_defaults(tmp_path, cifar_small):
    batches, test = cifar_small
    write_cifar_python(tmp_path / "cifar-10-batches-py", batches, test)
    ds = load_dataset("cifar10", str(tmp_path), n_val=10)
    assert ds.X_train.shape == (190, 3072) and ds.X_train.dtype == np.float32
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-5)  # mean image removed
    assert np.abs(ds.X_test).max() <= 1.0  # scaled by 1/255 before centering


def test_cifar_binary_matches_python(tmp_path, cifar_small):
    batches, test = cifar_small
    py = load_dataset("cifar10", write_cifar_python(tmp_path / "py", batches, test), n_val=20,
                      seed=3)
    binary = load_dataset("cifar10", write_cifar_binary(tmp_path / "bin", batches, test),
                          n_val=20, seed=3)
    assert binary.options["format"] == "binary" and binary.class_names == tuple(CIFAR_NAMES)
    np.testing.assert_array_equal(py.X_train, binary.X_train)
    np.testing.assert_array_equal(py.y_val, binary.y_val)
    assert py.fingerprint == binary.fingerprint  # same data, same preprocessing
    with pytest.raises(DatasetError, match="no binary-format batches"):
        load_dataset("cifar10", tmp_path / "py", format="binary")


def test_cifar_missing_directory_says_what_to_do(tmp_path):
    where = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", where)
    message = str(err.value)
    assert str(where) in message and "does not exist" in message
    assert "cifar-10-python.tar.gz" in message and "https://" in message
    assert '[dataset] path = "' in message
    with pytest.raises(DatasetError, match="no path was given"):
        load_dataset("cifar10")


def test_cifar_missing_batch_named(tmp_path, cifar_small):
    root = write_cifar_python(tmp_path / "c", *cifar_small)
    (root / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match=r"lacks \['data_batch_4'\]"):
        load_dataset("cifar10", root)


def test_cifar_truncated_batch_named(tmp_path, cifar_small):
    root = write_cifar_python(tmp_path / "c", *cifar_small)
    blob = (root / "data_batch_2").read_bytes()
    (root / "data_batch_2").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"data_batch_2: not a readable CIFAR-10 pickle.*"
                                           r"truncated or corrupted"):
        load_dataset("cifar10", root)


def test_cifar_binary_truncated_named(tmp_path, cifar_small):
    root = write_cifar_binary(tmp_path / "b", *cifar_small)
    blob = (root / "test_batch.bin").read_bytes()
    (root / "test_batch.bin").write_bytes(blob[:-100])
    with pytest.raises(DatasetError, match=r"test_batch.bin: .* not a whole number of 3073-byte"):
        load_dataset("cifar10", root)


def test_cifar_wrong_shapes_and_counts(tmp_path, cifar_small):
    batches, test = cifar_small
    root = write_cifar_python(tmp_path / "c", batches, test)
    data, labels = batches[0]
    (root / "data_batch_1").write_bytes(py2_pickle({b"data": data, b"labels": labels[:-3]}))
    with pytest.raises(DatasetError, match=r"data_batch_1: 40 images but 37 labels"):
        load_dataset("cifar10", root)
    (root / "data_batch_1").write_bytes(py2_pickle({b"data": data[:, :100], b"labels": labels}))
    with pytest.raises(DatasetError, match=r"data_batch_1: 'data' should be a uint8 array of "
                                           r"shape \(N, 3072\), found a uint8 array of shape"):
        load_dataset("cifar10", root)
    (root / "data_batch_1").write_bytes(py2_pickle({b"labels": labels}))
    with pytest.raises(DatasetError, match=r"missing keys \['data'\]"):
        load_dataset("cifar10", root)


def test_cifar_labels_out_of_range_counted(tmp_path, cifar_small):
    batches, test = cifar_small
    bad_labels = list(test[1])
    bad_labels[:4] = [10, 11, 12, -1]
    root = write_cifar_python(tmp_path / "c", batches, (test[0], bad_labels))
    with pytest.raises(DatasetError, match=r"test_batch: 4 of 30 labels are outside \[0, 10\) "
                                           r"\(smallest -1, largest 12\)"):
        load_dataset("cifar10", root)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_pickle_calling_os_system_is_refused(tmp_path, cifar_small):
    batches, test = cifar_small
    root = write_cifar_python(tmp_path / "c", batches, test)
    marker = tmp_path / "pwned"
    payload = {b"data": _Exploit(marker), b"labels": batches[2][1]}
    (root / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=2))
    assert b"system" in (root / "data_batch_3").read_bytes()
    with pytest.raises(DatasetError, match=r"data_batch_3: refused to load the global "
                                           r"(posix|os|nt)\.system"):
        load_dataset("cifar10", root)
    assert not marker.exists()
    # The same payload, unpickled without restriction, would have run the command.
    pickle.loads((root / "data_batch_3").read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("target", ["builtins eval", "subprocess Popen", "numpy load"])
def test_cifar_other_globals_refused(tmp_path, cifar_small, target):
    root = write_cifar_python(tmp_path / "c", *cifar_small)
    module, name = target.split()
    # Protocol-0 GLOBAL + REDUCE by hand: calls module.name("x").
    (root / "test_batch").write_bytes(f"c{module}\n{name}\n(S'x'\ntR.".encode())
    with pytest.raises(DatasetError, match=rf"test_batch: refused to load the global "
                                           rf"{module}\.{name}"):
        load_dataset("cifar10", root)


def test_cifar_memory_one_float32_copy(tmp_path):
    # 5 x 1000 training images + 1000 test: raw uint8 18 MB; float32 splits 74 MB; a float64
    # copy of the training set alone would add another 123 MB.
    batches, test = cifar_arrays(n_per_batch=1000, n_test=1000, seed=1)
    root = write_cifar_python(tmp_path / "c", batches, test)
    del batches, test
    raw_bytes = 6000 * 3072
    float32_bytes = 6000 * 3072 * 4
    tracemalloc.start()
    try:
        ds = load_dataset("cifar10", root, n_val=500, center="standardize")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ds.X_train.nbytes + ds.X_val.nbytes + ds.X_test.nbytes == float32_bytes
    slack = 8 << 20  # a batch read twice, bounded chunks; a float64 copy would be 135 MB
    assert peak < raw_bytes + float32_bytes + slack, (peak, raw_bytes + float32_bytes)


# --- MNIST / Fashion-MNIST --------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_roundtrip(tmp_path, gz):
    arrays = write_mnist(tmp_path, n_train=60, n_test=20, gz=gz)
    ds = load_dataset("mnist", tmp_path, n_val=10, flatten=False, **RAW)
    assert ds.X_train.shape == (50, 1, 28, 28) and ds.image_shape == (1, 28, 28)
    np.testing.assert_array_equal(ds.X_test[:, 0], arrays["t10k"][0])  # test from t10k, in order
    np.testing.assert_array_equal(ds.y_test, arrays["t10k"][1])
    pool = arrays["train"][0].reshape(60, -1)
    got = np.concatenate([_all_rows(ds, "train"), _all_rows(ds, "val")])
    np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(pool.astype(np.float32), axis=0))


def test_fashion_mnist_torchvision_layout_and_names(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw", n_train=30, n_test=10, size=12)
    ds = load_dataset("fashion_mnist", tmp_path, n_val=5)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.input_shape == (144,) and ds.image_shape == (1, 12, 12)


def test_mnist_dotted_names(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10, gz=False)
    for f in tmp_path.iterdir():
        f.rename(tmp_path / f.name.replace("-idx", ".idx"))
    assert len(load_dataset("mnist", tmp_path, n_val=5).y_test) == 10


def test_mnist_missing_directory_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path / "mnist")
    message = str(err.value)
    assert f"{tmp_path / 'mnist'} does not exist" in message
    assert "train-images-idx3-ubyte[.gz]" in message and '[dataset] path = "' in message


def test_mnist_missing_file_named(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"lacks \['t10k-labels-idx1-ubyte'\]"):
        load_dataset("mnist", tmp_path)


def test_mnist_wrong_magic(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    labels = tmp_path / "train-labels-idx1-ubyte"
    images.write_bytes(labels.read_bytes())  # a labels file where images belong
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: magic number 0x00000801, "
                                           r"expected 0x00000803"):
        load_dataset("mnist", tmp_path)


def test_mnist_truncated_plain_and_gzip(tmp_path):
    write_mnist(tmp_path / "plain", n_train=30, n_test=10, gz=False)
    f = tmp_path / "plain" / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-50])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: truncated: 7806 bytes, "
                                           r"expected 7856 for shape \(10, 28, 28\)"):
        load_dataset("mnist", tmp_path / "plain")
    write_mnist(tmp_path / "gz", n_train=30, n_test=10, gz=True)
    g = tmp_path / "gz" / "train-images-idx3-ubyte.gz"
    g.write_bytes(g.read_bytes()[:-30])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: cannot read it.*"
                                           r"truncated or corrupted"):
        load_dataset("mnist", tmp_path / "gz")


def test_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10)
    labels = np.zeros(29, dtype=np.uint8)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(labels, LABELS_MAGIC)))
    with pytest.raises(DatasetError, match=r"holds 30 images but .* holds 29 labels"):
        load_dataset("mnist", tmp_path)


def test_mnist_labels_out_of_range(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10)
    labels = np.full(10, 3, dtype=np.uint8)
    labels[[2, 5]] = 200
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(labels, LABELS_MAGIC)))
    with pytest.raises(DatasetError, match=r"2 of 10 labels are outside \[0, 10\)"):
        load_dataset("mnist", tmp_path)


def test_idx_magic_constants_match_format():
    assert idx_bytes(np.zeros((2, 3, 4), np.uint8), IMAGES_MAGIC)[:4] == b"\x00\x00\x08\x03"
    assert idx_bytes(np.zeros(2, np.uint8), LABELS_MAGIC)[:4] == b"\x00\x00\x08\x01"


# --- npz --------------------------------------------------------------------------------------

def test_npz_explicit_splits_used_as_given(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"X_{s}": rng.normal(size=(n, 5)) for s, n in (("train", 50), ("val", 7),
                                                                ("test", 9))}
    arrays |= {f"y_{s}": np.arange(len(arrays[f"X_{s}"])) % 3 for s in ("train", "val", "test")}
    np.savez(tmp_path / "f.npz", **arrays, class_names=np.array(["a", "b", "c"]))
    ds = load_dataset("npz", tmp_path / "f.npz", dtype="float64", **RAW)
    np.testing.assert_array_equal(ds.X_val, arrays["X_val"])
    np.testing.assert_array_equal(ds.X_test, arrays["X_test"])
    assert len(ds.y_train) == 50 and ds.class_names == ("a", "b", "c")
    assert ds.image_shape is None and ds.input_shape == (5,)
    small = load_dataset("npz", tmp_path / "f.npz", n_test=4, **RAW)
    assert len(small.y_test) == 4
    with pytest.raises(DatasetError, match=r"n_val = 8 but .* has only 7 examples"):
        load_dataset("npz", tmp_path / "f.npz", n_val=8)


def test_npz_images(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (40, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", X=X, y=np.arange(40) % 2)
    ds = load_dataset("npz", tmp_path / "img.npz", scale="unit", flatten=False)
    assert ds.image_shape == (1, 6, 6) and ds.X_train.shape[1:] == (1, 6, 6)
    assert ds.X_train.max() <= 1.0 and ds.num_classes == 2


def test_npz_label_problems_counted(tmp_path):
    X = np.zeros((20, 3))
    np.savez(tmp_path / "neg.npz", X=X, y=np.array([-1, -2] + [0, 1] * 9))
    with pytest.raises(DatasetError, match=r"2 of 20 labels are outside \[0, 2\)"):
        load_dataset("npz", tmp_path / "neg.npz")
    np.savez(tmp_path / "range.npz", X=X, y=np.arange(20) % 5)
    with pytest.raises(DatasetError, match=r"8 of 20 labels are outside \[0, 3\)"):
        load_dataset("npz", tmp_path / "range.npz", num_classes=3)
    y = (np.arange(20) % 2).astype(float)
    y[[1, 4, 9]] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, y=y)
    with pytest.raises(DatasetError, match=r"3 of 20 labels are NaN or infinite"):
        load_dataset("npz", tmp_path / "nan.npz")
    np.savez(tmp_path / "short.npz", X=X, y=np.arange(19) % 2)
    with pytest.raises(DatasetError, match=r"20 examples but 19 labels"):
        load_dataset("npz", tmp_path / "short.npz")


def test_npz_nan_features_counted(tmp_path):
    X = np.ones((100, 4))
    X[[3, 3, 50], [0, 1, 2]] = np.nan
    X[70, 0] = np.inf
    np.savez(tmp_path / "nan.npz", X_train=X, y_train=np.arange(100) % 2,
             X_val=np.ones((5, 4)), y_val=np.arange(5) % 2,
             X_test=np.ones((5, 4)), y_test=np.arange(5) % 2)
    with pytest.raises(DatasetError, match=r"4 NaN or infinite values in 3 of the 100 rows "
                                           r"drawn for train"):
        load_dataset("npz", tmp_path / "nan.npz")


def test_npz_refuses_object_arrays_and_garbage(tmp_path):
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}] * 4, dtype=object), y=np.arange(4))
    with pytest.raises(DatasetError, match=r"obj.npz: cannot read it as .npz.*pickle"):
        load_dataset("npz", tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match=r"junk.npz: cannot read it"):
        load_dataset("npz", tmp_path / "junk.npz")
    with pytest.raises(DatasetError, match=r"missing arrays \['X'\]"):
        np.savez(tmp_path / "keys.npz", features=np.zeros((4, 2)), y=np.arange(4))
        load_dataset("npz", tmp_path / "keys.npz")
    with pytest.raises(DatasetError, match=r"nope.npz is not a file.*np.savez"):
        load_dataset("npz", tmp_path / "nope.npz")


# --- csv --------------------------------------------------------------------------------------

def test_csv_single_file_with_string_labels(tmp_path):
    rows = [f"{i},{i * 0.5},{'cat' if i % 3 else 'dog'}" for i in range(60)]
    (tmp_path / "d.csv").write_text("a,b,species\n" + "\n".join(rows) + "\n")
    ds = load_dataset("csv", tmp_path / "d.csv", label_column="species", dtype="float64",
                      **RAW)
    assert ds.class_names == ("cat", "dog") and ds.num_classes == 2
    assert ds.input_shape == (2,)
    for split in ("train", "val", "test"):
        X, y = getattr(ds, f"X_{split}"), getattr(ds, f"y_{split}")
        np.testing.assert_array_equal(X[:, 1], X[:, 0] * 0.5)
        np.testing.assert_array_equal(y, (X[:, 0] % 3 == 0).astype(int))
    assert ds.options["label_column"] == "species"


def test_csv_directory_default_label_column(tmp_path):
    for split, n in (("train", 30), ("test", 8)):
        rows = [f"{i % 4},{i},{-i}" for i in range(n)]
        (tmp_path / f"{split}.csv").write_text("label,x1,x2\n" + "\n".join(rows) + "\n")
    ds = load_dataset("csv", tmp_path, n_val=6, **RAW)
    assert len(ds.y_test) == 8 and len(ds.y_val) == 6 and len(ds.y_train) == 24
    np.testing.assert_array_equal(ds.y_test, np.arange(8) % 4)
    np.testing.assert_array_equal(ds.X_test[:, 0], np.arange(8))
    # Without a header, the label is the last column by default.
    (tmp_path / "nohead.csv").write_text("\n".join(f"{i},{i % 2}" for i in range(20)))
    nohead = load_dataset("csv", tmp_path / "nohead.csv", header=False, **RAW)
    np.testing.assert_array_equal(nohead.y_train, nohead.X_train[:, 0].astype(int) % 2)


def test_csv_errors_name_line_and_value(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,label\n1,0\n2,1,7\n")
    with pytest.raises(DatasetError, match=r"ragged.csv: line 3 has 3 fields, expected 2"):
        load_dataset("csv", tmp_path / "ragged.csv")
    (tmp_path / "text.csv").write_text("a,label\n1,0\nabc,1\n")
    with pytest.raises(DatasetError, match=r"text.csv: line 3: 'abc' is not a number"):
        load_dataset("csv", tmp_path / "text.csv")
    (tmp_path / "col.csv").write_text("a,b\n1,0\n")
    with pytest.raises(DatasetError, match=r"no column 'target'; the header has \['a', 'b'\]"):
        load_dataset("csv", tmp_path / "col.csv", label_column="target")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DatasetError, match=r"empty_dir has no train.csv"):
        load_dataset("csv", tmp_path / "empty_dir")

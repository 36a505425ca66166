"""Tests for bnn_hw.datasets: shapes, dtypes, label ranges, IDX parsing and the missing-data error."""

import gzip
import os

import numpy as np
import pytest

from bnn_hw import BnnHwError
from bnn_hw import datasets

HAVE_FASHION = all(
    os.path.isfile(os.path.join(datasets.FASHION_MNIST_DIR, name))
    for pair in datasets._FASHION_FILES.values() for name in pair
)


def _write_idx(path, array, ndim=None, dtype_code=0x08, extra=b""):
    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim is None else ndim
    header = bytes([0, 0, dtype_code, ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes() + extra)


@pytest.mark.skipif(not HAVE_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_shapes(monkeypatch, split, n):
    monkeypatch.delenv(datasets.FASHION_MNIST_ENV, raising=False)
    images, labels = datasets.fashion_mnist(split)
    assert images.shape == (n, 784) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    assert np.bincount(labels).tolist() == [n // 10] * 10  # Fashion-MNIST is balanced
    assert images.max() == 255 and images.min() == 0


def test_fashion_mnist_missing_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path))
    with pytest.raises(BnnHwError) as info:
        datasets.fashion_mnist("test")
    message = str(info.value)
    assert "\n" not in message
    assert f"Fashion-MNIST not found in {tmp_path}" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert datasets.FASHION_MNIST_ENV in message


def test_fashion_mnist_env_folder(monkeypatch, tmp_path):
    """A folder named by the environment variable is read and checked like the system one."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10000, 28, 28), dtype=np.uint8)
    labels = np.arange(10000) % 10
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path))
    got_images, got_labels = datasets.fashion_mnist("test")
    assert np.array_equal(got_images, images.reshape(10000, 784))
    assert np.array_equal(got_labels, labels) and got_labels.dtype == np.int64


def test_fashion_mnist_bad_split():
    with pytest.raises(ValueError, match="split"):
        datasets.fashion_mnist("validation")


def test_read_idx_roundtrip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(datasets.read_idx(tmp_path / "a.gz", 3), array)


@pytest.mark.parametrize("kwargs,match", [
    ({"dtype_code": 0x0D}, "not unsigned byte"),
    ({"ndim": 2}, "dimensions"),
    ({"extra": b"\x00"}, "data bytes"),
])
def test_read_idx_rejects_malformed(tmp_path, kwargs, match):
    array = np.zeros((2, 3, 4), dtype=np.uint8)
    if kwargs.get("ndim") == 2:
        # Header claims 2 dimensions; the reader expects 3.
        _write_idx(tmp_path / "a.gz", array.reshape(6, 4))
    else:
        _write_idx(tmp_path / "a.gz", array, **kwargs)
    with pytest.raises(BnnHwError, match=match):
        datasets.read_idx(tmp_path / "a.gz", 3)


def test_read_idx_bad_magic(tmp_path):
    with gzip.open(tmp_path / "a.gz", "wb") as f:
        f.write(b"\x1f\x8b\x08\x03" + bytes(12))
    with pytest.raises(BnnHwError, match="magic"):
        datasets.read_idx(tmp_path / "a.gz", 3)


@pytest.mark.parametrize("split,n", [("train", 1437), ("test", 360)])
def test_digits_shapes(split, n):
    images, labels = datasets.digits(split)
    assert images.shape == (n, 64) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    assert images.min() == 0 and images.max() == 255


def test_digits_scaling_and_split():
    from sklearn.datasets import load_digits

    raw = load_digits()
    train, train_labels = datasets.digits("train")
    test, test_labels = datasets.digits("test")
    all_images = np.concatenate([train, test])
    assert np.array_equal(all_images, (raw.data.astype(np.int64) * 255 // 16).astype(np.uint8))
    assert np.array_equal(np.concatenate([train_labels, test_labels]), raw.target)

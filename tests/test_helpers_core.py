"""Seeding, paths and plotting helpers."""

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import helpers as h  # noqa: E402


def test_seed_everything_is_reproducible():
    a = h.seed_everything(3).standard_normal(5)
    legacy_a = np.random.rand(3)
    b = h.seed_everything(3).standard_normal(5)
    legacy_b = np.random.rand(3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(legacy_a, legacy_b)
    assert not np.allclose(a, h.seed_everything(4).standard_normal(5))


def test_seed_everything_seeds_torch():
    import torch

    h.seed_everything(11)
    x = torch.rand(4)
    h.seed_everything(11)
    torch.testing.assert_close(torch.rand(4), x, rtol=0, atol=0)


def test_seed_everything_rejects_non_integers():
    with pytest.raises(TypeError, match="seed must be an int"):
        h.seed_everything(0.5)


def test_paths_follow_the_environment(monkeypatch, tmp_path):
    assert (h.repo_root() / "helpers" / "__init__.py").exists()
    monkeypatch.setenv("VAE_COURSE_BUILD", str(tmp_path))
    monkeypatch.delenv("VAE_COURSE_CHECKPOINTS", raising=False)
    assert h.build_dir() == tmp_path
    assert h.checkpoint_dir() == tmp_path / "checkpoints"


def test_get_device_is_cpu_without_a_gpu():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert h.get_device().type == expected


def test_scatter_and_overlay_use_equal_axes_and_labels():
    ax = h.scatter(np.random.default_rng(0).standard_normal((50, 2)), title="t", xlabel="a", ylabel="b")
    assert ax.get_title() == "t" and ax.get_xlabel() == "a" and ax.get_ylabel() == "b"
    assert ax.get_aspect() == 1.0
    ax = h.overlay(np.zeros((5, 2)), np.ones((5, 2)))
    assert len(ax.collections) == 2 and ax.get_legend() is not None
    axes = h.side_by_side(np.zeros((5, 2)), np.ones((5, 2)), titles=("l", "r"))
    assert [a.get_title() for a in axes] == ["l", "r"]
    plt.close("all")


def test_scatter_rejects_wrong_shapes_with_a_clear_message():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        h.scatter(np.zeros((10, 3)))


def test_show_grid_tiles_images():
    imgs = np.zeros((10, 784))
    imgs[3, :] = 1.0
    ax = h.show_grid(imgs, nrow=4, titles=list(range(10)))
    canvas = ax.get_images()[0].get_array()
    assert canvas.shape == (3 * 30, 4 * 30)
    assert canvas[1:29, 3 * 30 + 1: 3 * 30 + 29].min() == 1.0  # image 3 sits in row 0, column 3
    plt.close("all")
    with pytest.raises(ValueError, match="square"):
        h.as_images(np.zeros((2, 10)))

"""Figures in one consistent style: 2-D scatters, overlays and image grids."""

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["scatter", "overlay", "side_by_side", "show_grid", "as_images"]

_POINT = dict(s=8, alpha=0.5, linewidths=0)


def _as_points(points, name: str) -> np.ndarray:
    """Return points as a float (N, 2) array or raise a message naming the fix."""
    arr = np.asarray(_to_numpy(points), dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {arr.shape}: one row per point, one column per coordinate")
    return arr


def _to_numpy(x):
    if hasattr(x, "detach"):  # a torch tensor
        return x.detach().cpu().numpy()
    return x


def _finish(ax, title: str, xlabel: str, ylabel: str, legend: bool):
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    shared = len(ax.get_shared_x_axes().get_siblings(ax)) > 1 or len(ax.get_shared_y_axes().get_siblings(ax)) > 1
    ax.set_aspect("equal", adjustable="box" if shared else "datalim")
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(loc="best", markerscale=2)
    return ax


def scatter(points, ax=None, title="", xlabel="$x_1$", ylabel="$x_2$", label=None, color="C0"):
    """Scatter (N, 2) points on equal axes; return the Axes."""
    pts = _as_points(points, "points")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(pts[:, 0], pts[:, 1], color=color, label=label, **_POINT)
    return _finish(ax, title, xlabel, ylabel, legend=label is not None)


def overlay(original, reconstructed, ax=None, title="Reconstruction over the data",
            labels=("data $x$", "reconstruction $x'$"), xlabel="$x_1$", ylabel="$x_2$"):
    """Draw reconstructed (N, 2) points over the original (N, 2) points; return the Axes."""
    orig = _as_points(original, "original")
    rec = _as_points(reconstructed, "reconstructed")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(orig[:, 0], orig[:, 1], color="C0", label=labels[0], **_POINT)
    ax.scatter(rec[:, 0], rec[:, 1], color="C1", label=labels[1], **_POINT)
    return _finish(ax, title, xlabel, ylabel, legend=True)


def side_by_side(left, right, titles=("left", "right"), xlabel="$z_1$", ylabel="$z_2$", suptitle=None):
    """Two (N, 2) scatters on shared, equal axes, so their spreads compare at a glance."""
    lpts, rpts = _as_points(left, "left"), _as_points(right, "right")
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), sharex=True, sharey=True)
    for ax, pts, title, color in zip(axes, (lpts, rpts), titles, ("C0", "C3")):
        ax.scatter(pts[:, 0], pts[:, 1], color=color, **_POINT)
        _finish(ax, title, xlabel, ylabel, legend=False)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return axes


def as_images(images) -> np.ndarray:
    """Return images as a float (B, 28, 28)-like array from (B, 784), (B, H, W) or (B, 1, H, W)."""
    arr = np.asarray(_to_numpy(images), dtype=float)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(f"cannot make square images from rows of length {arr.shape[1]}")
        arr = arr.reshape(len(arr), side, side)
    if arr.ndim != 3:
        raise ValueError(f"images must be (B, 784), (B, H, W) or (B, 1, H, W), got shape {arr.shape}")
    return arr


def show_grid(images, nrow=8, titles=None, ax=None, title=""):
    """Tile images (B, ...) into a grid with nrow per row, optional per-image titles; return the Axes."""
    imgs = as_images(images)
    n = len(imgs)
    if n == 0:
        raise ValueError("show_grid got no images")
    ncol = min(nrow, n)
    nrows = int(np.ceil(n / ncol))
    h, w = imgs.shape[1:]
    canvas = np.ones((nrows * (h + 2), ncol * (w + 2)))
    for k, img in enumerate(imgs):
        r, c = divmod(k, ncol)
        canvas[r * (h + 2) + 1: r * (h + 2) + 1 + h, c * (w + 2) + 1: c * (w + 2) + 1 + w] = img
    if ax is None:
        _, ax = plt.subplots(figsize=(0.9 * ncol + 0.5, 0.9 * nrows + 0.6))
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=max(1.0, float(imgs.max())), interpolation="nearest")
    if titles is not None:
        for k, t in enumerate(titles[:n]):
            r, c = divmod(k, ncol)
            ax.text(c * (w + 2) + 1 + w / 2, r * (h + 2) + 0.5, str(t), ha="center", va="bottom", fontsize=7, color="C3")
    ax.set_title(title)
    ax.axis("off")
    return ax

"""Figures for the MNIST VAEs. Each takes a dict {name: model} and draws the models side by side."""

from statistics import NormalDist

import matplotlib.pyplot as plt
import numpy as np

from .evaluate import encode_means
from .plotting import as_images, show_grid

__all__ = ["plot_history", "plot_hit_rates", "show_reconstructions", "show_generated", "show_interpolation",
           "plot_latent_scatter", "plot_latent_hist_qq", "latent_grid", "show_latent_grid"]


def _as_dict(models):
    return models if isinstance(models, dict) else {"model": models}


def plot_history(histories: dict):
    """Loss curves {name: history}: total loss, reconstruction and KL in three panels, train solid, val dashed."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, (name, hist) in enumerate(histories.items()):
        for ax, part, label in zip(axes, ("loss", "recon", "kl"), ("total loss", "reconstruction (SSE per image)", "KL (nats per image)")):
            epochs = np.arange(1, len(hist[f"train_{part}"]) + 1)
            ax.plot(epochs, hist[f"train_{part}"], color=f"C{i}", label=f"{name} train")
            ax.plot(epochs, hist[f"val_{part}"], color=f"C{i}", ls="--", label=f"{name} validation")
            ax.set_title(label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label.split(" (")[0])
            ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return axes


def plot_hit_rates(histories: dict, levels: dict | None = None, ylabel: str = "hit rate (fraction of 6s)"):
    """The hit rate recorded after every epoch (fit_vae's monitor) for {label: history}, one line each,
    with the epoch that early stopping kept marked by a dot; levels {label: value} are horizontal lines."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for i, (label, hist) in enumerate(histories.items()):
        values = hist.get("monitor")
        if not values:
            ax.plot([], [], color=f"C{i}", label=f"{label} (no per-epoch record in this checkpoint)")
            continue
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, color=f"C{i}", label=label)
        best = hist["best_epoch"]
        ax.plot([best + 1], [values[best]], "o", color=f"C{i}")
    for j, (label, value) in enumerate((levels or {}).items()):
        ax.axhline(value, color="0.4", ls=["--", ":", "-."][j % 3], lw=1, label=label)
    ax.set_xlabel("epoch of fine-tuning (dot: the epoch early stopping kept)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return ax


def show_reconstructions(models, x, n: int = 10):
    """The first n images x (n, 784) in the top row, each model's reconstruction (decoding mu) below."""
    models = _as_dict(models)
    rows = [x[:n]]
    for model in models.values():
        mu, _ = encode_means(model, x[:n])
        rows.append(model.decode(mu))
    titles = ["input"] + [f"{name}" for name in models]
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.9 * n, 1.05 * len(rows) + 0.3))
    for ax, imgs, title in zip(np.atleast_1d(axes), rows, titles):
        show_grid(imgs, nrow=n, ax=ax, title=title)
    fig.suptitle("Held-out images (top) and their reconstructions")
    fig.tight_layout()
    return axes


def show_generated(models_and_z: dict, nrow: int = 10, n: int = 30, classifier=None):
    """Decode {title: (model, z (N, D))} side by side; with a classifier, label each digit with its prediction
    and the classifier's confidence (its softmax probability for that digit, in percent).

    Each digit is drawn about 0.8 inches wide, and the classifier's reading sits in a band above it in
    10-point bold type, so the labels stay readable in a static copy and in feedback.
    """
    import torch

    with torch.no_grad():
        k = len(models_and_z)
        rows = int(np.ceil(n / nrow))
        fig, axes = plt.subplots(1, k, figsize=(0.8 * nrow * k + 0.5, 0.95 * rows + 0.8))
        for ax, (title, (model, z)) in zip(np.atleast_1d(axes), models_and_z.items()):
            model.eval()
            images = model.decode(z[:n])
            titles = None
            if classifier is not None:
                prob, digit = torch.softmax(classifier(images), dim=1).max(dim=1)
                titles = [f"{d} {100 * p:.0f}%" for d, p in zip(digit.tolist(), prob.tolist())]
            if titles is None:
                show_grid(images, nrow=nrow, ax=ax, title=title)
            else:
                _labelled_grid(ax, images, titles, nrow, title)
        fig.tight_layout()
        return axes


def _labelled_grid(ax, images, labels, nrow: int, title: str, band: int = 11):
    """Tile images with a white band of `band` pixels above each row, holding each image's label in bold red."""
    imgs = as_images(images)
    side = imgs.shape[1]
    ncol = min(nrow, len(imgs))
    rows = int(np.ceil(len(imgs) / ncol))
    cell_h, cell_w = side + band, side + 2
    canvas = np.zeros((rows * cell_h, ncol * cell_w))
    for k, img in enumerate(imgs):
        r, c = divmod(k, ncol)
        canvas[r * cell_h + band: (r + 1) * cell_h, c * cell_w + 1: c * cell_w + 1 + side] = img
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=max(1.0, float(imgs.max())), interpolation="nearest")
    for k, label in enumerate(labels[:len(imgs)]):
        r, c = divmod(k, ncol)
        ax.text(c * cell_w + cell_w / 2, r * cell_h + band - 1, str(label), ha="center", va="bottom",
                fontsize=10, fontweight="bold", color="C3")
    ax.set_title(title)
    ax.axis("off")
    return ax


def show_interpolation(models, x_a, x_b, steps: int = 10):
    """Decode the straight line between the latent means of images x_a and x_b (784,), one row per model."""
    import torch

    with torch.no_grad():
        models = _as_dict(models)
        fig, axes = plt.subplots(len(models), 1, figsize=(0.9 * steps, 1.1 * len(models) + 0.4))
        t = torch.linspace(0, 1, steps)[:, None]
        for ax, (name, model) in zip(np.atleast_1d(axes), models.items()):
            mu, _ = encode_means(model, torch.stack([x_a, x_b]))
            z = (1 - t) * mu[0] + t * mu[1]
            show_grid(model.decode(z), nrow=steps, ax=ax, title=f"{name}: $z = (1-t)\\,\\mu_a + t\\,\\mu_b$, t from 0 to 1")
        fig.tight_layout()
        return axes


def plot_latent_scatter(models, x, labels, dims=(0, 1), extra=None):
    """Scatter the latent means of x (N, 784) in dimensions dims, coloured by digit, one panel per model.

    extra: optional {name: (points (M, D), label)} drawn on the panel of the same name (e.g. prior samples).
    """
    models = _as_dict(models)
    # shared axes: "the cloud moved" or "shrank" reads off the panels, not off their tick labels
    fig, axes = plt.subplots(1, len(models), figsize=(4.8 * len(models) + 1.0, 4.4), squeeze=False,
                             sharex=True, sharey=True)
    for ax, (name, model) in zip(axes[0], models.items()):
        mu, _ = encode_means(model, x)
        pts = mu[:, list(dims)].numpy()
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=labels.numpy(), cmap="tab10", vmin=-0.5, vmax=9.5, s=6, alpha=0.7,
                        linewidths=0)
        if extra and name in extra:
            z, label = extra[name]
            z = z[:, list(dims)].numpy()
            ax.scatter(z[:, 0], z[:, 1], marker="x", s=8, color="k", alpha=0.4, label=label)
            ax.legend(loc="best", fontsize=8)
        ax.set_title(f"{name}: latent means")
        ax.set_xlabel(f"$z_{dims[0] + 1}$")
        ax.set_ylabel(f"$z_{dims[1] + 1}$")
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelleft=True)
    fig.colorbar(sc, ax=axes[0].tolist(), ticks=range(10), label="digit")
    return axes[0]


def plot_latent_hist_qq(models, x, dim: int = 0):
    """Histogram (with the N(0, 1) density) and normal Q-Q plot of latent dimension dim, one row per model."""
    models = _as_dict(models)
    fig, axes = plt.subplots(len(models), 2, figsize=(9, 3.4 * len(models)), squeeze=False)
    for (ax_h, ax_q), (name, model) in zip(axes, models.items()):
        mu, _ = encode_means(model, x)
        v = np.sort(mu[:, dim].numpy())
        grid = np.linspace(min(v.min(), -3.5), max(v.max(), 3.5), 200)
        ax_h.hist(v, bins=40, density=True, alpha=0.6, label=f"$\\mu_{{{dim + 1}}}$ of held-out images")
        ax_h.plot(grid, np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), "k--", label="N(0, 1)")
        ax_h.set_title(f"{name}: histogram of latent dimension {dim + 1}")
        ax_h.set_xlabel(f"$\\mu_{{{dim + 1}}}$")
        ax_h.set_ylabel("density")
        ax_h.legend(fontsize=8)
        probs = (np.arange(1, len(v) + 1) - 0.5) / len(v)
        theory = np.array([NormalDist().inv_cdf(p) for p in probs])
        ax_q.scatter(theory, v, s=5, alpha=0.6)
        lim = [min(theory.min(), v.min()), max(theory.max(), v.max())]
        ax_q.plot(lim, lim, "k--", lw=1, label="y = x (standard normal)")
        ax_q.set_title(f"{name}: normal Q-Q plot, dimension {dim + 1}")
        ax_q.set_xlabel("N(0, 1) quantile")
        ax_q.set_ylabel("sample quantile")
        ax_q.legend(fontsize=8)
        for ax in (ax_h, ax_q):
            ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return axes


def latent_grid(model, z_range: float = 3.0, n: int = 15):
    """Decode an n x n lattice of 2-D latent points in [-z_range, z_range]^2; return (z (n*n, 2), images (n*n, 784)).

    Row r, column c of the lattice is z = (values[c], values[n - 1 - r]) with values = linspace(-z_range, z_range, n),
    so z_2 grows upwards as on a plot. The model's latent space must be 2-D.
    """
    import torch

    if getattr(model, "latent_dim", 2) != 2:
        raise ValueError(f"latent_grid draws a 2-D latent space; this model has latent_dim = {model.latent_dim}")
    values = torch.linspace(-z_range, z_range, n)
    z = torch.stack([values.repeat(n), values.flip(0).repeat_interleave(n)], dim=1)
    with torch.no_grad():
        model.eval()
        return z, model.decode(z).reshape(n * n, -1)


def show_latent_grid(model, z_range: float = 3.0, n: int = 15, ax=None):
    """The static twin of h.latent_explorer: decode an n x n lattice of z in [-z_range, z_range]^2 into one image."""
    _, images = latent_grid(model, z_range, n)
    imgs = as_images(images)
    side = imgs.shape[1]
    canvas = imgs.reshape(n, n, side, side).transpose(0, 2, 1, 3).reshape(n * side, n * side)
    step = 2 * z_range / (n - 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest",
              extent=(-z_range - step / 2, z_range + step / 2, -z_range - step / 2, z_range + step / 2))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(f"decode(z) on a {n} x {n} grid of the 2-D latent space")
    return ax

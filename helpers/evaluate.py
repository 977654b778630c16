"""Measuring VAEs: latent codes, generated digits judged by the reference classifier, metrics files.

Sampling from a prior to *generate* digits lives here; the KL terms you are graded on do not.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .config import CONFIG

__all__ = ["encode_means", "classify", "accuracy", "generated_digits", "hit_rate", "hit_rates_by_component",
           "sample_standard_normal", "sample_diag_gaussian", "fit_gmm", "sample_gmm", "measure_vae",
           "record_metrics", "print_metrics"]


def encode_means(model, x):
    """The encoder's means mu (N, D) and log-variances (N, D) for images x (N, 784)."""
    import torch

    with torch.no_grad():
        model.eval()
        return model.encode(x)


def classify(classifier, x):
    """The classifier's predicted digit (N,) for images x (N, 784)."""
    import torch

    with torch.no_grad():
        classifier.eval()
        return classifier(x).argmax(dim=1)


def accuracy(classifier, x, labels) -> float:
    """Fraction of images x (N, 784) that the classifier labels correctly."""
    return float((classify(classifier, x) == labels).float().mean())


def generated_digits(model, classifier, z):
    """Decode latent points z (N, D) and return (images (N, 784), predicted digits (N,))."""
    import torch

    with torch.no_grad():
        model.eval()
        images = model.decode(z)
        return images, classify(classifier, images)


def hit_rate(model, classifier, z, targets=CONFIG.expert_goals) -> float:
    """Fraction of the digits decoded from z (N, D) that the classifier labels as one of `targets`."""
    import torch

    _, digits = generated_digits(model, classifier, z)
    return float(torch.isin(digits, torch.as_tensor(list(targets))).float().mean())


def hit_rates_by_component(model, classifier, z, components, targets=CONFIG.expert_goals) -> list:
    """Hit rate of the digits decoded from z (N, D), separately for each mixture component (N,) index."""
    import torch

    _, digits = generated_digits(model, classifier, z)
    hits = torch.isin(digits, torch.as_tensor(list(targets))).float()
    k_max = int(components.max()) + 1
    return [float(hits[components == k].mean()) if (components == k).any() else float("nan") for k in range(k_max)]


def sample_standard_normal(n: int, dim: int, seed: int = 0):
    """n points (n, dim) from N(0, I), from a private seeded generator."""
    import torch

    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def sample_diag_gaussian(n: int, mean, var, seed: int = 0):
    """n points (n, D) from N(mean (D,), diag(var (D,)))."""
    import torch

    mean, var = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(var, dtype=torch.float32)
    eps = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed))
    return mean + var.sqrt() * eps


def fit_gmm(z, n_components: int = CONFIG.gmm_n_components, covariance_type: str = CONFIG.gmm_covariance_type,
            seed: int = 0):
    """Fit a Gaussian mixture to points z (N, D) with scikit-learn's EM, as the seed project does.

    Returns (weights (K,), means (K, D), covs (K, D, D)) as float32 tensors.
    """
    import torch
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components=n_components, covariance_type=covariance_type, random_state=seed,
                          reg_covar=1e-4, n_init=2)
    gmm.fit(np.asarray(torch.as_tensor(z).detach().double()))
    if covariance_type != "full":
        raise ValueError("the course uses covariance_type='full' so that covs is (K, D, D)")
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return as_t(gmm.weights_), as_t(gmm.means_), as_t(gmm.covariances_)


def sample_gmm(n: int, weights, means, covs, seed: int = 0):
    """n points from the mixture sum_k weights[k] N(means[k], covs[k]); returns (z (n, D), component (n,))."""
    import torch

    g = torch.Generator().manual_seed(seed)
    weights, means, covs = (torch.as_tensor(t, dtype=torch.float32) for t in (weights, means, covs))
    comp = torch.multinomial(weights, n, replacement=True, generator=g)
    eps = torch.randn(n, means.shape[1], generator=g)
    chol = torch.linalg.cholesky(covs)  # (K, D, D), covs[k] = L L^T
    z = means[comp] + torch.einsum("nij,nj->ni", chol[comp], eps)
    return z, comp


def measure_vae(model, data, loss_fn, classifier, goal_z, targets=CONFIG.expert_goals, seed: int = 0) -> dict:
    """The assignment's numbers for one model on held-out images, as plain floats.

    recon, kl: loss_fn's batch means on data.x_test (decoding z = mu);
    recon_accuracy: the classifier's accuracy on those reconstructions;
    hit_rate_prior: hit rate of CONFIG.n_generated digits decoded from N(0, I);
    hit_rate_goal_prior: hit rate of the digits decoded from goal_z (N, D), samples of the goal or GMM prior.
    """
    import torch

    from .training import evaluate_vae

    torch.manual_seed(seed)  # loss_fn may sample (a Monte Carlo KL)
    ev = evaluate_vae(model, data.x_test, data.y_test, loss_fn)
    mu, _ = encode_means(model, data.x_test)
    recon_images, recon_digits = generated_digits(model, classifier, mu)
    z0 = sample_standard_normal(CONFIG.n_generated, model.latent_dim, seed=seed)
    return {
        "recon": ev["recon"],
        "kl": ev["kl"],
        "recon_accuracy": float((recon_digits == data.y_test).float().mean()),
        "hit_rate_prior": hit_rate(model, classifier, z0, targets),
        "hit_rate_goal_prior": hit_rate(model, classifier, goal_z, targets),
    }


def record_metrics(name: str, metrics: dict) -> dict:
    """Write metrics to $VAE_COURSE_METRICS_DIR/<name>.json when that variable is set; return them either way."""
    clean = {k: (float(v) if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) else v)
             for k, v in metrics.items()}
    folder = os.environ.get("VAE_COURSE_METRICS_DIR")
    if folder:
        path = Path(folder) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(clean, f, indent=2, sort_keys=True)
        os.replace(tmp, path)
    return clean


def print_metrics(rows: dict, classifier_accuracy=None):
    """Print {model name: metrics dict} as one aligned table (the keys of measure_vae as columns)."""
    cols = ["recon", "kl", "recon_accuracy", "hit_rate_prior", "hit_rate_goal_prior"]
    if classifier_accuracy is not None:
        print(f"reference classifier, held-out accuracy: {classifier_accuracy:.3f}\n")
    print(f"{'model':<16}" + "".join(f"{c:>21}" for c in cols))
    for name, m in rows.items():
        print(f"{name:<16}" + "".join(f"{m[c]:>21.3f}" for c in cols))

"""Measuring VAEs: latent codes, generated digits judged by the reference classifier, metrics files.

Sampling from a prior to *generate* digits lives here; the KL terms you are graded on do not.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .config import CONFIG

__all__ = ["encode_means", "classify", "accuracy", "confidence", "in_shifted_coordinates", "generated_digits", "hit_rate", "hit_rates_by_component",
           "sample_standard_normal", "sample_diag_gaussian", "fit_gmm", "sample_gmm", "measure_vae",
           "record_metrics", "print_metrics", "training_summary", "aggregate_seeds", "seed_metrics",
           "print_seed_table", "seed_difference"]

METRIC_COLUMNS = ["recon", "kl", "recon_accuracy", "hit_rate_prior", "hit_rate_goal_prior"]


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

    loss, recon, kl: loss_fn's batch means on data.x_test (decoding z = mu);
    recon_accuracy: the classifier's accuracy on those reconstructions;
    hit_rate_prior: hit rate of CONFIG.n_generated digits decoded from N(0, I);
    hit_rate_goal_prior: hit rate of the digits decoded from goal_z (N, D), samples of the goal or GMM prior;
    confidence_prior: the classifier's mean softmax probability for the digit it reads, over the N(0, I) samples
    (how recognisable the samples are; about 0.97 for real held-out digits).
    """
    import torch

    from .training import evaluate_vae

    torch.manual_seed(seed)  # loss_fn may sample (a Monte Carlo KL)
    ev = evaluate_vae(model, data.x_test, data.y_test, loss_fn)
    mu, _ = encode_means(model, data.x_test)
    recon_images, recon_digits = generated_digits(model, classifier, mu)
    z0 = sample_standard_normal(CONFIG.n_generated, model.latent_dim, seed=seed)
    return {
        "loss": ev["loss"],
        "recon": ev["recon"],
        "kl": ev["kl"],
        "recon_accuracy": float((recon_digits == data.y_test).float().mean()),
        "hit_rate_prior": hit_rate(model, classifier, z0, targets),
        "hit_rate_goal_prior": hit_rate(model, classifier, goal_z, targets),
        "confidence_prior": confidence(model, classifier, z0),
    }


def confidence(model, classifier, z) -> float:
    """The classifier's mean softmax probability for the digit it reads in each image decoded from z (N, D)."""
    import torch

    with torch.no_grad():
        model.eval()
        classifier.eval()
        return float(torch.softmax(classifier(model.decode(z)), dim=1).max(dim=1).values.mean())


def training_summary(history: dict) -> dict:
    """How a model was trained, from its history: epochs run, best_epoch (1-based), max_epochs, stopped_early."""
    return {"epochs": int(history["epochs"]), "best_epoch": int(history["best_epoch"]) + 1,
            "max_epochs": int(history["max_epochs"]), "stopped_early": bool(history["stopped_early"])}


def record_metrics(name: str, metrics: dict, history: dict | None = None) -> dict:
    """Write metrics (and, given the model's training history, its training_summary) to
    $VAE_COURSE_METRICS_DIR/<name>.json when that variable is set; return them either way."""
    metrics = dict(metrics, **(training_summary(history) if history is not None else {}))
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


def aggregate_seeds(per_seed: dict) -> dict:
    """{seed: {model: metrics}} -> {model: {metric: {"mean", "se", "values"}}} over the seeds that have the model.

    se is the standard error of the mean, sample std / sqrt(n) (None for a single seed). Training summaries
    keep their values; best_epoch and epochs get a mean too, max_epochs stays a number.
    """
    import math

    models: dict = {}
    for seed in sorted(per_seed):
        for name, metrics in per_seed[seed].items():
            models.setdefault(name, {}).setdefault("_seeds", []).append(seed)
            for key, value in metrics.items():
                models[name].setdefault(key, []).append(value)
    out = {}
    for name, cols in models.items():
        row = {"seeds": cols.pop("_seeds")}
        for key, values in cols.items():
            if key == "max_epochs":
                row[key] = max(values)
            elif key == "stopped_early":
                row[key] = values
            else:
                n = len(values)
                mean = sum(values) / n
                se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else None
                row[key] = {"mean": mean, "se": se, "values": values}
        out[name] = row
    return out


def _reference_file():
    # always the course's own table, also when VAE_COURSE_SHIPPED_CHECKPOINTS hides its checkpoints
    return Path(__file__).resolve().parent / "checkpoints" / "metrics.json"


def seed_metrics(path=None) -> dict:
    """The course's models measured over several seeds (make reference writes it; make course checks it):
    {"seeds": [...], "classifier_accuracy": float, "models": {name: {metric: {"mean", "se", "values"}}}}."""
    path = Path(path) if path is not None else _reference_file()
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it comes with the course (run `make reference` to rebuild it)")
    return json.loads(path.read_text())


def seed_difference(models: dict, a: str, b: str, metric: str) -> tuple:
    """(mean, standard error) over seeds of the paired difference metric[a] - metric[b] (same seeds)."""
    import math

    va, vb = models[a][metric]["values"], models[b][metric]["values"]
    if len(va) != len(vb) or models[a]["seeds"] != models[b]["seeds"]:
        raise ValueError(f"{a} and {b} were not measured on the same seeds")
    d = [x - y for x, y in zip(va, vb)]
    mean = sum(d) / len(d)
    se = math.sqrt(sum((v - mean) ** 2 for v in d) / (len(d) - 1) / len(d)) if len(d) > 1 else float("nan")
    return mean, se


def print_seed_table(names, reference: dict | None = None):
    """Print mean ± standard error over seeds for the named models (the course's converged models)."""
    reference = reference if reference is not None else seed_metrics()
    models = reference["models"]
    seeds = reference["seeds"]
    print(f"the course's models, converged, mean ± standard error over {len(seeds)} seeds {tuple(seeds)}:")
    print(f"{'model':<16}" + "".join(f"{c:>21}" for c in METRIC_COLUMNS) + f"{'best / ran / max epochs':>26}")
    for name in names:
        m = models[name]
        cells = "".join(f"{m[c]['mean']:>13.3f} ± {m[c]['se']:<5.3f}" for c in METRIC_COLUMNS)
        epochs = f"{m['best_epoch']['mean']:.0f} / {m['epochs']['mean']:.0f} / {m['max_epochs']}"
        print(f"{name:<16}{cells}{epochs:>26}")


def in_shifted_coordinates(model, mu_p, var_p):
    """A copy of a VAE that works in the coordinates z' = mu_p + sigma_p * z (per dimension).

    Its encoder's last layer outputs mu' = mu_p + sigma_p * mu and log sigma'^2 = log sigma^2 + log var_p; its
    decoder's first layer maps z' back to z = (z' - mu_p) / sigma_p. Both layers are affine, so only their
    weights change: the copy decodes mu_p + sigma_p * z exactly as the model decodes z, and its KL to
    N(mu_p, diag var_p) equals the model's KL to N(0, I). Works for h.ConvVAE and h.MlpVAE (the encoder's
    last module and the decoder's first are nn.Linear).
    """
    import copy

    import torch

    new = copy.deepcopy(model)
    enc, dec = new.encoder[-1], new.decoder[0]
    if not (isinstance(enc, torch.nn.Linear) and isinstance(dec, torch.nn.Linear)):
        raise TypeError("in_shifted_coordinates needs a VAE whose encoder ends and whose decoder starts with nn.Linear")
    d = new.latent_dim
    mu_p = torch.as_tensor(mu_p, dtype=enc.weight.dtype)
    var_p = torch.as_tensor(var_p, dtype=enc.weight.dtype)
    sigma_p = var_p.sqrt()
    with torch.no_grad():
        enc.weight[:d] *= sigma_p[:, None]                  # mu' = sigma_p * (W h + b) + mu_p
        enc.bias[:d] = sigma_p * enc.bias[:d] + mu_p
        enc.bias[d:] += torch.log(var_p)                   # log sigma'^2 = log sigma^2 + log var_p
        dec.bias -= dec.weight @ (mu_p / sigma_p)          # W z + b with z = (z' - mu_p) / sigma_p
        dec.weight /= sigma_p[None, :]
    new.eval()
    return new

"""Which MNIST network: the measurement behind h.CONFIG's architecture (README, "Choosing the MNIST network").

Trains each candidate network as the course trains its base VAE (h.train_vae: Adam, ReduceLROnPlateau,
early stopping after CONFIG.patience epochs; beta = 0.35, d = 4, summed squared error) for every seed of
CONFIG.seeds, two runs at a time, and reports on the 1,000 held-out images: the reconstruction error, the
KL, recon_accuracy (the reference classifier's accuracy on the reconstructions) and the epochs.

    .venv/bin/python scripts/choose_network.py        -> build/choose_network.json and a table
"""

from __future__ import annotations

import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from grading import course_dir as ct

CANDIDATES = {
    "conv 32-64-256 (the project's widths)": dict(architecture="conv", channels=(32, 64), hidden_dim=256),
    "conv 16-32-128": dict(architecture="conv", channels=(16, 32), hidden_dim=128),
    "conv 16-32-64 (the course's)": dict(architecture="conv", channels=(16, 32), hidden_dim=64),
    "mlp 400": dict(architecture="mlp", hidden_dim=400),
    # the project's constants, changed one at a time: what limits the accuracy on reconstructions
    "conv 16-32-64, d = 8": dict(architecture="conv", channels=(16, 32), hidden_dim=64, latent_dim=8),
    "conv 16-32-64, beta = 0.1": dict(architecture="conv", channels=(16, 32), hidden_dim=64, beta_base=0.1),
}


def run(name: str, seed: int) -> dict:
    import torch

    import helpers as h

    torch.set_num_threads(1)
    spec = CANDIDATES[name]
    config = replace(h.CONFIG, seed=seed, **spec)   # latent_dim and beta_base, where given, replace the project's

    def reparameterize(mu, log_var):
        return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)

    def loss_fn(x, x_hat, mu, log_var, labels):
        recon = ((x - x_hat) ** 2).sum(dim=1).mean()
        kl = (-0.5 * (1 + log_var - mu ** 2 - log_var.exp()).sum(dim=1)).mean()
        return recon + config.beta_base * kl, recon, kl

    data = h.load_mnist()
    clf = h.train_classifier(data)
    model = h.make_vae(config.latent_dim, hidden_dim=spec["hidden_dim"], architecture=spec["architecture"],
                       channels=spec.get("channels", config.channels))
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    start = time.perf_counter()
    history = h.train_vae(model, data, loss_fn, reparameterize, max_epochs=config.max_epochs, config=config)
    seconds = time.perf_counter() - start
    m = h.measure_vae(model, data, loss_fn, clf, h.sample_standard_normal(10, config.latent_dim))
    return {"name": name, "seed": seed, "recon": m["recon"], "kl": m["kl"], "recon_accuracy": m["recon_accuracy"],
            "best_epoch": history["best_epoch"] + 1, "epochs": history["epochs"],
            "stopped_early": history["stopped_early"], "seconds_per_epoch": seconds / history["epochs"],
            "parameters": sum(p.numel() for p in model.parameters())}


def main() -> int:
    import argparse

    import helpers as h

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--only", default="", help="run only the candidates whose name contains this text")
    args = parser.parse_args()
    h.train_classifier(h.load_mnist())   # once, before the workers need it
    names = [name for name in CANDIDATES if args.only in name]
    jobs = [(name, seed) for seed in h.CONFIG.seeds for name in names]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(pool.map(run, *zip(*jobs)))
    out = ct.BUILD / "choose_network.json"
    out.parent.mkdir(exist_ok=True)
    if args.only and out.exists():   # keep the other candidates' rows of an earlier run
        rows = [r for r in json.loads(out.read_text()) if r["name"] not in names] + rows
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'network':<40}{'parameters':>11}{'recon':>16}{'recon_accuracy':>18}{'best / ran epochs':>20}{'s/epoch':>9}")
    for name in CANDIDATES:
        r = [row for row in rows if row["name"] == name]
        n = len(r)
        if n < 2:
            continue

        def stat(key):
            v = [row[key] for row in r]
            mean = sum(v) / n
            return mean, math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1) / n)

        (rec, rec_se), (acc, acc_se) = stat("recon"), stat("recon_accuracy")
        epochs = " ".join(f"{row['best_epoch']}/{row['epochs']}" for row in r)
        print(f"{name:<40}{r[0]['parameters']:>11,}{rec:>10.2f} ± {rec_se:<4.2f}{acc:>12.3f} ± {acc_se:<5.3f}"
              f"{epochs:>20}{sum(row['seconds_per_epoch'] for row in r) / n:>9.2f}")
    print(f"(mean ± standard error over seeds {h.CONFIG.seeds}; one thread per run) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The README's MNIST results table, rendered from helpers/checkpoints/metrics.json (the seed table).

    .venv/bin/python scripts/results_table.py     prints the markdown that README.md holds between
                                                   <!-- mnist-results:begin --> and <!-- mnist-results:end -->
tests/test_reference_models.py checks that README.md holds exactly this, so the README cannot drift
from the numbers `make course` recomputes.
"""

from __future__ import annotations

import sys

ROWS = [  # (row label, model in the table, which prior its hit_rate_goal_prior column samples)
    ("base", "base", "goal"),
    ("base_more (base fine-tuned again with its own loss)", "base_more", "goal"),
    ("beta075 (base fine-tuned with β = 0.75, prior N(0, I))", "beta075", "goal"),
    ("goal", "goal", "goal"),
    ("goal_labelled", "goal_labelled", "goal"),
    ("goal_separated", "goal_separated", "separated goal"),
    ("base", "base_mixture", "mixture"),
    ("base_more", "base_more_mixture", "mixture"),
    ("beta075", "beta075_mixture", "mixture"),
    ("gmm", "gmm", "mixture"),
    ("gmm_labelled", "gmm_labelled", "mixture"),
    ("gmm_separated", "gmm_separated", "separated mixture"),
    ("base d = 2", "base2d", "its own goal"),
]


def cell(m: dict, key: str, digits: int) -> str:
    return f"{m[key]['mean']:.{digits}f} ± {m[key]['se']:.{digits}f}"


def render(table: dict) -> str:
    models = table["models"]
    lines = ["| model | recon (SSE per image) | KL | accuracy on reconstructions | hit rate, z ~ N(0, I) "
             "| hit rate, z ~ the notebook's prior | prior sampled | best / ran epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for label, name, prior in ROWS:
        m = models[name]
        epochs = " ".join(f"{b:.0f}/{e:.0f}" for b, e in zip(m["best_epoch"]["values"], m["epochs"]["values"]))
        lines.append(f"| {label} | {cell(m, 'recon', 1)} | {cell(m, 'kl', 2)} | {cell(m, 'recon_accuracy', 3)} "
                     f"| {cell(m, 'hit_rate_prior', 3)} | {cell(m, 'hit_rate_goal_prior', 3)} | {prior} | {epochs} |")
    return "\n".join(lines)


def main() -> int:
    import helpers as h

    print(render(h.seed_metrics()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

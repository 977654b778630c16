"""The MNIST notebooks' seed table: every seed's metrics merged, and compared with the shipped one.

make course and make reference run the MNIST notebooks once per seed; each run writes one JSON file per model
into build/metrics_parts/seed<k>/ (helpers' VAE_COURSE_METRICS_DIR). seed_table() merges them into the table
that helpers/checkpoints/metrics.json ships, and table_differences() says where two tables disagree.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def read_seed_parts(parts: Path) -> tuple[dict, float | None]:
    """build/metrics_parts/seed<k>/<model>.json -> ({seed: {model: metrics}}, classifier accuracy)."""
    per_seed, accuracy = {}, None
    for folder in sorted(parts.glob("seed*")):
        seed = int(folder.name[len("seed"):])
        for f in sorted(folder.glob("*.json")):
            data = json.loads(f.read_text())
            if f.stem == "classifier":
                accuracy = data["accuracy"]
            else:
                per_seed.setdefault(seed, {})[f.stem] = data
    return per_seed, accuracy


def seed_table(parts: Path) -> dict | None:
    """The metrics of every seed's run merged into {"seeds", "classifier_accuracy", "models"}."""
    import helpers as h

    per_seed, accuracy = read_seed_parts(parts)
    if not per_seed:
        return None
    return {"seeds": sorted(per_seed), "classifier_accuracy": accuracy, "models": h.aggregate_seeds(per_seed)}


def table_differences(ours: dict, reference: dict, tol: float = 1e-6) -> list[str]:
    """Where two seed tables disagree (every mean and every per-seed value, to tol)."""
    out = []
    if ours.get("seeds") != reference.get("seeds"):
        out.append(f"seeds {ours.get('seeds')} != {reference.get('seeds')}")
    for name in sorted(set(ours["models"]) | set(reference["models"])):
        a, b = ours["models"].get(name), reference["models"].get(name)
        if a is None or b is None:
            out.append(f"model {name}: only in {'the reference' if a is None else 'this run'}")
            continue
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key), b.get(key)
            if isinstance(va, dict) and isinstance(vb, dict):
                pairs = zip(va["values"], vb["values"]) if len(va["values"]) == len(vb["values"]) else [(1, 0)]
                if any(not math.isclose(x, y, rel_tol=tol, abs_tol=tol) for x, y in pairs):
                    out.append(f"{name}.{key}: {va['values']} != {vb['values']}")
            elif va != vb:
                out.append(f"{name}.{key}: {va} != {vb}")
    return out


# The README's MNIST results table, rendered from the shipped seed table (tests/test_reference_models.py keeps
# README.md equal to it).
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


def _cell(m: dict, key: str, digits: int) -> str:
    return f"{m[key]['mean']:.{digits}f} ± {m[key]['se']:.{digits}f}"


def readme_table(table: dict) -> str:
    """The README's MNIST results table (markdown) from a seed table."""
    models = table["models"]
    lines = ["| model | recon (SSE per image) | KL | accuracy on reconstructions | hit rate, z ~ N(0, I) "
             "| hit rate, z ~ the notebook's prior | prior sampled | best / ran epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for label, name, prior in ROWS:
        m = models[name]
        epochs = " ".join(f"{b:.0f}/{e:.0f}" for b, e in zip(m["best_epoch"]["values"], m["epochs"]["values"]))
        lines.append(f"| {label} | {_cell(m, 'recon', 1)} | {_cell(m, 'kl', 2)} | {_cell(m, 'recon_accuracy', 3)} "
                     f"| {_cell(m, 'hit_rate_prior', 3)} | {_cell(m, 'hit_rate_goal_prior', 3)} | {prior} | {epochs} |")
    return "\n".join(lines)

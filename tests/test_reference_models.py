"""The course's converged MNIST models (helpers/checkpoints/, written by `make reference`) and their seed table."""

import json

import pytest
import torch

from grading.seed_table import seed_table, table_differences
import helpers as h

SHIPPED = h.shipped_checkpoint_dir()
TABLE = h.seed_metrics()


def test_every_shipped_checkpoint_is_small_and_loads():
    files = sorted(SHIPPED.glob("mnist-*.pt"))
    # the models of the three notebooks, for every seed, and the classifier
    assert len(files) >= 10 * len(TABLE["seeds"]) + 1
    for f in files:
        assert f.stat().st_size <= 5_000_000, f"{f.name}: {f.stat().st_size} bytes, more than 5 MB"
        state = torch.load(f, map_location="cpu", weights_only=True)
        assert set(state) == {"model", "history"}
    assert len(list(SHIPPED.glob("mnist-classifier-*.pt"))) == 1


def test_the_seed_table_covers_every_model_for_three_seeds_and_each_converged():
    assert TABLE["seeds"] == list(h.CONFIG.seeds) and len(TABLE["seeds"]) >= 3
    expected = {"base", "base2d", "base_more", "goal", "goal_labelled", "goal_separated", "beta075",
                "base_mixture", "base_more_mixture", "beta075_mixture", "gmm", "gmm_labelled", "gmm_separated"}
    assert set(TABLE["models"]) == expected
    for name, row in TABLE["models"].items():
        assert row["seeds"] == TABLE["seeds"], name
        assert row["stopped_early"] == [True] * len(TABLE["seeds"]), f"{name}: early stopping did not end every run"
        assert all(b < row["max_epochs"] for b in row["best_epoch"]["values"]), name
        assert all(e < row["max_epochs"] for e in row["epochs"]["values"]), name
        for metric in ("recon", "kl", "recon_accuracy", "hit_rate_prior", "hit_rate_goal_prior"):
            cell = row[metric]
            assert len(cell["values"]) == len(TABLE["seeds"]) and cell["se"] is not None
            assert cell["mean"] == pytest.approx(sum(cell["values"]) / len(cell["values"]), rel=1e-12)


def test_the_base_vae_reads_back_what_notebook_01_and_the_readme_say():
    """0.845 over seeds: issue 13 asked for 0.85; with the project's d = 4 the networks of
    scripts/choose_network.py stop at 0.835-0.849 (docs/results.md, Choosing the MNIST network), and the one-layer
    MLP that the course trained before reached 0.74. Notebook 01 states 84.5% (claim range 0.83-0.86)."""
    acc = TABLE["models"]["base"]["recon_accuracy"]
    assert 0.83 <= acc["mean"] <= 0.86 and acc["se"] < 0.03
    assert TABLE["classifier_accuracy"] >= 0.95


def test_table_differences_names_what_changed():
    ours = json.loads(json.dumps(TABLE))
    assert table_differences(ours, TABLE) == []
    ours["models"]["goal"]["recon"]["values"][1] += 1e-3
    del ours["models"]["gmm"]
    diffs = table_differences(ours, TABLE)
    assert any(d.startswith("goal.recon:") for d in diffs) and "model gmm: only in the reference" in diffs


def test_results_page_table_is_the_seed_table():
    from grading import course_dir as ct
    from grading.seed_table import readme_table

    page = (ct.ROOT / "docs" / "results.md").read_text()
    begin, end = "<!-- mnist-results:begin -->\n", "\n<!-- mnist-results:end -->"
    assert begin in page and end in page, "docs/results.md lost the markers around the MNIST results table"
    block = page.split(begin, 1)[1].split(end, 1)[0]
    assert block == readme_table(TABLE), (
        "docs/results.md's MNIST table differs from helpers/checkpoints/metrics.json: paste the output of "
        "`.venv/bin/python scripts/results_table.py`")


def test_seed_table_merges_every_seed_s_metrics_files(tmp_path):
    for seed, recon in ((0, 20.0), (1, 22.0), (2, 24.0)):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        (folder / "classifier.json").write_text(json.dumps({"accuracy": 0.968}))
        (folder / "base.json").write_text(json.dumps({"recon": recon, "best_epoch": 40 + seed, "epochs": 50 + seed,
                                                      "max_epochs": 200, "stopped_early": True}))
    table = seed_table(tmp_path)
    assert table["seeds"] == [0, 1, 2] and table["classifier_accuracy"] == pytest.approx(0.968)
    assert table["models"]["base"]["recon"]["mean"] == pytest.approx(22.0)
    assert table["models"]["base"]["best_epoch"]["values"] == [40, 41, 42]
    assert seed_table(tmp_path / "nothing") is None

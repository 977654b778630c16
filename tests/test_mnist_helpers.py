"""The MNIST helpers: config, models, train-or-load, fingerprints, sampling, measuring, metrics, figures."""

import inspect
import json
from dataclasses import replace
from pathlib import Path

import matplotlib
import pytest
import torch

import helpers as h
from helpers.data import MnistData

matplotlib.use("Agg")


def reparameterize(mu, log_var):
    return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)


def loss_fn(x, x_hat, mu, log_var, labels):
    recon = ((x - x_hat) ** 2).sum(dim=1).mean()
    kl = (-0.5 * (1 + log_var - mu ** 2 - log_var.exp()).sum(dim=1)).mean()
    return recon + 0.35 * kl, recon, kl


def buggy_loss_fn(x, x_hat, mu, log_var, labels):
    recon = ((x - x_hat) ** 2).mean()  # averages over pixels: a typical bug
    kl = (-0.5 * (1 + log_var - mu ** 2 - log_var.exp()).sum(dim=1)).mean()
    return recon + 0.35 * kl, recon, kl


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(tmp_path / "ckpt"))
    return tmp_path / "ckpt"


@pytest.fixture
def tiny_data():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat(12)
    x = torch.rand(120, 784, generator=g) * 0.2 + (labels[:, None] / 10.0) * 0.5
    return MnistData(x[:100], labels[:100], x[100:], labels[100:], source="tiny")


TINY = replace(h.CONFIG, batch_size=32, max_epochs=3, quick_epochs=3, quick_finetune_epochs=2, patience=2, n_generated=50,
               hidden_dim=16)


def test_config_holds_the_seed_constants():
    cfg = h.CONFIG
    assert (cfg.beta_base, cfg.beta_goal, cfg.beta_gmm) == (0.35, 0.75, 0.75)
    assert cfg.expert_goals == (6,) and cfg.latent_dim == 4 and cfg.latent_dim_2d == 2
    assert cfg.gmm_n_components == 4 and cfg.gmm_covariance_type == "full"
    assert cfg.as_dict()["beta_base"] == 0.35


def test_vae_shapes_and_pixel_range():
    torch.manual_seed(0)
    model = h.make_vae(latent_dim=3, hidden_dim=8)
    mu, log_var = model.encode(torch.rand(5, 784))
    assert mu.shape == (5, 3) and log_var.shape == (5, 3)
    x_hat = model.decode(torch.randn(5, 3) * 10).detach()
    assert x_hat.shape == (5, 784) and float(x_hat.min()) >= 0.0 and float(x_hat.max()) <= 1.0


def test_classifier_shapes():
    assert h.make_classifier()(torch.rand(4, 784)).shape == (4, 10)


def test_helpers_hold_no_graded_answer():
    graded = ["reparameterize", "kl_standard_normal", "vae_loss", "target_prior", "kl_diag_gaussians",
              "gmm_log_prob", "kl_gmm_mc"]
    assert not [name for name in graded if hasattr(h, name)]
    mine = ("data", "config", "mnist", "models", "nets", "training", "evaluate")
    source = "".join((Path(h.__file__).parent / f"{m}.py").read_text() for m in mine)
    for telltale in ("logsumexp", "randn_like", "1 + log_var", "log_var.exp()"):
        assert telltale not in source, f"helpers must not contain {telltale!r}"


def test_fingerprint_is_stable_sensitive_and_leaves_the_rng_alone():
    torch.manual_seed(5)
    first = h.function_fingerprint(loss_fn, reparameterize, 4)
    after = torch.randn(3)
    torch.manual_seed(5)
    expected_after = torch.randn(3)
    assert torch.equal(after, expected_after), "the fingerprint must not consume the global random stream"
    assert h.function_fingerprint(loss_fn, reparameterize, 4) == first
    assert h.function_fingerprint(buggy_loss_fn, reparameterize, 4) != first
    assert h.function_fingerprint(loss_fn, lambda mu, lv: mu, 4) != first


def test_load_or_train_trains_once_then_loads(tmp_path):
    calls = []
    path = tmp_path / "m.pt"

    def make():
        torch.manual_seed(len(calls) + 1)
        return torch.nn.Linear(2, 2)

    model = make()

    def train():
        calls.append(1)
        return {"loss": [1.0]}

    assert h.load_or_train(model, path, train) == {"loss": [1.0]}
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    other = make()
    assert h.load_or_train(other, path, train) == {"loss": [1.0]}
    assert len(calls) == 1, "an existing checkpoint must be loaded, not retrained"
    assert all(torch.equal(saved[k], v) for k, v in other.state_dict().items())
    h.load_or_train(other, path, train, force=True)
    assert len(calls) == 2, "force=True must retrain"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "no temporary file may be left behind"


def test_fit_vae_reuses_checkpoint_and_retrains_for_new_functions(ckpt, tiny_data):
    model = h.make_vae(latent_dim=2, hidden_dim=16)
    history = h.fit_vae(model, tiny_data, loss_fn, reparameterize, name="t", config=TINY)
    assert set(history) >= {"train_loss", "val_loss", "train_recon", "val_kl", "best_epoch"}
    assert 1 <= len(history["val_loss"]) <= 3
    assert len(list(ckpt.glob("mnist-t-*.pt"))) == 1

    again = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(again, tiny_data, loss_fn, reparameterize, name="t", config=TINY)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert again.checkpoint_key == model.checkpoint_key

    fixed = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(fixed, tiny_data, buggy_loss_fn, reparameterize, name="t", config=TINY)
    assert fixed.checkpoint_key != model.checkpoint_key
    assert len(list(ckpt.glob("mnist-t-*.pt"))) == 2

    child = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(child, tiny_data, loss_fn, reparameterize, name="child", init_from=model, config=TINY)
    assert len(list(ckpt.glob("mnist-child-*.pt"))) == 1


def test_fit_vae_is_reproducible_whatever_ran_before(ckpt, tiny_data):
    torch.manual_seed(1)
    a = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(a, tiny_data, loss_fn, reparameterize, name="r", config=TINY, force=True)
    torch.manual_seed(99)
    torch.randn(100)
    b = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(b, tiny_data, loss_fn, reparameterize, name="r", config=TINY, force=True)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_train_vae_keeps_the_best_epoch(tiny_data):
    torch.manual_seed(0)
    model = h.make_vae(latent_dim=2, hidden_dim=16)
    cfg = replace(TINY, max_epochs=6, patience=10)
    history = h.train_vae(model, tiny_data, loss_fn, reparameterize, max_epochs=6, config=cfg)
    best = min(history["val_loss"])
    assert history["val_loss"][history["best_epoch"]] == best
    _, _, x_val, y_val = h.split_validation(tiny_data.x_train, tiny_data.y_train, cfg.val_fraction, cfg.seed)
    assert h.evaluate_vae(model, x_val, y_val, loss_fn)["loss"] == pytest.approx(best, rel=1e-5)


def test_evaluate_vae_decodes_the_mean_deterministically(tiny_data):
    torch.manual_seed(0)
    model = h.make_vae(latent_dim=2, hidden_dim=16)
    first = h.evaluate_vae(model, tiny_data.x_test, tiny_data.y_test, loss_fn)
    second = h.evaluate_vae(model, tiny_data.x_test, tiny_data.y_test, loss_fn)
    assert first == second and set(first) == {"loss", "recon", "kl"}
    mu, log_var = model.encode(tiny_data.x_test)
    expected = loss_fn(tiny_data.x_test, model.decode(mu), mu, log_var, None)
    assert first["recon"] == pytest.approx(float(expected[1].detach()), rel=1e-5)


def test_split_validation_is_stratified(tiny_data):
    x_tr, y_tr, x_val, y_val = h.split_validation(tiny_data.x_train, tiny_data.y_train, 0.2, seed=0)
    assert len(x_tr) == 80 and len(x_val) == 20
    assert y_val.bincount(minlength=10).tolist() == [2] * 10


def test_sample_diag_gaussian_statistics():
    # 20,000 draws: standard errors sd/sqrt(n) <= 0.015 for the mean, ~ var*sqrt(2/n) <= 0.03 for the variance
    z = h.sample_diag_gaussian(20_000, torch.tensor([1.0, -2.0]), torch.tensor([4.0, 0.25]), seed=0)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), rtol=0, atol=0.07)
    torch.testing.assert_close(z.var(0), torch.tensor([4.0, 0.25]), rtol=0.04, atol=0)
    assert torch.equal(z, h.sample_diag_gaussian(20_000, torch.tensor([1.0, -2.0]), torch.tensor([4.0, 0.25]), seed=0))


def test_sample_gmm_weights_means_and_covariances():
    weights = torch.tensor([0.2, 0.8])
    means = torch.tensor([[-5.0, 0.0], [5.0, 1.0]])
    covs = torch.stack([torch.eye(2) * 0.5, torch.tensor([[1.0, 0.6], [0.6, 1.0]])])
    z, comp = h.sample_gmm(20_000, weights, means, covs, seed=0)
    assert z.shape == (20_000, 2) and comp.shape == (20_000,)
    # a binomial proportion with p = 0.2, n = 20,000 has standard error 0.0028
    assert abs(float((comp == 0).float().mean()) - 0.2) < 0.015
    torch.testing.assert_close(z[comp == 1].mean(0), means[1], rtol=0, atol=0.05)
    torch.testing.assert_close(torch.cov(z[comp == 1].T), covs[1], rtol=0, atol=0.06)


def test_fit_gmm_recovers_separated_clusters():
    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(300, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0]),
                   torch.randn(100, 2, generator=g) * 0.3 + torch.tensor([-3.0, 1.0])])
    weights, means, covs = h.fit_gmm(z, n_components=2, seed=0)
    assert weights.shape == (2,) and means.shape == (2, 2) and covs.shape == (2, 2, 2)
    order = torch.argsort(means[:, 0])
    torch.testing.assert_close(weights[order], torch.tensor([0.25, 0.75]), rtol=0, atol=1e-3)
    torch.testing.assert_close(means[order], torch.tensor([[-3.0, 1.0], [3.0, 0.0]]), rtol=0, atol=0.1)
    torch.testing.assert_close(covs[order[1]], torch.eye(2) * 0.09, rtol=0, atol=0.03)


class _Identity(torch.nn.Module):
    """A fake VAE whose decoder returns z itself (z already has 10 'pixels' here)."""

    latent_dim = 10

    def encode(self, x):
        return x, torch.zeros_like(x)

    def decode(self, z):
        return z


class _ArgMax(torch.nn.Module):
    """A fake classifier: the predicted digit is the index of the largest 'pixel'."""

    def forward(self, x):
        return x


def test_hit_rates_count_the_classifier_s_targets():
    z = torch.nn.functional.one_hot(torch.tensor([6, 6, 1, 3, 6, 0]), 10).float()
    assert h.hit_rate(_Identity(), _ArgMax(), z, targets=(6,)) == pytest.approx(0.5)
    assert h.hit_rate(_Identity(), _ArgMax(), z, targets=(1, 3)) == pytest.approx(2 / 6)
    by_comp = h.hit_rates_by_component(_Identity(), _ArgMax(), z, torch.tensor([0, 0, 0, 1, 1, 1]), targets=(6,))
    assert by_comp == pytest.approx([2 / 3, 1 / 3])


def test_measure_vae_returns_the_contract_keys(tiny_data):
    fake = MnistData(torch.nn.functional.one_hot(torch.tensor([6, 2, 6, 6]), 10).float(), torch.tensor([6, 2, 6, 6]),
                     torch.nn.functional.one_hot(torch.tensor([6, 2]), 10).float(), torch.tensor([6, 2]))
    goal_z = torch.nn.functional.one_hot(torch.tensor([6, 6, 6, 5]), 10).float()
    m = h.measure_vae(_Identity(), fake, loss_fn, _ArgMax(), goal_z)
    assert set(m) == {"loss", "recon", "kl", "recon_accuracy", "hit_rate_prior", "hit_rate_goal_prior", "confidence_prior"}
    assert all(type(v) is float for v in m.values())
    assert m["recon"] == pytest.approx(0.0) and m["recon_accuracy"] == pytest.approx(1.0)
    assert m["hit_rate_goal_prior"] == pytest.approx(0.75)


def test_record_metrics_writes_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_COURSE_METRICS_DIR", raising=False)
    assert h.record_metrics("base", {"recon": torch.tensor(2.5).item()}) == {"recon": 2.5}
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("VAE_COURSE_METRICS_DIR", str(tmp_path / "parts"))
    h.record_metrics("goal", {"recon": 1.0, "hit_rate_prior": 0.25, "hit_rate_by_component": [0.5, 1.0]})
    assert [p.name for p in (tmp_path / "parts").iterdir()] == ["goal.json"]
    assert json.loads((tmp_path / "parts" / "goal.json").read_text()) == {
        "recon": 1.0, "hit_rate_prior": 0.25, "hit_rate_by_component": [0.5, 1.0]}


def test_reference_classifier_reaches_090_on_held_out_digits(ckpt):
    data = h.load_mnist()
    clf = h.train_classifier(data)
    assert h.accuracy(clf, data.x_test, data.y_test) >= 0.9
    again = h.train_classifier(data)  # loads the checkpoint
    assert h.accuracy(again, data.x_test, data.y_test) == h.accuracy(clf, data.x_test, data.y_test)


def test_figures_have_titles_and_axis_labels(tiny_data):
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = h.make_vae(latent_dim=2, hidden_dim=8)
    hist = {k: [1.0, 0.5] for k in ("train_loss", "val_loss", "train_recon", "val_recon", "train_kl", "val_kl")}
    for ax in h.plot_history({"m": hist}):
        assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel()
    axes = h.plot_latent_scatter({"m": model}, tiny_data.x_test, tiny_data.y_test)
    assert axes[0].get_xlabel() == "$z_1$" and axes[0].get_ylabel() == "$z_2$" and "m" in axes[0].get_title()
    axes = h.plot_latent_hist_qq({"m": model}, tiny_data.x_test, dim=1)
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in axes[0])
    h.show_reconstructions({"m": model}, tiny_data.x_test, n=4)
    h.show_generated({"m": (model, torch.randn(6, 2))}, nrow=3, n=6, classifier=_ArgMaxFirst10())
    h.show_interpolation({"m": model}, tiny_data.x_test[0], tiny_data.x_test[1], steps=4)
    plt.close("all")


class _ArgMaxFirst10(torch.nn.Module):
    def forward(self, x):
        return x[:, :10]


def test_helper_functions_have_docstrings():
    for name in ("load_mnist", "make_vae", "fit_vae", "train_vae", "evaluate_vae", "load_or_train", "train_classifier",
                 "measure_vae", "record_metrics", "sample_gmm", "fit_gmm", "hit_rate", "plot_history"):
        assert inspect.getdoc(getattr(h, name)), name


# ---- convergence, budgets, shipped checkpoints, seeds ------------------------------------------------------

def test_conv_vae_is_the_default_and_mlp_an_option():
    conv, mlp = h.make_vae(), h.make_vae(architecture="mlp")
    assert type(conv).__name__ == "ConvVAE" and conv.channels == h.CONFIG.channels
    assert type(mlp).__name__ == "MlpVAE"
    x = torch.rand(3, 784)
    for model in (conv, mlp):
        model.eval()
        mu, log_var = model.encode(x)
        assert mu.shape == log_var.shape == (3, h.CONFIG.latent_dim)
        x_hat = model.decode(mu)
        assert x_hat.shape == (3, 784) and bool(((x_hat > 0) & (x_hat < 1)).all())
    with pytest.raises(ValueError, match="use 'conv' or 'mlp'"):
        h.make_vae(architecture="resnet")


def test_training_stops_early_and_halves_the_learning_rate(tiny_data):
    """Random pixels give a validation loss that stops improving: the rate halves after lr_patience
    epochs without a better one, and training stops after patience such epochs, before max_epochs."""
    torch.manual_seed(0)
    model = h.make_vae(latent_dim=2, hidden_dim=16)
    cfg = replace(TINY, max_epochs=60, patience=4, lr_patience=1, learning_rate=0.05)
    history = h.train_vae(model, tiny_data, loss_fn, reparameterize, max_epochs=60, config=cfg)
    assert history["stopped_early"] and history["epochs"] < 60
    assert history["epochs"] == history["best_epoch"] + 1 + cfg.patience
    assert history["lr"][0] == pytest.approx(0.05) and min(history["lr"]) <= 0.025 + 1e-12
    assert h.training_summary(history) == {"epochs": history["epochs"], "best_epoch": history["best_epoch"] + 1,
                                           "max_epochs": 60, "stopped_early": True}


def test_monitor_is_recorded_after_every_epoch(tiny_data):
    torch.manual_seed(0)
    model = h.make_vae(latent_dim=2, hidden_dim=16)
    seen = []
    history = h.train_vae(model, tiny_data, loss_fn, reparameterize, max_epochs=3, config=TINY,
                          monitor=lambda m: seen.append(m.training) or len(seen))
    assert history["monitor"] == [1.0, 2.0, 3.0][:history["epochs"]]
    assert seen == [False] * history["epochs"], "the monitor sees the model in eval mode"


def test_quick_budget_uses_a_converged_checkpoint_when_one_matches(ckpt, tiny_data, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    monkeypatch.setenv("VAE_COURSE_SHIPPED_CHECKPOINTS", str(shipped))
    cfg = replace(TINY, max_epochs=6, patience=2)
    # the developers' run: converge, saved where VAE_COURSE_CHECKPOINTS points, then shipped
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(shipped))
    ref = h.make_vae(latent_dim=2, hidden_dim=16)
    ref_history = h.fit_vae(ref, tiny_data, loss_fn, reparameterize, name="b", config=cfg, budget="converge")
    assert ref_history["max_epochs"] == 6
    monkeypatch.setenv("VAE_COURSE_CHECKPOINTS", str(ckpt))
    # a student with the same functions loads it: no training, same weights
    mine = h.make_vae(latent_dim=2, hidden_dim=16)
    mine_history = h.fit_vae(mine, tiny_data, loss_fn, reparameterize, name="b", config=cfg)
    assert mine_history == ref_history and mine.checkpoint_key == ref.checkpoint_key
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), mine.state_dict().values()))
    assert not ckpt.exists() or not list(ckpt.iterdir())
    # other functions: a quick run of quick_epochs, saved in the student's folder, with another key
    other = h.make_vae(latent_dim=2, hidden_dim=16)
    other_history = h.fit_vae(other, tiny_data, buggy_loss_fn, reparameterize, name="b", config=cfg)
    assert other_history["max_epochs"] == cfg.quick_epochs and other.checkpoint_key != ref.checkpoint_key
    assert len(list(ckpt.glob("mnist-b-*.pt"))) == 1
    # a child of the quick model is quick too: quick_finetune_epochs
    child = h.make_vae(latent_dim=2, hidden_dim=16)
    assert h.fit_vae(child, tiny_data, buggy_loss_fn, reparameterize, name="c", init_from=other,
                     config=cfg)["max_epochs"] == cfg.quick_finetune_epochs
    with pytest.raises(ValueError, match="use 'quick' or 'converge'"):
        h.fit_vae(child, tiny_data, loss_fn, reparameterize, name="c", config=cfg, budget="fast")


def test_checkpoints_store_float16_and_the_model_keeps_what_was_stored(ckpt, tiny_data):
    model = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(model, tiny_data, loss_fn, reparameterize, name="h", config=TINY)
    (path,) = ckpt.glob("mnist-h-*.pt")
    stored = torch.load(path, weights_only=True)["model"]
    floats = [k for k, v in model.state_dict().items() if v.dtype == torch.float32]
    assert floats and all(stored[k].dtype == torch.float16 for k in floats)
    assert all(torch.equal(model.state_dict()[k], stored[k].float()) for k in floats)


def test_training_fields_leave_measuring_constants_out_of_the_key(ckpt, tiny_data):
    a = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(a, tiny_data, loss_fn, reparameterize, name="k", config=TINY)
    b = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(b, tiny_data, loss_fn, reparameterize, name="k", config=replace(TINY, n_generated=7))
    assert a.checkpoint_key == b.checkpoint_key
    c = h.make_vae(latent_dim=2, hidden_dim=16)
    h.fit_vae(c, tiny_data, loss_fn, reparameterize, name="k", config=replace(TINY, seed=1))
    assert c.checkpoint_key != a.checkpoint_key


def test_seed_from_the_environment_is_checked(monkeypatch):
    from helpers import config

    monkeypatch.setenv("VAE_COURSE_SEED", "2")
    assert config._seed_from_environment() == 2
    monkeypatch.setenv("VAE_COURSE_SEED", "two")
    with pytest.raises(ValueError, match="VAE_COURSE_SEED='two' is not an integer"):
        config._seed_from_environment()


def test_aggregate_seeds_mean_and_standard_error():
    per_seed = {s: {"base": {"recon": r, "best_epoch": b, "epochs": b + 10, "max_epochs": 200, "stopped_early": True}}
                for s, r, b in ((0, 20.0, 40), (1, 22.0, 50), (2, 24.0, 45))}
    row = h.aggregate_seeds(per_seed)["base"]
    assert row["seeds"] == [0, 1, 2] and row["max_epochs"] == 200 and row["stopped_early"] == [True] * 3
    # mean 22, sample sd 2, standard error 2 / sqrt(3)
    assert row["recon"]["mean"] == pytest.approx(22.0) and row["recon"]["se"] == pytest.approx(2 / 3 ** 0.5)
    assert row["best_epoch"]["values"] == [40, 50, 45]


def test_seed_difference_is_paired():
    models = {"a": {"seeds": [0, 1, 2], "x": {"values": [1.0, 2.0, 3.0]}},
              "b": {"seeds": [0, 1, 2], "x": {"values": [0.5, 1.5, 2.0]}},
              "c": {"seeds": [0, 1], "x": {"values": [0.0, 0.0]}}}
    mean, se = h.seed_difference(models, "a", "b", "x")   # differences 0.5, 0.5, 1.0
    assert mean == pytest.approx(2 / 3) and se == pytest.approx((1 / 12) ** 0.5 / 3 ** 0.5)
    with pytest.raises(ValueError, match="same seeds"):
        h.seed_difference(models, "a", "c", "x")


def test_plot_hit_rates_marks_the_kept_epoch():
    import matplotlib.pyplot as plt

    ax = h.plot_hit_rates({"goal": {"monitor": [0.6, 0.4, 0.3], "best_epoch": 1}, "old": {"best_epoch": 0}},
                          levels={"chance": 0.1})
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["goal"].get_ydata()) == [0.6, 0.4, 0.3]
    assert any(list(line.get_xdata()) == [2] and list(line.get_ydata()) == [0.4] for line in ax.get_lines())
    assert "old (no per-epoch record in this checkpoint)" in lines and list(lines["chance"].get_ydata()) == [0.1, 0.1]
    plt.close("all")


def test_confidence_is_the_mean_top_softmax_probability():
    # logits 0 everywhere: every digit 1/10; a one-hot logit of log(9 * 3): top probability 27 / (27 + 9) = 0.75
    z = torch.cat([torch.zeros(2, 10), torch.nn.functional.one_hot(torch.tensor([6, 1]), 10).float() * float(torch.log(torch.tensor(27.0)))])
    assert h.confidence(_Identity(), _ArgMax(), z) == pytest.approx((0.1 + 0.1 + 0.75 + 0.75) / 4, rel=1e-6)


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_in_shifted_coordinates_is_the_same_vae_in_other_coordinates(architecture):
    """The affine-equivalence argument of notebook 02, exactly: the copy decodes mu_p + sigma_p z as the model
    decodes z, and its KL to N(mu_p, diag var_p) is the model's KL to N(0, I)."""
    torch.manual_seed(0)
    model = h.make_vae(latent_dim=3, hidden_dim=16, architecture=architecture).eval()
    mu_p, var_p = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.25, 4.0, 1.5])
    shifted = h.in_shifted_coordinates(model, mu_p, var_p)
    z = torch.randn(5, 3)
    with torch.no_grad():
        torch.testing.assert_close(shifted.decode(mu_p + var_p.sqrt() * z), model.decode(z), rtol=1e-5, atol=1e-5)
        x = torch.rand(4, 784)
        mu, log_var = model.encode(x)
        mu2, log_var2 = shifted.encode(x)
        torch.testing.assert_close(mu2, mu_p + var_p.sqrt() * mu, rtol=1e-5, atol=1e-5)
        kl_model = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum(1)
        kl_shifted = 0.5 * (((mu2 - mu_p) ** 2 + log_var2.exp()) / var_p - 1 - log_var2 + torch.log(var_p)).sum(1)
        torch.testing.assert_close(kl_shifted, kl_model, rtol=1e-5, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(model.encoder[0].parameters(), shifted.encoder[0].parameters()))


def test_checkpoint_keys_do_not_depend_on_the_number_of_threads():
    """A key computed on one thread must equal the key on two: the course's checkpoints are trained on one."""
    from helpers.training import _data_key

    data = h.load_mnist()
    threads = torch.get_num_threads()
    try:
        keys = []
        for n in (1, 2):
            torch.set_num_threads(n)
            keys.append(_data_key(data))
    finally:
        torch.set_num_threads(threads)
    assert keys[0] == keys[1]

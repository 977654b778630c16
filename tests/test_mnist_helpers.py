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


TINY = replace(h.CONFIG, batch_size=32, max_epochs=3, finetune_epochs=2, patience=2, n_generated=50,
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
    assert set(m) == {"recon", "kl", "recon_accuracy", "hit_rate_prior", "hit_rate_goal_prior"}
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

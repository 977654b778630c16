"""The closed-form linear VAE in helpers: expectations, gradients and the beta sweep, checked from the maths."""

import math

import numpy as np
import pytest

import helpers as h

M_DATA = np.array([3.0, 2.0])
SHEET = h.LinearVAE.from_arrays([[0.5, 0.0], [0.0, 0.5]], [-0.5, -0.25], [[0.1, 0.0], [0.0, 0.1]], [-1.0, -1.0],
                                [[1.4, 0.0], [0.0, 1.4]], [1.5, 1.0])
COLLAPSE = h.LinearVAE.from_arrays([[0.01, 0.01], [-0.01, -0.01]], [0.05, -0.05], np.zeros((2, 2)), [-0.1, -0.1],
                                   [[1.4, 0.0], [0.0, 1.4]], [1.5, 1.0])


def monte_carlo(params, n, seed, S=None):
    """Per-point reconstruction error and KL for n draws of x ~ N(M_DATA, S) and eps."""
    rng = np.random.default_rng(seed)
    S = np.eye(2) if S is None else S
    X = rng.multivariate_normal(M_DATA, S, size=n)
    mu = X @ params["W_mu"].T + params["b_mu"]
    lv = X @ params["W_ls"].T + params["b_ls"]
    Z = mu + np.exp(0.5 * lv) * rng.standard_normal((n, 2))
    Xp = Z @ params["W_dec"].T + params["b_dec"]
    return np.sum((X - Xp) ** 2, axis=1), 0.5 * np.sum(np.exp(lv) + mu ** 2 - lv - 1, axis=1)


def test_sheet_expectations_match_hand_derivation():
    """Scenario 1, coordinate by coordinate as derived in notebook 1, Part 7."""
    recon, kl = h.expected_losses(SHEET, M_DATA)
    by_hand_recon = sum(0.09 + (0.3 * m - 1.4 * b - c) ** 2 + 1.96 * math.exp(0.1 * m - 1 + 0.005)
                        for m, b, c in [(3.0, -0.5, 1.5), (2.0, -0.25, 1.0)])
    by_hand_kl = 0.5 * sum(math.exp(0.1 * m - 1 + 0.005) + 0.25 + (0.5 * m + b) ** 2 - (0.1 * m - 1) - 1
                           for m, b in [(3.0, -0.5), (2.0, -0.25)])
    assert recon == pytest.approx(by_hand_recon, rel=1e-12)
    assert kl == pytest.approx(by_hand_kl, rel=1e-12)
    assert recon == pytest.approx(2.055785, abs=1e-6)
    assert kl == pytest.approx(1.256578, abs=1e-6)


def test_collapse_expectations_by_hand():
    """Scenario 2: mu_2 = -mu_1 = -(0.01 (x1 + x2) + 0.05), sigma^2 = exp(-0.1)."""
    recon, kl = h.expected_losses(COLLAPSE, M_DATA)
    s2 = math.exp(-0.1)
    e_mu1_sq = 0.01 ** 2 * 2 + (0.01 * 5 + 0.05) ** 2
    assert kl == pytest.approx((s2 + 0.1 - 1) + e_mu1_sq, rel=1e-12)
    var1, mean1 = 0.986 ** 2 + 0.014 ** 2, 0.986 * 3 - 0.014 * 2 - 0.07 - 1.5
    var2, mean2 = 0.014 ** 2 + 1.014 ** 2, 0.014 * 3 + 1.014 * 2 + 0.07 - 1.0
    assert recon == pytest.approx(var1 + mean1 ** 2 + var2 + mean2 ** 2 + 2 * 1.96 * s2, rel=1e-12)


@pytest.mark.parametrize("params", [SHEET, COLLAPSE], ids=["standard", "collapse"])
def test_expectations_agree_with_monte_carlo(params):
    """200,000 draws: the Monte Carlo means sit within 5 standard errors of the closed forms."""
    n = 200_000
    recon_i, kl_i = monte_carlo(params, n, seed=1)
    recon, kl = h.expected_losses(params, M_DATA)
    assert abs(recon_i.mean() - recon) < 5 * recon_i.std() / math.sqrt(n)
    assert abs(kl_i.mean() - kl) < 5 * kl_i.std() / math.sqrt(n)


def test_expectations_with_correlated_data_agree_with_monte_carlo():
    S = np.array([[1.5, 0.4], [0.4, 0.6]])
    rng = np.random.default_rng(5)
    params = h.LinearVAE({k: v + 0.2 * rng.standard_normal(v.shape) for k, v in SHEET.items()})
    n = 200_000
    recon_i, kl_i = monte_carlo(params, n, seed=2, S=S)
    recon, kl = h.expected_losses(params, M_DATA, S)
    assert abs(recon_i.mean() - recon) < 5 * recon_i.std() / math.sqrt(n)
    assert abs(kl_i.mean() - kl) < 5 * kl_i.std() / math.sqrt(n)


def test_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    params = h.LinearVAE({k: 0.3 * rng.standard_normal(v.shape) for k, v in SHEET.items()})
    S = np.array([[1.0, 0.3], [0.3, 0.5]])
    beta = 0.7
    grads = h.linear_vae_gradients(params, beta, M_DATA, S)

    def objective(p):
        recon, kl = h.expected_losses(p, M_DATA, S)
        return recon + beta * kl

    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            up, down = params.copy(), params.copy()
            up[name][idx] += 1e-6
            down[name][idx] -= 1e-6
            numeric[idx] = (objective(up) - objective(down)) / 2e-6
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_beta_sweep_reaches_the_ppca_optimum():
    """Away from the threshold, distortion = min(beta, 2) and rate = log(2 / beta)^+ (notebook 3, Part 3)."""
    betas = np.array([0.1, 0.5, 1.0, 1.5, 3.0, 6.0])
    _, recon, kl = h.fit_linear_vae(SHEET, betas, M_DATA)
    np.testing.assert_allclose(recon, np.minimum(betas, 2.0), atol=5e-3)
    np.testing.assert_allclose(kl, np.maximum(np.log(2.0 / betas), 0.0), atol=5e-3)


def test_beta_sweep_collapses_exactly_above_two():
    betas = np.array([1.5, 1.8, 2.3, 3.0])
    fit, _, _ = h.fit_linear_vae(SHEET, betas, M_DATA)
    var = h.encoder_mean_variance(fit)
    np.testing.assert_allclose(var[:2], np.repeat((1 - betas[:2] / 2)[:, None], 2, axis=1), atol=5e-3)
    assert np.all(var[2:] < 1e-3)


def test_frozen_decoder_never_collapses():
    """With W_dec = 1.4 I fixed the optimal encoder slope is 2.8 / (3.92 + beta), never 0."""
    betas = np.array([0.5, 2.0, 10.0])
    fit, _, _ = h.fit_linear_vae(SHEET, betas, M_DATA, train_decoder=False)
    np.testing.assert_allclose(fit["W_dec"], np.repeat(SHEET["W_dec"][None], 3, axis=0))
    var = h.encoder_mean_variance(fit)
    np.testing.assert_allclose(var, np.repeat(((2.8 / (3.92 + betas)) ** 2)[:, None], 2, axis=1), rtol=1e-3)


def test_bad_input_names_the_fix():
    with pytest.raises(ValueError, match="positive"):
        h.fit_linear_vae(SHEET, [0.5, -1.0], M_DATA)
    with pytest.raises(KeyError, match="LinearVAE.from_arrays"):
        h.expected_losses({"W_mu": np.eye(2)}, M_DATA)


def _log_density(X, mean, cov):
    """log N(x; mean, cov) for each row of X, written out (no helper involved)."""
    r = X - mean
    sol = np.linalg.solve(cov, r.T).T
    return -0.5 * (X.shape[1] * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + np.sum(r * sol, axis=1))


@pytest.mark.parametrize("params", [SHEET, COLLAPSE], ids=["standard", "collapse"])
def test_expected_log_likelihood_agrees_with_monte_carlo(params):
    """200,000 draws of x: the mean of log N(x; b_dec, W W^T + I/2) is within 5 standard errors."""
    n = 200_000
    X = np.random.default_rng(2).multivariate_normal(M_DATA, np.eye(2), size=n)
    K = params["W_dec"] @ params["W_dec"].T + 0.5 * np.eye(2)
    lp = _log_density(X, params["b_dec"], K)
    assert abs(lp.mean() - h.expected_log_likelihood(params, M_DATA)) < 5 * lp.std() / math.sqrt(n)


def test_log_likelihood_of_the_data_distribution_is_minus_its_entropy():
    """W_dec = I/sqrt(2), b_dec = m: the model is N(m, I) itself, so E log p = -(1 + log 2 pi)."""
    p = SHEET.copy()
    p["W_dec"], p["b_dec"] = np.eye(2) / math.sqrt(2), M_DATA.copy()
    assert h.expected_log_likelihood(p, M_DATA) == pytest.approx(-(1 + math.log(2 * math.pi)), rel=1e-12)


def test_elbo_is_a_bound_with_equality_at_the_ppca_optimum():
    """ELBO <= log p(x) for the sheet and collapse; equal when q is the exact posterior (W_mu = W_dec^T)."""
    for params in (SHEET, COLLAPSE):
        assert h.expected_elbo(params, M_DATA) < h.expected_log_likelihood(params, M_DATA) - 0.1
    a = 1 / math.sqrt(2)
    opt = h.LinearVAE.from_arrays(a * np.eye(2), -a * M_DATA, np.zeros((2, 2)), np.log([0.5, 0.5]), a * np.eye(2), M_DATA)
    assert h.expected_elbo(opt, M_DATA) == pytest.approx(h.expected_log_likelihood(opt, M_DATA), abs=1e-12)
    recon, kl = h.expected_losses(opt, M_DATA)
    assert recon + kl == pytest.approx(1 + math.log(2), rel=1e-12)  # the beta = 1 optimum of Loss
    assert h.expected_elbo(opt, M_DATA) == pytest.approx(-(recon + kl) - math.log(math.pi), rel=1e-12)

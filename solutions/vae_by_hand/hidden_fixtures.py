"""vae_by_hand's hidden fixtures: the sheet's constants and the exact expectations the hidden tests compare with.

A hidden test imports what it needs (``from hidden_fixtures import sheet, scenario_1, ...``) and reads like the
maths it checks. Only the grader's checker process and the instructor's own kernels (solutions/, make course)
import this file: nbgrader_config.py keeps it out of the student release (CourseDirectory.ignore), a grading
kernel's sandbox never holds it, and make feedback's leak check looks for its lines in every feedback page
(tests/test_fixtures.py checks all three).

Tolerances live here, each named after the question it answers, and never depend on the answer: a float16 or
float32 answer is compared with float64 expectations at the same tolerance as a float64 one.
"""

from functools import lru_cache
from types import SimpleNamespace

import math

import numpy as np

import helpers as h


def _frozen(values) -> np.ndarray:
    a = np.array(values, dtype=float)
    a.setflags(write=False)
    return a


# The "Set Y" sheet: data, Scenario 1 (standard) and Scenario 2 (collapse), and the β of section 5.
sheet = SimpleNamespace(
    N=1000,
    mu_data=_frozen([3.0, 2.0]), Sigma_data=_frozen(np.eye(2)),
    W_mu=_frozen([[0.5, 0.0], [0.0, 0.5]]), b_mu=_frozen([-0.5, -0.25]),
    W_ls=_frozen([[0.1, 0.0], [0.0, 0.1]]), b_ls=_frozen([-1.0, -1.0]),
    W_dec=_frozen([[1.4, 0.0], [0.0, 1.4]]), b_dec=_frozen([1.5, 1.0]),
    W_mu_c=_frozen([[0.01, 0.01], [-0.01, -0.01]]), b_mu_c=_frozen([0.05, -0.05]),
    W_ls_c=_frozen(np.zeros((2, 2))), b_ls_c=_frozen([-0.1, -0.1]),
    beta=0.2,
    noise_var=0.5,   # the decoder variance for which Loss is the negative ELBO up to log(pi)
)

scenario_1 = h.LinearVAE.from_arrays(sheet.W_mu, sheet.b_mu, sheet.W_ls, sheet.b_ls, sheet.W_dec, sheet.b_dec)
scenario_2 = h.LinearVAE.from_arrays(sheet.W_mu_c, sheet.b_mu_c, sheet.W_ls_c, sheet.b_ls_c, sheet.W_dec, sheet.b_dec)
# notebook 2, Part 6: the collapse encoder with the decoder that outputs the data mean
consistent_collapse = h.LinearVAE.from_arrays(sheet.W_mu_c, sheet.b_mu_c, sheet.W_ls_c, sheet.b_ls_c,
                                              np.zeros((2, 2)), sheet.mu_data)

# An identity the answer holds by construction (a mean of its own per-point array, a sum of its own terms).
# float32 arithmetic keeps it to about 1e-7 relative (numpy's pairwise sums); a number typed from a 4-decimal
# printout misses it by 6e-6 to 2.5e-5 relative on the course's values; float16 arithmetic by about 5e-4.
IDENTITY_RTOL = 2e-6
# Statistical checks allow 5 standard errors: a false alarm about once in 10^6 runs.
Z_MAX = 5.0


# ---- the forward pass and the losses, in float64 whatever the answer's dtype --------------------------------

def affine(X, W, b) -> np.ndarray:
    """W x + b for every row x of X: (n, d)."""
    return np.asarray(X, float) @ np.asarray(W, float).T + np.asarray(b, float)


def reparameterize(mu, sigma, eps) -> np.ndarray:
    """mu + sigma * eps, element-wise."""
    return np.asarray(mu, float) + np.asarray(sigma, float) * np.asarray(eps, float)


def squared_distances(X, X_prime) -> np.ndarray:
    """||x_i - x'_i||^2 for every point: (n,)."""
    return np.sum((np.asarray(X, float) - np.asarray(X_prime, float)) ** 2, axis=1)


def kl_to_standard_normal(mu, log_var) -> np.ndarray:
    """KL(N(mu_i, diag exp(log_var_i)) || N(0, I)) for every point: (n,)."""
    mu, log_var = np.asarray(mu, float), np.asarray(log_var, float)
    return 0.5 * np.sum(np.exp(log_var) + mu ** 2 - log_var - 1.0, axis=1)


def mean_losses(X, X_prime, mu, log_var) -> list[float]:
    """[L_recon, L_KL] of these arrays: the means over points of the two per-point losses."""
    return [float(squared_distances(X, X_prime).mean()), float(kl_to_standard_normal(mu, log_var).mean())]


# ---- exact expectations over x ~ N(mu_data, Sigma_data) and eps, and standard errors for N = 1000 -----------

def expected_losses(params) -> tuple[float, float]:
    """Exact (E[L_recon], E[L_KL]) of a linear VAE over x ~ N(mu_data, Sigma_data) and its noise."""
    recon, kl = h.expected_losses(params, sheet.mu_data, sheet.Sigma_data)
    return float(recon), float(kl)


_VARIANCES: dict = {}


def _variances(params) -> tuple[float, float, float]:
    """Var recon_err, Var D_KL and their covariance per point under the model, from 400,000 simulated points
    (relative error under 1%, which moves a 5-standard-error bound by under 0.05 of a standard error)."""
    if id(params) not in _VARIANCES:
        rng = np.random.default_rng(20261201)
        X = rng.multivariate_normal(sheet.mu_data, sheet.Sigma_data, size=400_000)
        mu, log_var = affine(X, params["W_mu"], params["b_mu"]), affine(X, params["W_ls"], params["b_ls"])
        Z = reparameterize(mu, np.exp(0.5 * log_var), rng.standard_normal(X.shape))
        recon = squared_distances(X, affine(Z, params["W_dec"], params["b_dec"]))
        kl = kl_to_standard_normal(mu, log_var)
        _VARIANCES[id(params)] = (params, (float(recon.var()), float(kl.var()), float(np.cov(recon, kl)[0, 1])))
    return _VARIANCES[id(params)][1]


def expected_loss(params, recon=0.0, kl=0.0) -> float:
    """E[recon * L_recon + kl * L_KL]: e.g. recon=1, kl=sheet.beta for the beta-weighted loss."""
    E_recon, E_KL = expected_losses(params)
    return recon * E_recon + kl * E_KL


def standard_error(params, recon=0.0, kl=0.0) -> float:
    """Standard error of the mean over N = 1000 points of recon * recon_err + kl * D_KL under the model."""
    var_recon, var_kl, cov = _variances(params)
    return math.sqrt((recon ** 2 * var_recon + kl ** 2 * var_kl + 2 * recon * kl * cov) / sheet.N)


def assert_close_to_expectation(name, estimate, params, recon=0.0, kl=0.0):
    """The Monte Carlo estimate lies within Z_MAX standard errors of E[recon * L_recon + kl * L_KL]."""
    E, se = expected_loss(params, recon, kl), standard_error(params, recon, kl)
    t = abs(float(estimate) - E) / se
    assert t < Z_MAX, f"{name} is {t:.1f} standard errors from its expectation {E:.4f}"


# ---- samples that must be draws of a known distribution (5 standard errors each) ---------------------------

def assert_sheet_data(X):
    """X (1000, 2) holds independent draws from N(mu_data, I): mean, variances, covariance, Gaussian tails."""
    X = np.asarray(X, float) - sheet.mu_data
    n = X.shape[0]
    # standard errors: mean 1/sqrt(n); variance sqrt(2/n); covariance 1/sqrt(n); excess kurtosis sqrt(24/n)
    assert np.all(np.abs(X.mean(axis=0)) < Z_MAX / math.sqrt(n)), "mean of X_true is not (3, 2)"
    C = np.cov(X.T)
    assert np.all(np.abs(np.diag(C) - 1.0) < Z_MAX * math.sqrt(2 / n)), "variances of X_true are not 1"
    assert abs(C[0, 1]) < Z_MAX / math.sqrt(n), "the two coordinates of X_true are correlated; Sigma_data is diagonal"
    kurtosis = np.mean(X ** 4, axis=0) / np.mean(X ** 2, axis=0) ** 2 - 3.0
    assert np.all(np.abs(kurtosis) < Z_MAX * math.sqrt(24 / n)), "X_true is not Gaussian (its kurtosis is off)"
    assert np.unique(X, axis=0).shape[0] == n, "X_true repeats points: draw every point independently"


def assert_standard_normal(eps, name="eps"):
    """eps (n, d) holds independent N(0, 1) draws: one fresh vector per point, independent coordinates."""
    e = np.asarray(eps, float)
    # standard errors for e.size draws: mean 1/sqrt(n), variance sqrt(2/n), kurtosis sqrt(24/n)
    assert abs(e.mean()) < Z_MAX / math.sqrt(e.size), f"{name} does not have mean 0"
    assert abs(e.var() - 1.0) < Z_MAX * math.sqrt(2 / e.size), f"{name} does not have variance 1"
    assert abs(np.mean(e ** 4) / np.mean(e ** 2) ** 2 - 3.0) < Z_MAX * math.sqrt(24 / e.size), (
        f"{name} is not Gaussian (uniform noise?)")
    assert abs(np.corrcoef(e.T)[0, 1]) < Z_MAX / math.sqrt(e.shape[0]), (
        f"the two coordinates of {name} are correlated (the same draw used twice?)")
    assert np.unique(e, axis=0).shape[0] == e.shape[0], f"{name} repeats rows: draw a fresh vector for every point"


def ks_distance_to_standard_normal(eps) -> float:
    """Kolmogorov-Smirnov distance between the empirical distribution of all entries of eps and N(0, 1).
    Below 2.69 / sqrt(n) with probability 1 - 1e-6 for n standard-normal draws."""
    s = np.sort(np.asarray(eps, float).ravel())
    n = s.size
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in s]))
    return float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))


def assert_sheet_values(answers: dict):
    """Every answer (name -> value) equals the sheet's constant of that name, to 1e-6."""
    for name, value in answers.items():
        np.testing.assert_allclose(np.asarray(value, float), getattr(sheet, name), rtol=0, atol=1e-6,
                                   err_msg=f"{name} differs from the sheet")


# ---- notebook 1b: the exact log-likelihood, the exact ELBO and the gap --------------------------------------

# notebook 1b's given data: its setup cell draws the same points as notebook 1's reference
X_true_1b = _frozen(np.random.default_rng(0).multivariate_normal(sheet.mu_data, sheet.Sigma_data, size=sheet.N))
# KL(q || p(z|x)) computed in float32 is within about 1e-5 nats of the float64 value (terms up to about 100)
GAP_TOL = dict(rtol=1e-5, atol=1e-5)


def exact_log_px(X, W_dec=sheet.W_dec, b_dec=sheet.b_dec, noise_var=sheet.noise_var) -> np.ndarray:
    """Exact log p(x) of every row of X under z ~ N(0, I), x | z ~ N(W_dec z + b_dec, noise_var I): (n,)."""
    X = np.asarray(X, float)
    K = W_dec @ W_dec.T + noise_var * np.eye(X.shape[1])
    r = X - b_dec
    return -0.5 * (X.shape[1] * math.log(2 * math.pi) + np.linalg.slogdet(K)[1]
                   + np.sum(r * np.linalg.solve(K, r.T).T, axis=1))


def exact_elbo(X, params, noise_var=sheet.noise_var) -> np.ndarray:
    """Exact ELBO of every row of X, the expectation over eps in closed form: (n,)."""
    X = np.asarray(X, float)
    mu, log_var = affine(X, params["W_mu"], params["b_mu"]), affine(X, params["W_ls"], params["b_ls"])
    W = np.asarray(params["W_dec"], float)
    recon = squared_distances(X, affine(mu, W, params["b_dec"])) + np.exp(log_var) @ np.sum(W ** 2, axis=0)
    return -recon / (2 * noise_var) - kl_to_standard_normal(mu, log_var) - 0.5 * X.shape[1] * math.log(2 * math.pi * noise_var)


def expected_gap(params) -> float:
    """Exact E_x[KL(q(z|x) || p(z|x))] = E log p(x) - E ELBO(x) over x ~ N(mu_data, Sigma_data)."""
    return float(h.expected_log_likelihood(params, sheet.mu_data, sheet.Sigma_data, sheet.noise_var)
                 - h.expected_elbo(params, sheet.mu_data, sheet.Sigma_data, sheet.noise_var))


_GAP_SD: dict = {}


def gap_standard_error(params) -> float:
    """Standard error of the mean gap over N = 1000 points (the gap is a function of x: 400,000 simulated x)."""
    if id(params) not in _GAP_SD:
        X = np.random.default_rng(20261201).multivariate_normal(sheet.mu_data, sheet.Sigma_data, size=400_000)
        _GAP_SD[id(params)] = (params, float(np.std(exact_log_px(X) - exact_elbo(X, params))))
    return _GAP_SD[id(params)][1] / math.sqrt(sheet.N)


# A decoder that mixes the latent coordinates (3-D x, 2-D z), another noise variance and four points: where a
# diagonal decoder's shortcuts give other answers.
mixing_decoder = SimpleNamespace(
    W=_frozen([[1.0, 0.6], [-0.3, 0.8], [0.5, -1.2]]), b=_frozen([0.2, -0.4, 1.0]), noise_var=0.3,
    X=_frozen([[1.0, 2.0, 0.0], [0.0, -1.0, 2.5], [3.0, 0.5, -1.0], [0.0, 0.0, 0.0]]),
)


def posterior_by_conditioning(X, W, b, noise_var):
    """p(z | x) by conditioning the joint Gaussian of (z, x), a route independent of completing the square:
    mean W^T K^-1 (x - b) (n, d) and covariance I - W^T K^-1 W (d, d), with K = W W^T + noise_var I."""
    K = W @ W.T + noise_var * np.eye(W.shape[0])
    return np.linalg.solve(K, (np.asarray(X, float) - b).T).T @ W, np.eye(W.shape[1]) - W.T @ np.linalg.solve(K, W)


# ---- notebook 3: the beta sweep, recomputed (the notebook's own copy sits in a cell the student can edit) -----

@lru_cache(maxsize=None)
def sweep() -> SimpleNamespace:
    """Notebook 3's sweep as its setup and Part 2 compute it: the data X, the 31 betas, and the encoders trained
    with the decoder (trained) and with the decoder frozen at the sheet's (frozen)."""
    X = sheet.mu_data + np.random.default_rng(0).standard_normal((sheet.N, 2))
    betas = np.geomspace(0.05, 10, 31)
    trained, _, _ = h.fit_linear_vae(scenario_1, betas, sheet.mu_data, sheet.Sigma_data)
    frozen, _, _ = h.fit_linear_vae(scenario_1, betas, sheet.mu_data, sheet.Sigma_data, train_decoder=False)
    return SimpleNamespace(X=X, betas=betas, trained=trained, frozen=frozen)


def encoder_means(X, fit) -> list[np.ndarray]:
    """The means mu = W_mu x + b_mu of every encoder of a sweep on X: one (n, d) array per beta."""
    return [affine(X, W, b) for W, b in zip(fit["W_mu"], fit["b_mu"])]


def assert_same_encoders(answer, fit, name):
    """The notebook's trained encoders are the sweep's (a given cell computed them: it must not be edited)."""
    for k in ("W_mu", "b_mu"):
        np.testing.assert_allclose(np.asarray(answer[k], float), fit[k], rtol=1e-9, atol=1e-12, err_msg=(
            f"{name}[{k!r}] is not what Part 2's sweep computes: run the notebook from the top without editing the given cells"))

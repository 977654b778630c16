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


# ---- notebook 1b, Part 4: the KL divergence between two Gaussians ------------------------------------------

def kl_between_gaussians(m0, S0, m1, S1) -> np.ndarray:
    """KL(N(m0_i, S0_i) || N(m1_i, S1_i)) for every row i, through Cholesky factors (a route independent of
    matrix inverses): m0, m1 (n, d); S0, S1 (d, d) shared or (n, d, d) per row. Returns (n,)."""
    m0, m1 = np.asarray(m0, float), np.asarray(m1, float)
    n, d = m0.shape
    L0 = np.linalg.cholesky(np.broadcast_to(np.asarray(S0, float), (n, d, d)))
    L1 = np.linalg.cholesky(np.broadcast_to(np.asarray(S1, float), (n, d, d)))
    M = np.linalg.solve(L1, L0)                          # tr(S1^-1 S0) = ||L1^-1 L0||_F^2
    u = np.linalg.solve(L1, (m1 - m0)[..., None])[..., 0]  # (m1 - m0)^T S1^-1 (m1 - m0) = ||u||^2
    log_det_ratio = 2 * np.sum(np.log(np.diagonal(L1, axis1=1, axis2=2)) - np.log(np.diagonal(L0, axis1=1, axis2=2)), axis=1)
    return 0.5 * (np.sum(M ** 2, axis=(1, 2)) + np.sum(u ** 2, axis=1) - d + log_det_ratio)


def _spd(rng, *shape):
    A = rng.standard_normal(shape)
    return A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(shape[-1])


_r = np.random.default_rng(2212)
# Gaussians that no VAE produced: 3-D, full covariances, one per row on one side and shared on the other
gaussian_pairs = SimpleNamespace(m0=_frozen(_r.standard_normal((6, 3))), S0=_frozen(_spd(_r, 6, 3, 3)),
                                 m1=_frozen(_r.standard_normal((6, 3))), S1=_frozen(_spd(_r, 3, 3)))


def encoder_gaussians(params, X):
    """The encoder's q(z | x_i) = N(mu_i, diag sigma_i^2) for every row of X: means (n, d), covariances (n, d, d)."""
    mu, log_var = affine(X, params["W_mu"], params["b_mu"]), affine(X, params["W_ls"], params["b_ls"])
    return mu, np.exp(log_var)[:, :, None] * np.eye(mu.shape[1])


# the sheet decoder's posterior at notebook 1b's points
sheet_posterior = SimpleNamespace(**dict(zip(("mean", "cov"), map(_frozen, posterior_by_conditioning(
    X_true_1b, sheet.W_dec, sheet.b_dec, sheet.noise_var)))))


# ---- notebook 1b, Part 6: the importance-weighted bound ---------------------------------------------------

IWAE_KS = (1, 3, 10, 30, 100, 300, 1000, 3000)


def log_mean_exp(a, axis=0) -> np.ndarray:
    """log of the mean of exp(a) along an axis, without overflow or underflow."""
    a = np.asarray(a, float)
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.mean(np.exp(a - top), axis=axis))


def importance_log_weights(X, q_mean, q_var, W, b, noise_var, eps) -> np.ndarray:
    """log p(x_i | z) + log p(z) - log q(z | x_i) at z = q_mean_i + sqrt(q_var_i) eps[k, i]: (K, n)."""
    X, q_mean, q_var = np.asarray(X, float), np.asarray(q_mean, float), np.asarray(q_var, float)
    z = q_mean + np.sqrt(q_var) * eps
    n_x, d = X.shape[1], z.shape[-1]
    log_lik = -0.5 * (n_x * math.log(2 * math.pi * noise_var) + np.sum((X - z @ np.asarray(W, float).T - b) ** 2, axis=-1) / noise_var)
    log_prior = -0.5 * (d * math.log(2 * math.pi) + np.sum(z ** 2, axis=-1))
    log_q = -0.5 * (d * math.log(2 * math.pi) + np.sum(np.log(q_var) + eps ** 2, axis=-1))
    return log_lik + log_prior - log_q


_IWAE_SE: dict = {}


def iwae_standard_error(params, K) -> float:
    """Monte Carlo standard error of the mean over notebook 1b's 1000 points of the K-sample bound around its limit
    (the ELBO for K = 1, log p(x) for large K): the points are given, only the samples are random. From one
    simulated run of the estimator with a fixed seed."""
    if (id(params), K) not in _IWAE_SE:
        rng = np.random.default_rng(20261202)
        mu, cov = encoder_gaussians(params, X_true_1b)
        var = np.diagonal(cov, axis1=1, axis2=2)
        n = 250  # the per-point spread from 250 of the points (a relative error of about 5%)
        bound = np.concatenate([log_mean_exp(importance_log_weights(
            X_true_1b[i:i + 50], mu[i:i + 50], var[i:i + 50], sheet.W_dec, sheet.b_dec, sheet.noise_var,
            rng.standard_normal((K, 50, 2))), axis=0) for i in range(0, n, 50)])
        limit = (exact_elbo(X_true_1b, params) if K == 1 else exact_log_px(X_true_1b))[:n]
        _IWAE_SE[(id(params), K)] = (params, float(np.std(bound - limit) / math.sqrt(sheet.N)))
    return _IWAE_SE[(id(params), K)][1]


def expected_log_weight(X, q_mean, q_var, W, b, noise_var) -> np.ndarray:
    """E_q[log p(x | z) + log p(z) - log q(z | x)] for q = N(q_mean_i, diag q_var_i): the exact ELBO of that q, (n,)."""
    X, q_mean, q_var, W = (np.asarray(a, float) for a in (X, q_mean, q_var, W))
    n_x, d = X.shape[1], q_mean.shape[1]
    recon = np.sum((X - q_mean @ W.T - b) ** 2, axis=1) + q_var @ np.sum(W ** 2, axis=0)
    return (-0.5 * (n_x * math.log(2 * math.pi * noise_var) + recon / noise_var)
            - 0.5 * (d * math.log(2 * math.pi) + np.sum(q_mean ** 2 + q_var, axis=1))
            + 0.5 * (d * math.log(2 * math.pi) + np.sum(np.log(q_var) + 1.0, axis=1)))


def _importance_case(W, b, noise_var, X, q_mean=None, q_var=None):
    """A decoder, points and a proposal (the exact posterior when q is not given, which must then be diagonal)."""
    W, b, X = np.asarray(W, float), np.asarray(b, float), np.asarray(X, float)
    post_mean, post_cov = posterior_by_conditioning(X, W, b, noise_var)
    if q_mean is None:
        assert np.allclose(post_cov, np.diag(np.diag(post_cov))), "the posterior must be diagonal"
        q_mean, q_var = post_mean, np.tile(np.diag(post_cov), (len(X), 1))
    q_mean, q_var = np.asarray(q_mean, float), np.asarray(q_var, float)
    eps = np.random.default_rng(20261203).standard_normal((100_000,) + q_mean.shape)
    sd = importance_log_weights(X, q_mean, q_var, W, b, noise_var, eps).std(axis=0)
    return SimpleNamespace(W=_frozen(W), b=_frozen(b), noise_var=noise_var, X=_frozen(X), q_mean=_frozen(q_mean),
                           q_var=_frozen(q_var), log_px=_frozen(exact_log_px(X, W, b, noise_var)),
                           elbo=_frozen(expected_log_weight(X, q_mean, q_var, W, b, noise_var)), log_weight_sd=_frozen(sd))


# The true posterior as proposal (every weight is p(x)): the sheet's decoder, and a 3-D decoder with orthogonal
# columns (so that its posterior is diagonal) and another noise variance. Then a proposal that is not the posterior.
_rotation = np.array([[0.6, -0.8, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])
posterior_proposals = (
    _importance_case(sheet.W_dec, sheet.b_dec, sheet.noise_var, [[3.0, 2.0], [0.5, -1.0], [4.0, 3.5]]),
    _importance_case(_rotation @ [[1.2, 0.0], [0.0, 0.5], [0.0, 0.0]], [0.3, -0.2, 1.0], 0.3,
                     [[1.0, 2.0, 0.5], [0.0, -1.0, 1.2], [-2.0, 0.5, 0.8], [0.3, 0.3, 0.3]]),
)
other_proposal = _importance_case(sheet.W_dec, sheet.b_dec, sheet.noise_var, [[3.0, 2.0], [0.5, -1.0], [4.0, 3.5]],
                                  q_mean=[[0.5, 0.2], [-0.5, -1.0], [1.5, 1.0]], q_var=[[0.4, 0.9], [0.3, 0.3], [1.2, 0.5]])

# log weights to average: moderate, near -1000 and +800 (exp underflows and overflows), columns a thousand nats
# apart (one maximum for the whole array underflows the others), and K = 1
_r = np.random.default_rng(2213)
iwae_cases = (_frozen(3 * _r.standard_normal((7, 5))), _frozen(-1000 + 5 * _r.standard_normal((4, 3))),
              _frozen(800 + 5 * _r.standard_normal((4, 3))),
              _frozen(np.array([-1e4, 0.0, 700.0]) + 2 * _r.standard_normal((6, 3))), _frozen(_r.standard_normal((1, 4))))


# ---- notebook 1b, Part 7: the approximation gap and the amortisation gap ----------------------------------

# a decoder whose columns are not orthogonal: the posterior's coordinates are correlated
skew = SimpleNamespace(W_dec=_frozen([[1.4, 1.0], [0.0, 1.0]]), b_dec=sheet.b_dec)
skew.post_mean, skew.post_cov = map(_frozen, posterior_by_conditioning(X_true_1b, skew.W_dec, skew.b_dec, sheet.noise_var))


def best_diagonal_gaussian(post_mean, post_cov):
    """argmin over diagonal Gaussians q of KL(q || N(post_mean_i, post_cov)): the same means and the variances
    1 / diag(post_cov^-1), one row per point: (n, d), (n, d)."""
    post_mean = np.asarray(post_mean, float)
    return post_mean, np.tile(1 / np.diag(np.linalg.inv(post_cov)), (len(post_mean), 1))


def approximation_gap(post_cov) -> float:
    """KL(q* || p) for the best diagonal q*: 1/2 [sum_j log (P_jj) + log det post_cov], P = post_cov^-1."""
    return 0.5 * float(np.sum(np.log(np.diag(np.linalg.inv(post_cov)))) + np.linalg.slogdet(post_cov)[1])


def optimal_encoder(W_dec, b_dec, noise_var=sheet.noise_var):
    """The encoder whose q(z | x) is the best diagonal Gaussian at every x: mean Sigma W^T (x - b) / s (affine in x),
    constant variances 1 / diag(Sigma^-1); W_ls = 0."""
    W_dec, b_dec = np.asarray(W_dec, float), np.asarray(b_dec, float)
    post_cov = np.linalg.inv(np.eye(W_dec.shape[1]) + W_dec.T @ W_dec / noise_var)
    A = post_cov @ W_dec.T / noise_var
    return h.LinearVAE.from_arrays(A, -A @ b_dec, np.zeros((W_dec.shape[1], W_dec.shape[0])),
                                   np.log(1 / np.diag(np.linalg.inv(post_cov))), W_dec, b_dec)


# ---- notebook 3: the beta sweep, recomputed (the notebook's own copy sits in a cell the student can edit) -----

@lru_cache(maxsize=None)
def sweep() -> SimpleNamespace:
    """Notebook 3's sweep as its setup and Part 2 compute it: the data X, the 31 betas, and the encoders trained
    with the decoder (trained) and with the decoder frozen at the sheet's (frozen)."""
    X = sheet.mu_data + np.random.default_rng(0).standard_normal((sheet.N, 2))
    betas = np.geomspace(0.05, 10, 31)
    trained, _, _ = h.fit_linear_vae(scenario_1, betas, sheet.mu_data, sheet.Sigma_data)
    frozen, _, _ = h.fit_linear_vae(scenario_1, betas, sheet.mu_data, sheet.Sigma_data, train_decoder=False)
    active = [int(np.sum(np.var(mu, axis=0) > 0.01)) for mu in encoder_means(X, trained)]   # Burda et al.'s count
    return SimpleNamespace(X=X, betas=betas, trained=trained, frozen=frozen, active=active)


def encoder_means(X, fit) -> list[np.ndarray]:
    """The means mu = W_mu x + b_mu of every encoder of a sweep on X: one (n, d) array per beta."""
    return [affine(X, W, b) for W, b in zip(fit["W_mu"], fit["b_mu"])]


def assert_same_encoders(answer, fit, name):
    """The notebook's trained encoders are the sweep's (a given cell computed them: it must not be edited)."""
    for k in ("W_mu", "b_mu"):
        np.testing.assert_allclose(np.asarray(answer[k], float), fit[k], rtol=1e-9, atol=1e-12, err_msg=(
            f"{name}[{k!r}] is not what Part 2's sweep computes: run the notebook from the top without editing the given cells"))


# ---- notebook 3, Part 4: the collapsed point, a saddle below beta* ------------------------------------------

def reduced_collapse_hessian(beta, lam) -> np.ndarray:
    """Hessian of L(w, a) = lam (1 - w a)^2 + w^2 + beta lam a^2 / 2 at (0, 0) (Lucas et al. 2019)."""
    return np.array([[2.0, -2.0 * lam], [-2.0 * lam, beta * lam]])


# symmetric matrices and what their critical point is: off-diagonal entries that change the answer, and 3-D ones
critical_points = (
    (_frozen([[2.0, -2.0], [-2.0, 1.5]]), "saddle"), (_frozen([[2.0, -2.0], [-2.0, 2.5]]), "minimum"),
    (_frozen([[-3.0, 1.0], [1.0, -0.5]]), "maximum"), (_frozen([[-3.0, 2.0], [2.0, -1.0]]), "saddle"),
    (_frozen(np.diag([0.5, 1.0, 2.0])), "minimum"), (_frozen([[1.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 3.0, 1.0]]), "saddle"),
    (_frozen(-np.diag([0.1, 1.0, 2.0])), "maximum"),
)


# ---- notebook 3, Part 5: the aggregate posterior ----------------------------------------------------------

@lru_cache(maxsize=None)
def check_fits() -> tuple:
    """Notebook 3's bound check recomputed: the trained optimum for beta = 0.2, 1 and 1.5, one LinearVAE each."""
    fits, _, _ = h.fit_linear_vae(scenario_1, [0.2, 1.0, 1.5], sheet.mu_data, sheet.Sigma_data)
    return tuple(h.LinearVAE({k: v[i] for k, v in fits.items()}) for i in range(3))


def aggregate_moments(params, mu_data, Sigma_data):
    """Mean (d,) and covariance (d, d) of z = mu(x) + sigma(x) eps over x ~ N(mu_data, Sigma_data)."""
    A, b, C, d = (np.asarray(params[k], float) for k in ("W_mu", "b_mu", "W_ls", "b_ls"))
    m, S = np.asarray(mu_data, float), np.asarray(Sigma_data, float)
    return A @ m + b, A @ S @ A.T + np.diag(np.exp(C @ m + d + 0.5 * np.einsum("jk,kl,jl->j", C, S, C)))


_r = np.random.default_rng(2214)
# encoders with non-symmetric W_mu and W_ls != 0, with a correlated Sigma_data
random_encoders = tuple((h.LinearVAE.from_arrays(_r.standard_normal((2, 2)), _r.standard_normal(2), 0.3 * _r.standard_normal((2, 2)),
                                                 _r.standard_normal(2) - 1, np.eye(2), np.zeros(2)),
                         _frozen(_r.standard_normal(2)), _frozen(_spd(_r, 2, 2))) for _ in range(3))

"""The sheet's linear-Gaussian VAE in closed form: exact expected losses and a β sweep.

Data x ~ N(m, S). Encoder mu = A x + b, log sigma^2 = C x + d. Decoder x' = D z + c.
Every expectation below is over both x and eps, so it is the number a Monte Carlo
estimate over N points fluctuates around. These are not answers to graded questions:
the notebooks grade the Monte Carlo computations, and use these to say how close they are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LinearVAE", "expected_losses", "linear_vae_gradients", "fit_linear_vae", "encoder_mean_variance",
           "expected_log_likelihood", "expected_elbo"]

_NAMES = ("W_mu", "b_mu", "W_ls", "b_ls", "W_dec", "b_dec")


class LinearVAE(dict):
    """Parameters of the linear VAE: W_mu, b_mu, W_ls, b_ls, W_dec, b_dec (optionally batched)."""

    @classmethod
    def from_arrays(cls, W_mu, b_mu, W_ls, b_ls, W_dec, b_dec) -> "LinearVAE":
        """Build from the six arrays, copied as float64."""
        return cls({k: np.array(v, dtype=float) for k, v in zip(_NAMES, (W_mu, b_mu, W_ls, b_ls, W_dec, b_dec))})

    def copy(self) -> "LinearVAE":
        return LinearVAE({k: np.array(v, copy=True) for k, v in self.items()})


def _check(params) -> None:
    missing = [k for k in _NAMES if k not in params]
    if missing:
        raise KeyError(f"linear VAE parameters are missing {missing}; build them with h.LinearVAE.from_arrays(...)")


def _moments(params, m, S):
    """Shared pieces of the closed forms, batched over any leading axes of the parameters."""
    _check(params)
    A, b, C, d, D, c = (np.asarray(params[k], dtype=float) for k in _NAMES)
    m = np.asarray(m, dtype=float)
    S = np.eye(m.shape[-1]) if S is None else np.asarray(S, dtype=float)
    I = np.eye(D.shape[-2], A.shape[-1])
    M = I - D @ A                                                    # (.., n, n): x - x' = M x - ...
    v = M @ m - (D @ b[..., None])[..., 0] - c                       # mean residual
    e = np.exp(C @ m + d + 0.5 * np.einsum("...jk,kl,...jl->...j", C, S, C))  # E[sigma_j^2]
    w = np.sum(D ** 2, axis=-2)                                      # ||column j of D||^2
    mean_mu = A @ m + b
    return A, b, C, d, D, c, m, S, M, v, e, w, mean_mu


def expected_losses(params, m, S=None):
    """Exact E[L_recon] and E[L_KL] (floats, or arrays for batched params) for x ~ N(m, S)."""
    A, b, C, d, D, c, m, S, M, v, e, w, mean_mu = _moments(params, m, S)
    recon = (np.einsum("...ij,jk,...ik->...", M, S, M) + np.sum(v ** 2, axis=-1) + np.sum(w * e, axis=-1))
    e_mu2 = np.einsum("...jk,kl,...jl->...j", A, S, A) + mean_mu ** 2
    kl = 0.5 * np.sum(e + e_mu2 - (C @ m + d) - 1.0, axis=-1)
    return recon, kl


def expected_log_likelihood(params, m, S=None, noise_var=0.5):
    """Exact E_x[log p(x)] for x ~ N(m, S) under the model z ~ N(0, I), x | z ~ N(W_dec z + b_dec, noise_var I).

    The model's marginal is p(x) = N(b_dec, W_dec W_dec^T + noise_var I), so the expectation is
    -1/2 [n log 2 pi + log det K + tr(K^-1 S) + (m - b_dec)^T K^-1 (m - b_dec)] with K that covariance.
    """
    _check(params)
    D = np.asarray(params["W_dec"], dtype=float)
    c = np.asarray(params["b_dec"], dtype=float)
    m = np.asarray(m, dtype=float)
    n = m.shape[-1]
    S = np.eye(n) if S is None else np.asarray(S, dtype=float)
    K = D @ np.swapaxes(D, -1, -2) + noise_var * np.eye(n)
    Kinv = np.linalg.inv(K)
    r = m - c
    quad = np.einsum("...i,...ij,...j->...", r, Kinv, r)
    return -0.5 * (n * np.log(2 * np.pi) + np.linalg.slogdet(K)[1] + np.einsum("...ij,ji->...", Kinv, S) + quad)


def expected_elbo(params, m, S=None, noise_var=0.5):
    """Exact E_x[ELBO(x)] for the same model: -E[L_recon] / (2 noise_var) - E[L_KL] - n/2 log(2 pi noise_var).

    With noise_var = 1/2 this is -(E[L_recon] + E[L_KL]) - log pi for n = 2: the course's Loss is the
    negative ELBO up to that constant.
    """
    recon, kl = expected_losses(params, m, S)
    n = np.asarray(m).shape[-1]
    return -recon / (2 * noise_var) - kl - 0.5 * n * np.log(2 * np.pi * noise_var)


def encoder_mean_variance(params, S=None) -> np.ndarray:
    """Variance over x of each encoder mean, diag(W_mu S W_mu^T): (.., d). Active when > 0.01."""
    A = np.asarray(params["W_mu"], dtype=float)
    S = np.eye(A.shape[-1]) if S is None else np.asarray(S, dtype=float)
    return np.einsum("...jk,kl,...jl->...j", A, S, A)


def linear_vae_gradients(params, beta, m, S=None) -> dict:
    """Gradient of E[L_recon] + beta * E[L_KL] with respect to each parameter (batched)."""
    A, b, C, d, D, c, m, S, M, v, e, w, mean_mu = _moments(params, m, S)
    beta = np.asarray(beta, dtype=float)[..., None]
    Dt = np.swapaxes(D, -1, -2)
    g = {}
    # reconstruction: tr(M S M^T) + ||v||^2 + sum_j w_j e_j
    g["W_mu"] = -2 * Dt @ (M @ S + v[..., :, None] * m[None, :]) + beta[..., None] * (A @ S + mean_mu[..., :, None] * m)
    g["b_mu"] = -2 * (Dt @ v[..., None])[..., 0] + beta * mean_mu
    we = w * e
    CS = C @ S
    g["W_ls"] = we[..., None] * (m + CS) + beta[..., None] * 0.5 * (e[..., None] * (m + CS) - m)
    g["b_ls"] = we + beta * 0.5 * (e - 1.0)
    g["W_dec"] = -2 * M @ S @ np.swapaxes(A, -1, -2) - 2 * v[..., :, None] * mean_mu[..., None, :] + 2 * D * e[..., None, :]
    g["b_dec"] = -2 * v
    return g


def fit_linear_vae(init, betas, m, S=None, steps=4000, lr=0.05, train_decoder=True):
    """Minimise E[L_recon] + beta E[L_KL] by gradient descent (Adam steps) from init, for every beta at once.

    Returns (params batched over betas, recon (B,), kl (B,)). With train_decoder=False the
    decoder stays at init and only the encoder learns.
    """
    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or np.any(betas <= 0):
        raise ValueError("betas must be a 1-D array of positive numbers, e.g. np.geomspace(0.05, 10, 30)")
    _check(init)
    start = {k: np.repeat(np.asarray(init[k], dtype=float)[None], len(betas), axis=0) for k in _NAMES}
    trainable = _NAMES if train_decoder else _NAMES[:4]
    # every trainable parameter is a view into one flat (B, P) array, so each Adam step is a few whole-array operations
    flat = np.concatenate([start[k].reshape(len(betas), -1) for k in trainable], axis=1)
    edges = np.cumsum([0] + [start[k][0].size for k in trainable])
    params = dict(start)
    params.update({k: flat[:, i:j].reshape(start[k].shape) for k, i, j in zip(trainable, edges[:-1], edges[1:])})
    first, second = np.zeros_like(flat), np.zeros_like(flat)
    b1, b2, eps = 0.9, 0.999, 1e-12
    decay = 0.01 ** (1.0 / steps)  # the step shrinks to lr/100 by the end, so Adam settles
    for t in range(1, steps + 1):
        grads = linear_vae_gradients(params, betas, m, S)
        g = np.concatenate([grads[k].reshape(len(betas), -1) for k in trainable], axis=1)
        first = b1 * first + (1 - b1) * g
        second = b2 * second + (1 - b2) * g ** 2
        flat -= lr * decay ** t * ((first / (1 - b1 ** t)) / (np.sqrt(second / (1 - b2 ** t)) + eps))
    params = {k: np.array(v) for k, v in params.items()}
    recon, kl = expected_losses(params, m, S)
    return LinearVAE(params), recon, kl

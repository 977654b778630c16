"""mnist_vaes's hidden fixtures: the hidden tests' inputs and the exact expectations they compare with.

A hidden test imports what it needs (``from hidden_fixtures import kl_normal, exact, close``) and reads like
the maths it checks. Only the grader's checker process and the instructor's own kernels (solutions/, make
course) import this file: nbgrader_config.py keeps it out of the student release (CourseDirectory.ignore), a
grading kernel's sandbox never holds it, and make feedback's leak check looks for its lines in every feedback
page (tests/test_fixtures.py checks all three).

- Inputs: small batches drawn from fixed seeds, and hand-made batches that no release publishes (the
  release's worked examples are the student's; the grades come from these).
- Exact expectations: the closed forms, in float64. A student's answer, in whatever float dtype, is compared
  with them at the question's own tolerance (``close``), never at one derived from the answer.
- Gradients: ``exact(f, ...)`` also returns the gradients of the closed form, and ``check_gradients``
  compares them with the gradients of the student's function (the checker gets them from the kernel).
- Mixture priors: the KL from a diagonal Gaussian to a Gaussian mixture, its gradients and the standard
  deviation of one Monte Carlo sample of each, by Gauss-Hermite quadrature, so that a Monte Carlo answer is held
  to five standard errors of its own sample size. Every call checks the rule against a coarser one: the two agree
  to a small fraction of those standard errors for the inputs here (posteriors no wider than about the
  components; a much wider one would need more nodes, and says so).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import torch

F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)
FLOAT64_HINT = "with float64 inputs the values differ: the dtype, not the formula, is the problem"


# ---------------------------------------------------------------- comparing an answer with the maths

def _f64(t) -> torch.Tensor:
    return torch.as_tensor(t).detach().to(F64)


def close(actual, expected, msg: str, rtol: float = 1e-5, atol: float = 1e-5):
    """actual (any float dtype) equals the float64 expectation within the question's tolerance."""
    assert isinstance(actual, torch.Tensor), f"{msg} (expected a tensor, got {type(actual).__name__})"
    torch.testing.assert_close(_f64(actual), _f64(expected), rtol=rtol, atol=atol,
                               msg=lambda detail: f"{msg}\n{detail}")


def matches(actual, expected, rtol: float = 1e-4, atol: float = 1e-4) -> bool:
    """True if actual equals expected (for recognising a known mistake)."""
    a, e = _f64(actual), _f64(expected)
    return a.shape == e.shape and bool(torch.allclose(a, e, rtol=rtol, atol=atol))


def explain(actual, mistakes: dict):
    """Fail with the hint of the first known mistake ({hint: what that mistake returns}) that actual matches."""
    for hint, wrong in mistakes.items():
        assert not matches(actual, wrong), hint


def exact(f, *args, **kwargs) -> SimpleNamespace:
    """f's float64 value on float64 copies of the tensor arguments, and the gradients of value.sum() with
    respect to every floating argument that requires gradients (in argument order): .value, .grads, .inputs."""
    inputs, copies = [], []
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            c = _f64(a).requires_grad_(a.requires_grad)
            if a.requires_grad:
                inputs.append(a)
            copies.append(c)
        else:
            copies.append(a)
    value = f(*copies, **kwargs)
    wrt = [c for c in copies if isinstance(c, torch.Tensor) and c.requires_grad]
    grads = torch.autograd.grad(value.sum(), wrt, allow_unused=True) if wrt else ()
    grads = [torch.zeros_like(c) if g is None else g.detach() for c, g in zip(wrt, grads)]
    return SimpleNamespace(value=value.detach(), grads=grads, inputs=inputs)


def check_gradients(out, want: SimpleNamespace, msg: str, rtol: float = 1e-5, atol: float = 1e-5):
    """The gradients of out.sum() with respect to want's inputs equal the exact ones (want = exact(...))."""
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the result does not depend on the inputs' gradients: do not detach, and compute it with torch operations")
    grads = torch.autograd.grad(out.sum(), want.inputs, allow_unused=True)
    for x, got, expected in zip(want.inputs, grads, want.grads):
        close(torch.zeros_like(x) if got is None else got, expected, msg, rtol=rtol, atol=atol)


def in_float64(fn, *args, **kwargs):
    """fn called on float64 copies of its floating tensor arguments (integer labels stay as they are)."""
    args = [_f64(a) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001  (any failure here is the dtype's)
        raise AssertionError(f"the function fails on float64 inputs ({type(e).__name__}: {e}): "
                             "the dtype, not the formula, is the problem") from None


def five_standard_errors(sd, n: int):
    """The tolerance of a mean of n independent draws whose standard deviation is sd: a correct answer
    fails with probability below 1e-6."""
    return 5 * sd / math.sqrt(n)


def within_monte_carlo_error(estimate, expected, sd, n: int, msg: str):
    """A Monte Carlo estimate from n samples per entry is within five standard errors of its expectation
    (sd: one sample's standard deviation, 0 where the answer is exact; 1e-5 more for float32 rounding)."""
    got, want = _f64(estimate), _f64(expected)
    assert got.shape == want.shape, f"{msg} (expected shape {tuple(want.shape)}, got {tuple(got.shape)})"
    # `not <=` rather than `>`: a NaN is within no error (a NaN returned only for the hidden inputs passed `>`)
    bad = ~((got - want).abs() <= five_standard_errors(_f64(sd), n) + 1e-5)
    assert not bad.any(), (f"{msg}\n  got      {[round(v, 4) for v in got.reshape(-1).tolist()]}\n"
                           f"  expected {[round(v, 4) for v in want.reshape(-1).tolist()]} within five standard "
                           f"errors of {n} samples, {[round(v, 4) for v in five_standard_errors(_f64(sd), n).reshape(-1).tolist()]}")


# ---------------------------------------------------------------- inputs

def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gaussians(seed: int, batch: int, dim: int, log_var_sd: float = 0.7):
    """(mu, log_var): a batch of diagonal Gaussians, float32 leaves that require gradients; log_var ~ N(0, log_var_sd^2)."""
    g = _generator(seed)
    mu = torch.randn(batch, dim, generator=g)
    log_var = log_var_sd * torch.randn(batch, dim, generator=g)
    return mu.requires_grad_(), log_var.requires_grad_()


def diag_prior(seed: int, dim: int):
    """(mu_p, var_p): a diagonal Gaussian prior with unequal variances, float32."""
    g = _generator(seed)
    return torch.randn(dim, generator=g), 0.2 + 2 * torch.rand(dim, generator=g)


def images(seed: int, batch: int):
    """(x, x_hat): images and reconstructions of 784 pixels in (0, 1); x_hat requires gradients."""
    g = _generator(seed)
    return torch.rand(batch, 784, generator=g), torch.rand(batch, 784, generator=g).requires_grad_()


def labelled_codes(seed: int, n: int, dim: int, digits=range(10)):
    """(mu, labels): n latent means with correlated coordinates of different scales, and integer labels."""
    g = _generator(seed)
    mix = torch.tril(torch.randn(dim, dim, generator=g)) + torch.diag(torch.linspace(0.5, 2.0, dim))
    mu = torch.randn(n, dim, generator=g) @ mix.T + torch.randn(dim, generator=g)
    labels = torch.as_tensor(list(digits))[torch.randint(0, len(digits), (n,), generator=g)]
    return mu, labels


def hand_batch() -> SimpleNamespace:
    """A hand-made batch for the label-conditional KLs (notebooks 02 and 03), unlike the release's worked example:
    five codes in d = 2 (mu and log_var: leaves that require gradients), the expert's targets 2 and 6 (rows 0, 3
    and 4), and a diagonal target prior."""
    return SimpleNamespace(
        mu=torch.tensor([[1.0, -1.0], [0.5, 0.5], [-2.0, 1.0], [0.0, 0.0], [1.5, 2.0]]).requires_grad_(),
        log_var=torch.log(torch.tensor([[0.5, 2.0], [1.0, 0.25], [3.0, 1.0], [1.0, 1.0], [0.3, 0.6]])).requires_grad_(),
        labels=torch.tensor([2, 7, 0, 6, 6]), targets=[2, 6],
        mu_p=torch.tensor([1.0, 0.5]), var_p=torch.tensor([0.5, 1.5]))


def mixture(weights, means, covs) -> SimpleNamespace:
    """A Gaussian mixture prior (weights (K,), means (K, D), covs (K, D, D)), float32 like the notebook's."""
    return SimpleNamespace(weights=torch.tensor(weights), means=torch.tensor(means), covs=torch.tensor(covs))


# Three components in d = 2: unequal weights, distinct means and full covariances of different sizes.
three_components = mixture([0.5, 0.3, 0.2], [[1.0, 0.5], [-1.5, 1.0], [0.5, -2.0]],
                           [[[0.8, 0.3], [0.3, 0.6]], [[0.4, -0.1], [-0.1, 1.2]], [[1.5, 0.0], [0.0, 0.3]]])
# Two components off the diagonal z_1 = z_2 (a KL that draws one noise value for both dimensions is off).
two_components = mixture([0.7, 0.3], [[2.0, -1.0], [-1.0, 1.5]],
                         [[[0.5, 0.2], [0.2, 0.4]], [[1.0, -0.3], [-0.3, 0.6]]])
one_component = mixture([1.0], [[0.2, 0.1]], [[[1.5, 0.4], [0.4, 0.8]]])


# ---------------------------------------------------------------- exact expectations (float64)

def kl_normal(mu, log_var):
    """KL(N(mu, diag exp(log_var)) || N(0, I)) per row: 0.5 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)."""
    return 0.5 * (mu ** 2 + log_var.exp() - 1.0 - log_var).sum(dim=-1)


def kl_diag(mu, log_var, mu_p, var_p):
    """KL(N(mu, diag exp(log_var)) || N(mu_p, diag var_p)) per row."""
    return 0.5 * (log_var.exp() / var_p + (mu - mu_p) ** 2 / var_p - 1.0 - log_var + torch.log(var_p)).sum(dim=-1)


def recon_error(x, x_hat):
    """Mean over images of the per-image sum of squared pixel errors."""
    return ((x - x_hat) ** 2).sum(dim=1).mean()


def vae_objective(x, x_hat, mu, log_var, beta):
    """recon + beta * mean KL to N(0, I)."""
    return recon_error(x, x_hat) + beta * kl_normal(mu, log_var).mean()


def is_target(labels, targets):
    return torch.isin(labels, torch.as_tensor(list(targets), dtype=labels.dtype))


def labelled_goal(mu, log_var, labels, targets, mu_p, var_p):
    """The KL to the target prior for target rows, to N(0, I) for the others."""
    return torch.where(is_target(labels, targets), kl_diag(mu, log_var, mu_p, var_p), kl_normal(mu, log_var))


def target_stats(mu, labels, targets):
    """(mean, population variance, count) of the rows of mu whose label is a target."""
    chosen = _f64(mu)[is_target(labels, targets)]
    return chosen.mean(dim=0), chosen.var(dim=0, unbiased=False), chosen.shape[0]


def gmm_log_density(z, weights, means, covs):
    """log sum_k pi_k N(z | mu_k, Sigma_k), for z of shape (..., D), by a stable log-sum-exp."""
    chol = torch.linalg.cholesky(covs)
    diff = (z[..., None, :] - means).unsqueeze(-1)
    maha = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1).pow(2).sum(-1)
    log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return torch.logsumexp(torch.log(weights) - 0.5 * (means.shape[-1] * LOG_2PI + log_det + maha), dim=-1)


def log_density(z, prior: SimpleNamespace):
    return gmm_log_density(z, _f64(prior.weights), _f64(prior.means), _f64(prior.covs))


def _hermite_grid(dim: int, nodes: int):
    """Nodes and weights of E[f(eps)], eps ~ N(0, I_dim), by a product Gauss-Hermite rule."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    grid = np.stack([g.ravel() for g in np.meshgrid(*[x] * dim, indexing="ij")], axis=1)
    weight = np.prod(np.meshgrid(*[w] * dim, indexing="ij"), axis=0).ravel()
    return torch.tensor(grid), torch.tensor(weight)


def kl_to_mixture(mu, log_var, prior: SimpleNamespace, nodes: int = 120) -> SimpleNamespace:
    """KL(q || p) per row for q = N(mu, diag exp(log_var)) and the mixture p, with the standard deviation of one
    Monte Carlo sample of log q(z) - log p(z) (sd) and of its reparameterised gradients (sd_mu, sd_log_var);
    the exact gradients of the KL are d_mu and d_log_var. All by quadrature over z = mu + sigma * eps, checked
    against a rule with two thirds of the nodes: they must agree to a tenth of the standard error of 20,000
    samples (the finer rule is then within a few hundredths of it, against a tolerance of five)."""
    exact_ = _quadrature(mu, log_var, prior, nodes)
    coarse = _quadrature(mu, log_var, prior, 2 * nodes // 3)
    for key, sd in (("value", "sd"), ("d_mu", "sd_mu"), ("d_log_var", "sd_log_var")):
        gap = (getattr(exact_, key) - getattr(coarse, key)).abs() / (getattr(exact_, sd) / math.sqrt(20_000) + 1e-12)
        if gap.max() > 0.1:
            raise RuntimeError(f"the quadrature of the mixture KL has not converged ({key}): give the hidden test "
                               "narrower posteriors, or more nodes")
    return exact_


def _quadrature(mu, log_var, prior: SimpleNamespace, nodes: int) -> SimpleNamespace:
    mu, log_var = _f64(mu).requires_grad_(), _f64(log_var).requires_grad_()
    eps, w = _hermite_grid(mu.shape[-1], nodes)
    z = mu[:, None, :] + torch.exp(0.5 * log_var)[:, None, :] * eps                    # (B, nodes, D)
    log_q = -0.5 * (mu.shape[-1] * LOG_2PI + log_var.sum(-1, keepdim=True) + (eps ** 2).sum(-1))
    sample = log_q - log_density(z, prior)                                             # (B, nodes)
    kl = (w * sample).sum(-1)
    # one sample's gradients: d/d mu = -grad log p(z), d/d log_var = -1/2 - grad log p(z) * sigma * eps / 2
    score = torch.autograd.grad(sample.sum(), z, retain_graph=True)[0]                 # d sample / d z
    g_mu, g_lv = score, -0.5 + score * 0.5 * torch.exp(0.5 * log_var)[:, None, :] * eps

    def mean_sd(g):
        m = (w[:, None] * g).sum(1)
        return m.detach(), ((w[:, None] * (g - m[:, None, :]) ** 2).sum(1)).sqrt().detach()

    (d_mu, sd_mu), (d_lv, sd_lv) = mean_sd(g_mu), mean_sd(g_lv)
    sd = ((w * (sample - kl[:, None]) ** 2).sum(-1)).sqrt()
    return SimpleNamespace(value=kl.detach(), sd=sd.detach(), d_mu=d_mu, d_log_var=d_lv, sd_mu=sd_mu, sd_log_var=sd_lv)


def labelled_mixture(mu, log_var, labels, targets, prior: SimpleNamespace) -> SimpleNamespace:
    """The label-conditional KL per row (the mixture KL for target rows, the closed form to N(0, I) for the
    others), its gradients, and the standard deviations of one Monte Carlo sample of each (0 where exact)."""
    mixed = kl_to_mixture(mu, log_var, prior)
    normal = exact(kl_normal, _f64(mu).requires_grad_(), _f64(log_var).requires_grad_())
    rows = is_target(labels, targets)
    cols = rows[:, None]
    return SimpleNamespace(
        is_target=rows, mixture=mixed.value, normal=normal.value,
        value=torch.where(rows, mixed.value, normal.value), sd=torch.where(rows, mixed.sd, 0.0),
        d_mu=torch.where(cols, mixed.d_mu, normal.grads[0]), sd_mu=torch.where(cols, mixed.sd_mu, 0.0),
        d_log_var=torch.where(cols, mixed.d_log_var, normal.grads[1]), sd_log_var=torch.where(cols, mixed.sd_log_var, 0.0))

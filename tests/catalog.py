"""A catalog of submissions for testing the autograders: mistakes, valid alternatives, cheats and faults.

Every entry is the reference solution of one notebook with one small edit. Edits address cells by
their id (solution cells have id == grade_id) and replace text that must occur exactly once there.

Expectations, checked by tests/test_grading_catalog.py:
- mutant:      scores below the reference, losing points only on the grade_ids in `loses`;
- alternative: full marks;
- cheat:       gains nothing: loses points on `loses` (or, with loses=(), scores exactly the reference);
- fault:       grading finishes; the grade_ids in `loses` lose points, every other part keeps them;
- cheat with a twin: scores exactly what the twin (the mutant with the same honest mistakes) scores, except on
               the grade_ids of `loses` that the twin keeps, where it loses points;
- attack:      the untouched release plus one attacking cell (tests/attacks.py), graded as a student of
               its own next to honest classmates: it scores 0, and every classmate keeps full marks;
- oracle:      mnist_vaes functions that pick between an honest mistake and the right answer by running the
               test cells found next to them: they score what the same mistakes score without the oracle;
- shape:       a link, FIFO, device, socket, oversized file or markup name in place of a submission's folder
               or notebook: refused, with the reason in the class table's error column.
The exact per-question scores of every entry are pinned in tests/golden_scores.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

import attacks

ROOT = Path(__file__).resolve().parent.parent
VBH = "vae_by_hand"
NB1, NB2, NB3 = "01_forward_pass_and_losses", "02_latent_collapse_and_beta", "03_beta_vae_experiment"
NB1B = "01b_elbo_and_its_gap"


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    assignment: str
    notebook: str
    edits: tuple = ()                      # ((cell_id, old, new), ...)
    loses: tuple = ()                      # grade_ids that must lose points
    transform: Callable | None = field(default=None, compare=False)  # nb -> nb, after the edits
    raw: str | None = None                 # write this text instead of a notebook (corrupted file)
    twin: str | None = None                # a cheat: the mutant with its honest mistakes, whose scores it must not beat


def M(name, nb, cell, old, new, loses, **kw):
    return Entry(name, "mutant", VBH, nb, ((cell, old, new),), tuple(loses), **kw)


def A(name, nb, edits, **kw):
    return Entry(name, "alternative", VBH, nb, tuple(edits), (), **kw)


# grade_ids, for readability
X1, PAR1, ENC1, SIG1, EPS1, Z1, DEC1, REC1, KL1, TOT1 = (
    "x_true_is_gaussian_sample", "sheet_parameters", "encoder_outputs", "sigma_from_log_var",
    "eps_is_standard_normal_per_point", "z_is_reparameterized_sample", "decoder_outputs",
    "recon_loss_is_mean_squared_distance", "kl_loss_is_mean_closed_form_kl", "total_loss_is_sum")
FWD2, LOSS2, S1_2, PAR2, ENC2, LAT2, DEC2, REC2, KL2, LB2, LCB2 = (
    "forward_function_is_the_linear_vae", "loss_function_reductions", "scenario_1_rebuilt", "collapse_parameters",
    "collapse_encoder_outputs", "collapse_latent_sample", "collapse_reconstruction",
    "collapse_l_recon_c_matches_expectation", "collapse_l_kl_c_matches_expectation",
    "beta_weighted_loss_beta", "beta_weighted_loss_c_beta")
AU3, SW3, BS3 = "active_units_counts_varying_means", "sweep_active_units", "collapse_threshold_matches_theory"
CC2 = "consistent_collapse_losses"
TP1B, GAP1B = "true_posterior_of_linear_gaussian", "elbo_gap_is_kl_to_posterior"
KLG1B, IW1B, LW1B, IWK1B, BQ1B, AG1B = (
    "kl_gaussians_closed_form", "iwae_is_a_stable_log_mean_exp", "log_weights_are_importance_weights", "iwae_rises_to_log_px",
    "best_diagonal_q_minimises_kl", "approximation_gap_of_the_skew_decoder")
HES3, SAD3, AGG3 = "collapse_hessian_of_the_linear_vae", "collapse_is_a_saddle_below_beta_star", "aggregate_posterior_is_the_prior"

X_LINE = "X_true = rng.multivariate_normal(mu_data, Sigma_data, size=N)"
ENC_LINES = "mu = X_true @ W_mu.T + b_mu\nlog_var = X_true @ W_ls.T + b_ls"
REP_LINES = "sigma = np.exp(0.5 * log_var)\neps = rng.standard_normal((N, 2))\nZ = mu + sigma * eps"
GAPS_LINE = "gap_2 = kl_gaussians(*encoder_q(scenario_2), post_mean, post_cov)"
BETA_LINES = "Loss_beta = L_recon + beta * L_KL\nLoss_c_beta = L_recon_c + beta * L_KL_c"
LOSS_LINES = ("recon_err = np.sum((X_true - X_prime) ** 2, axis=1)\n"
              "D_KL = 0.5 * np.sum(np.exp(log_var) + mu ** 2 - log_var - 1.0, axis=1)")

MUTANTS = [
    # notebook 1: data, encoder, reparameterization, decoder, losses
    M("m01_uniform_data", NB1, "solution_x_true", X_LINE,
      "X_true = mu_data + rng.uniform(-3 ** 0.5, 3 ** 0.5, size=(N, 2))", [X1]),
    M("m02_data_not_shifted", NB1, "solution_x_true", X_LINE,
      "X_true = rng.multivariate_normal(np.zeros(2), Sigma_data, size=N)", [X1, REC1, KL1]),
    M("m03_data_variance_4", NB1, "solution_x_true", X_LINE,
      "X_true = rng.multivariate_normal(mu_data, 4 * Sigma_data, size=N)", [X1, REC1, KL1]),
    M("m04_bias_typo", NB1, "solution_parameters", "b_mu = np.array([-0.5, -0.25])",
      "b_mu = np.array([-0.5, 0.25])", [PAR1, ENC1, REC1, KL1]),
    M("m05_decoder_weight_typo", NB1, "solution_parameters", "W_dec = np.array([[1.4, 0.0], [0.0, 1.4]])",
      "W_dec = np.array([[1.5, 0.0], [0.0, 1.5]])", [PAR1, DEC1]),
    M("m06_log_var_from_w_mu", NB1, "solution_encode", "log_var = X_true @ W_ls.T + b_ls",
      "log_var = X_true @ W_mu.T + b_ls", [ENC1, REC1]),
    M("m07_sigma_is_variance", NB1, "solution_reparameterize", "sigma = np.exp(0.5 * log_var)",
      "sigma = np.exp(log_var)", [SIG1, Z1, REC1]),
    M("m08_one_eps_for_all_points", NB1, "solution_reparameterize", "eps = rng.standard_normal((N, 2))",
      "eps = np.tile(rng.standard_normal((1, 2)), (N, 1))", [EPS1, REC1]),
    M("m09_uniform_noise", NB1, "solution_reparameterize", "eps = rng.standard_normal((N, 2))",
      "eps = rng.uniform(-1, 1, size=(N, 2))", [EPS1, REC1]),
    M("m10_same_noise_both_coordinates", NB1, "solution_reparameterize", "eps = rng.standard_normal((N, 2))",
      "eps = np.repeat(rng.standard_normal((N, 1)), 2, axis=1)", [EPS1]),
    M("m11_no_noise", NB1, "solution_reparameterize", "Z = mu + sigma * eps", "Z = mu", [Z1, REC1]),
    M("m12_noise_scaled_by_variance", NB1, "solution_reparameterize", "Z = mu + sigma * eps",
      "Z = mu + np.exp(log_var) * eps", [Z1, REC1]),
    M("m13_decoder_bias_missing", NB1, "solution_decode", "X_prime = Z @ W_dec.T + b_dec",
      "X_prime = Z @ W_dec.T", [DEC1, REC1]),
    M("m14_recon_sum_over_points", NB1, "solution_losses", "L_recon = float(np.mean(recon_err))",
      "L_recon = float(np.sum(recon_err))", [REC1, TOT1]),
    M("m15_recon_per_coordinate", NB1, "solution_losses", "recon_err = np.sum((X_true - X_prime) ** 2, axis=1)",
      "recon_err = np.mean((X_true - X_prime) ** 2, axis=1)", [REC1, TOT1]),
    M("m16_kl_half_dropped", NB1, "solution_losses", "D_KL = 0.5 * np.sum(", "D_KL = np.sum(", [KL1, TOT1]),
    M("m17_kl_sigma_for_variance", NB1, "solution_losses", "np.exp(log_var) + mu ** 2",
      "np.exp(0.5 * log_var) + mu ** 2", [KL1, TOT1]),
    M("m18_kl_sign_error", NB1, "solution_losses", "- log_var - 1.0", "+ log_var - 1.0", [KL1, TOT1]),
    M("m19_loss_hardcoded", NB1, "solution_losses", "Loss = L_recon + L_KL", "Loss = 3.3124", [TOT1]),
    M("m20_kl_mean_over_coordinates", NB1, "solution_losses", "L_KL = float(np.mean(D_KL))",
      "L_KL = float(np.mean(0.5 * (np.exp(log_var) + mu ** 2 - log_var - 1.0)))", [KL1, TOT1]),
    # notebook 2: functions, collapse, beta
    M("m21_encoder_matrix_wrong_side", NB2, "solution_functions", "mu = X @ W_mu.T + b_mu",
      "mu = X @ W_mu + b_mu", [FWD2, ENC2, KL2, CC2]),
    M("m22_eps_shared_in_function", NB2, "solution_functions", "eps = rng.standard_normal(X.shape)",
      "eps = rng.standard_normal(X.shape[1])", [FWD2, S1_2, LAT2, REC2, LB2, LCB2]),
    M("m23_kl_sum_over_points", NB2, "solution_functions", "L_KL = float(np.mean(0.5 * np.sum(",
      "L_KL = float(np.sum(0.5 * np.sum(", [LOSS2, S1_2, KL2, LB2, LCB2, CC2]),
    M("m24_collapse_weight_typo", NB2, "solution_collapse_parameters", "W_mu_c = np.array([[0.01, 0.01], [-0.01, -0.01]])",
      "W_mu_c = np.array([[0.01, 0.01], [-0.01, 0.01]])", [PAR2, ENC2, KL2, CC2]),
    M("m25_collapse_uses_standard_encoder", NB2, "solution_scenario_2_forward",
      "vae_forward(X_true, W_mu_c, b_mu_c, W_ls_c, b_ls_c, W_dec, b_dec, rng)",
      "vae_forward(X_true, W_mu, b_mu, W_ls, b_ls, W_dec, b_dec, rng)", [ENC2, LAT2, REC2, KL2, LCB2]),
    M("m26_previous_scenario_copied", NB2, "solution_scenario_2_losses",
      "L_recon_c, L_KL_c, Loss_c = vae_losses(X_true, X_prime_c, mu_c, log_var_c)",
      "L_recon_c, L_KL_c, Loss_c = L_recon, L_KL, Loss", [REC2, KL2, LCB2]),
    M("m27_beta_on_wrong_term", NB2, "solution_beta", "Loss_beta = L_recon + beta * L_KL",
      "Loss_beta = beta * L_recon + L_KL", [LB2]),
    M("m28_beta_loss_from_scenario_1", NB2, "solution_beta", "Loss_c_beta = L_recon_c + beta * L_KL_c",
      "Loss_c_beta = L_recon + beta * L_KL", [LCB2]),
    M("m29_beta_typo", NB2, "solution_beta", "beta = 0.2", "beta = 0.02", [LB2, LCB2]),
    M("m30_collapse_decoder_without_bias", NB2, "solution_scenario_2_forward",
      "W_dec, b_dec, rng)", "W_dec, np.zeros(2), rng)", [DEC2, REC2, LCB2]),
    # notebook 3: active units and the threshold
    M("m31_active_units_by_std", NB3, "solution_active_units", "np.var(mu, axis=0)", "np.std(mu, axis=0)", [AU3, BS3]),
    M("m32_active_units_wrong_axis", NB3, "solution_active_units", "np.var(mu, axis=0)", "np.var(mu, axis=1)",
      [AU3, SW3]),
    M("m33_active_units_by_mean", NB3, "solution_active_units", "np.var(mu, axis=0) > threshold",
      "np.abs(np.mean(mu, axis=0)) > threshold", [AU3]),
    M("m34_beta_star_without_factor_2", NB3, "solution_beta_star",
      "beta_star = 2 * float(np.linalg.eigvalsh(Sigma_data).max())",
      "beta_star = float(np.linalg.eigvalsh(Sigma_data).max())", [BS3]),
    M("m35_last_active_beta", NB3, "solution_beta_star", "betas[np.argmax(n_active == 0)]",
      "betas[np.argmax(n_active == 0) - 1]", [BS3]),
    M("m36_frozen_counts_from_trained", NB3, "solution_sweep_active_units",
      'active_units(X @ frozen["W_mu"][k].T + frozen["b_mu"][k])',
      'active_units(X @ trained["W_mu"][k].T + trained["b_mu"][k])', [SW3]),
    # the test-gap classes of issue 13, one mutant each: a number typed from a 4-decimal printout,
    # a per-coordinate definition that only differs on correlated inputs, noise shared between dimensions
    M("m37_recon_typed_4_decimals", NB1, "solution_losses", "L_recon = float(np.mean(recon_err))",
      "L_recon = round(float(np.mean(recon_err)), 4)", [REC1]),
    M("m38_eps_shared_between_dimensions", NB2, "solution_functions", "eps = rng.standard_normal(X.shape)",
      "eps = np.repeat(rng.standard_normal((X.shape[0], 1)), X.shape[1], axis=1)", [FWD2, LAT2]),
    M("m39_loss_beta_typed_4_decimals", NB2, "solution_beta", "Loss_beta = L_recon + beta * L_KL",
      "Loss_beta = round(L_recon + beta * L_KL, 4)", [LB2]),
    M("m40_consistent_collapse_keeps_decoder", NB2, "solution_consistent_collapse", "W_dec_cc = np.zeros((2, 2))",
      "W_dec_cc = W_dec.copy()", [CC2]),
    M("m41_consistent_collapse_loss_typed", NB2, "solution_consistent_collapse",
      "L_recon_cc, L_KL_cc, Loss_cc = vae_losses(X_true, X_prime_cc, mu_cc, log_var_cc)",
      "L_recon_cc, L_KL_cc, Loss_cc = vae_losses(X_true, X_prime_cc, mu_cc, log_var_cc)\nLoss_cc = round(Loss_cc, 4)", [CC2]),
    M("m42_active_units_by_principal_directions", NB3, "solution_active_units",
      "return int(np.sum(np.var(mu, axis=0) > threshold))",
      "return int(np.sum(np.linalg.eigvalsh(np.atleast_2d(np.cov(np.asarray(mu).T, bias=True))) > threshold))", [AU3]),
    # notebook 1b: the true posterior and the ELBO's gap
    M("m43_posterior_ignores_noise_variance", NB1B, "solution_true_posterior",
      "np.eye(d) + W_dec.T @ W_dec / noise_var", "np.eye(d) + W_dec.T @ W_dec", [TP1B, GAP1B, AG1B]),
    M("m44_posterior_covariance_diagonal_only", NB1B, "solution_true_posterior",
      "post_cov = np.linalg.inv(np.eye(d) + W_dec.T @ W_dec / noise_var)",
      "post_cov = np.diag(1 / np.diag(np.eye(d) + W_dec.T @ W_dec / noise_var))", [TP1B, AG1B]),
    M("m45_posterior_mean_without_bias", NB1B, "solution_true_posterior", "(X - b_dec) @ W_dec", "X @ W_dec", [TP1B, GAP1B]),
    M("m46_gap_log_det_sign", NB1B, "solution_kl_gaussians", "np.linalg.slogdet(np.asarray(S1, dtype=float))[1] - np.linalg.slogdet(S0)[1]",
      "np.linalg.slogdet(S0)[1] - np.linalg.slogdet(np.asarray(S1, dtype=float))[1]", [KLG1B, GAP1B, AG1B]),
    M("m47_gap_2_with_scenario_1_encoder", NB1B, "solution_gaps", GAPS_LINE, GAPS_LINE.replace("scenario_2", "scenario_1"), [GAP1B]),
    # issue 22: the wrong answers its new parts make possible
    Entry("m51_gap_from_the_identity", "mutant", VBH, NB1B, (
        ("solution_kl_gaussians", "    return 0.5 * (trace + quad - d + log_det)", "    raise NotImplementedError()"),
        ("solution_gaps", "gap_1 = kl_gaussians(*encoder_q(scenario_1), post_mean, post_cov)\n" + GAPS_LINE,
         "gap_1 = log_px_1 - elbo_1\ngap_2 = log_px_2 - elbo_2")), (KLG1B, GAP1B, AG1B)),
    M("m52_kl_gaussians_inverts_the_first", NB1B, "solution_kl_gaussians", "np.linalg.inv(np.asarray(S1, dtype=float))",
      "np.linalg.inv(S0)", [KLG1B, GAP1B]),
    M("m53_iwae_mean_of_log", NB1B, "solution_iwae", "return top + np.log(np.mean(np.exp(log_w - top), axis=0))",
      "return np.mean(log_w, axis=0)", [IW1B, IWK1B]),
    M("m54_iwae_log_of_sum", NB1B, "solution_iwae", "np.log(np.mean(np.exp(log_w - top), axis=0))",
      "np.log(np.sum(np.exp(log_w - top), axis=0))", [IW1B, IWK1B]),
    M("m55_iwae_unstable", NB1B, "solution_iwae", "return top + np.log(np.mean(np.exp(log_w - top), axis=0))",
      "return np.log(np.mean(np.exp(log_w), axis=0))", [IW1B]),
    M("m56_log_weights_variance_as_scale", NB1B, "solution_iwae", "z = q_mean + np.sqrt(q_var) * eps", "z = q_mean + q_var * eps",
      [LW1B, IWK1B]),
    M("m57_log_weights_without_log_q", NB1B, "solution_iwae", "return log_lik + log_prior - log_q", "return log_lik + log_prior",
      [LW1B, IWK1B]),
    M("m58_full_covariance_q_called_diagonal", NB1B, "solution_approximation_gap",
      "kl_gaussians(q_mean_best, q_var_best[:, :, None] * np.eye(2), post_mean_skew, post_cov_skew)",
      "kl_gaussians(q_mean_best, post_cov_skew, post_mean_skew, post_cov_skew)", [AG1B]),
    M("m59_best_q_marginal_variances", NB1B, "solution_best_diagonal_q", "q_var = 1.0 / np.diag(np.linalg.inv(post_cov))",
      "q_var = np.diag(post_cov)", [BQ1B, AG1B]),
    M("m60_hessian_cross_term_sign", NB3, "solution_collapse_hessian", "[[2.0, -2.0 * lam], [-2.0 * lam, beta * lam]]",
      "[[2.0, 2.0 * lam], [2.0 * lam, beta * lam]]", [HES3]),
    M("m61_hessian_kl_half", NB3, "solution_collapse_hessian", "[-2.0 * lam, beta * lam]]", "[-2.0 * lam, beta * lam / 2]]", [HES3, SAD3]),
    M("m62_classify_by_the_diagonal", NB3, "solution_collapse_hessian", "eigenvalues = np.linalg.eigvalsh(H)", "eigenvalues = np.diag(H)",
      [SAD3]),
    M("m63_aggregate_posterior_without_noise", NB3, "solution_aggregate_posterior", "A @ Sigma_data @ A.T + np.diag(e_sigma2)",
      "A @ Sigma_data @ A.T", [AGG3]),
    M("m64_aggregate_posterior_without_log_normal_term", NB3, "solution_aggregate_posterior", " + 0.5 * np.diag(C @ Sigma_data @ C.T)", "",
      [AGG3]),
    # issue 19, finding 2: wrong answers whose tolerance must not follow their dtype (their float16 twins are cheats)
    M("m48_losses_typed_2_decimals", NB1, "solution_losses", "L_recon = float(np.mean(recon_err))\nL_KL = float(np.mean(D_KL))",
      "L_recon = 2.05\nL_KL = 1.23", [REC1, KL1, TOT1]),
    M("m49_gaps_rounded_2_decimals", NB1B, "solution_gaps", GAPS_LINE, GAPS_LINE + "\ngap_1, gap_2 = np.round(gap_1, 2), np.round(gap_2, 2)",
      [GAP1B]),
    M("m50_beta_losses_typed_2_decimals", NB2, "solution_beta", BETA_LINES, "Loss_beta = 2.30\nLoss_c_beta = 8.36", [LB2, LCB2]),
]

ALTERNATIVES = [
    A("a01_python_loops", NB1, [
        ("solution_encode", ENC_LINES,
         "mu = np.zeros((N, 2))\nlog_var = np.zeros((N, 2))\nfor i in range(N):\n"
         "    mu[i] = W_mu @ X_true[i] + b_mu\n    log_var[i] = W_ls @ X_true[i] + b_ls"),
        ("solution_decode", "X_prime = Z @ W_dec.T + b_dec",
         "X_prime = np.array([W_dec @ z + b_dec for z in Z])"),
        ("solution_losses", LOSS_LINES,
         "recon_err = np.array([sum((X_true[i, j] - X_prime[i, j]) ** 2 for j in range(2)) for i in range(N)])\n"
         "D_KL = np.array([0.5 * sum(np.exp(log_var[i, j]) + mu[i, j] ** 2 - log_var[i, j] - 1 for j in range(2))"
         " for i in range(N)])")]),
    A("a02_torch_computation", NB1, [
        ("solution_encode", ENC_LINES,
         "import torch\n_X = torch.from_numpy(X_true)\n"
         "mu = (_X @ torch.from_numpy(W_mu).T + torch.from_numpy(b_mu)).numpy()\n"
         "log_var = (_X @ torch.from_numpy(W_ls).T + torch.from_numpy(b_ls)).numpy()"),
        ("solution_reparameterize", "sigma = np.exp(0.5 * log_var)",
         "sigma = torch.exp(0.5 * torch.from_numpy(log_var)).numpy()")]),
    A("a03_einsum", NB1, [
        ("solution_encode", ENC_LINES,
         "mu = np.einsum('jk,nk->nj', W_mu, X_true) + b_mu\nlog_var = np.einsum('jk,nk->nj', W_ls, X_true) + b_ls"),
        ("solution_losses", "recon_err = np.sum((X_true - X_prime) ** 2, axis=1)",
         "recon_err = np.einsum('ij,ij->i', X_true - X_prime, X_true - X_prime)")]),
    A("a04_other_rng_calls", NB1, [
        ("solution_x_true", X_LINE, "X_true = mu_data + rng.standard_normal((N, 2)) @ np.linalg.cholesky(Sigma_data).T"),
        ("solution_reparameterize", "eps = rng.standard_normal((N, 2))", "eps = rng.normal(0.0, 1.0, size=(N, 2))")]),
    A("a05_legacy_numpy_random", NB1, [
        ("solution_x_true", X_LINE, "np.random.seed(42)\nX_true = np.random.randn(N, 2) + mu_data"),
        ("solution_reparameterize", "eps = rng.standard_normal((N, 2))", "eps = np.random.randn(N, 2)")]),
    A("a06_float32_arrays", NB1, [
        ("solution_x_true", X_LINE, X_LINE + ".astype(np.float32)"),
        ("solution_parameters", "b_dec = np.array([1.5, 1.0])",
         "b_dec = np.array([1.5, 1.0])\nW_mu, b_mu, W_ls, b_ls, W_dec, b_dec = "
         "(a.astype(np.float32) for a in (W_mu, b_mu, W_ls, b_ls, W_dec, b_dec))"),
        ("solution_reparameterize", "eps = rng.standard_normal((N, 2))", "eps = rng.standard_normal((N, 2), dtype=np.float32)")]),
    A("a07_reused_eps_for_collapse", NB2, [
        ("solution_scenario_2_forward",
         "mu_c, log_var_c, sigma_c, eps_c, Z_c, X_prime_c = vae_forward(X_true, W_mu_c, b_mu_c, W_ls_c, b_ls_c, W_dec, b_dec, rng)",
         "mu_c = X_true @ W_mu_c.T + b_mu_c\nlog_var_c = X_true @ W_ls_c.T + b_ls_c\nsigma_c = np.exp(log_var_c / 2)\n"
         "eps_c = eps\nZ_c = mu_c + sigma_c * eps_c\nX_prime_c = Z_c @ W_dec.T + b_dec")]),
    A("a08_seed_kl_form_and_numpy_floats", NB2, [
        ("solution_functions",
         "L_KL = float(np.mean(0.5 * np.sum(np.exp(log_var) + mu ** 2 - log_var - 1.0, axis=1)))",
         "L_KL = np.mean(-0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var), axis=1))"),
        ("solution_functions", "L_recon = float(np.mean(np.sum((X - X_prime) ** 2, axis=1)))",
         "L_recon = np.mean(np.linalg.norm(X - X_prime, axis=1) ** 2)")]),
    A("a09_multivariate_normal_noise", NB2, [
        ("solution_functions", "eps = rng.standard_normal(X.shape)",
         "eps = rng.multivariate_normal(np.zeros(X.shape[1]), np.eye(X.shape[1]), size=X.shape[0])")]),
    A("a10_active_units_ddof1", NB3, [
        ("solution_active_units", "return int(np.sum(np.var(mu, axis=0) > threshold))",
         "mu = np.asarray(mu)\n    return sum(1 for j in range(mu.shape[1]) if np.var(mu[:, j], ddof=1) > threshold)"),
        ("solution_beta_star", "beta_collapse_measured = float(betas[np.argmax(n_active == 0)])",
         "beta_collapse_measured = min(b for b, n in zip(betas, n_active) if n == 0)")]),
    A("a11_float32_losses", NB2, [
        ("solution_functions", "    return L_recon, L_KL, L_recon + L_KL",
         "    L_recon, L_KL = np.float32(L_recon), np.float32(L_KL)\n    return L_recon, L_KL, L_recon + L_KL")]),
    A("a12_posterior_by_conditioning", NB1B, [
        ("solution_true_posterior",
         "    post_cov = np.linalg.inv(np.eye(d) + W_dec.T @ W_dec / noise_var)\n"
         "    post_mean = (X - b_dec) @ W_dec @ post_cov.T / noise_var",
         "    K = W_dec @ W_dec.T + noise_var * np.eye(W_dec.shape[0])\n"
         "    post_cov = np.eye(d) - W_dec.T @ np.linalg.solve(K, W_dec)\n"
         "    post_mean = np.linalg.solve(K, (X - b_dec).T).T @ W_dec")]),
]


def _set_test_cell(nb, cell_id, fn):
    for cell in nb.cells:
        if cell.get("id") == cell_id:
            fn(cell)
            return nb
    raise KeyError(cell_id)


def _delete_cell(cell_id):
    def transform(nb):
        nb.cells = [c for c in nb.cells if c.get("id") != cell_id]
        return nb
    return transform


def _blank_test(cell_id):
    def transform(nb):
        return _set_test_cell(nb, cell_id, lambda c: setattr(c, "source", "pass"))
    return transform


def _inflate_points(cell_id):
    def transform(nb):
        def edit(c):
            c.metadata["nbgrader"]["points"] = 100
        return _set_test_cell(nb, cell_id, edit)
    return transform


def _ungrade(cell_id):
    def transform(nb):
        def edit(c):
            c.metadata["nbgrader"].update(grade=False, locked=False, grade_id="my_cell")
            c.source = "pass"
        return _set_test_cell(nb, cell_id, edit)
    return transform


def _forge_cell(nb):
    """A new cell dressed up as a 100-point test that always passes."""
    forged = nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus_points", "locked": True, "points": 100, "schema_version": 3,
        "solution": False, "task": False}})
    forged["id"] = "bonus-points"
    nb.cells.append(forged)
    return nb


def _kernel(nb):
    nb.metadata["kernelspec"] = {"name": "my-old-env", "display_name": "Python (my old env)", "language": "python"}
    return nb


KL_WRONG = ("solution_losses", "D_KL = 0.5 * np.sum(", "D_KL = np.sum(")
CHEATS = [
    Entry("c01_hardcoded_expected_values", "cheat", VBH, NB1, (
        ("solution_losses", "L_recon = float(np.mean(recon_err))\nL_KL = float(np.mean(D_KL))",
         "L_recon = 2.0557851385\nL_KL = 1.2565778415"),), (REC1, KL1, TOT1)),
    Entry("c02_redefined_comparisons", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nnp.testing.assert_allclose = lambda *a, **k: None\n"
         "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True")), (KL1, TOT1)),
    Entry("c03_always_equal_object", "cheat", VBH, NB1, (
        ("solution_losses", "L_KL = float(np.mean(D_KL))",
         "class Always:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
         "    def __float__(self):\n        return 1.2\nL_KL = Always()\nD_KL = np.full(N, 1.2)"),), (KL1, TOT1)),
    Entry("c04_test_cell_emptied", "cheat", VBH, NB1, (KL_WRONG,), (KL1, TOT1),
          transform=_blank_test(KL1)),
    Entry("c05_test_cell_deleted", "cheat", VBH, NB1, (KL_WRONG,), (KL1, TOT1),
          transform=_delete_cell(KL1)),
    Entry("c06_points_inflated", "cheat", VBH, NB1, (), (), transform=_inflate_points(REC1)),
    Entry("c07_test_cell_ungraded", "cheat", VBH, NB1, (KL_WRONG,), (KL1, TOT1), transform=_ungrade(KL1)),
    Entry("c08_tracebacks_disabled", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nget_ipython().showtraceback = lambda *a, **k: None\n"
         "import sys\nsys.excepthook = lambda *a: None")), (KL1, TOT1)),
    Entry("c09_helpers_monkeypatched", "cheat", VBH, NB1, (
        ("solution_losses", "L_recon = float(np.mean(recon_err))",
         "h.expected_losses = lambda *a, **k: (2.0, 1.0)\nL_recon = 2.0"),), (REC1, TOT1)),
    Entry("c10_answers_from_helpers", "cheat", VBH, NB1, (
        ("solution_losses", "L_recon = float(np.mean(recon_err))\nL_KL = float(np.mean(D_KL))",
         "L_recon, L_KL = (float(v) for v in h.expected_losses("
         "h.LinearVAE.from_arrays(W_mu, b_mu, W_ls, b_ls, W_dec, b_dec), mu_data))"),), (REC1, KL1, TOT1)),
    Entry("c12_forged_graded_cell", "cheat", VBH, NB1, (KL_WRONG,), (KL1, TOT1), transform=_forge_cell),
    Entry("c13_input_transformer_empties_tests", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nget_ipython().input_transformers_cleanup.append(lambda lines: [])")), (KL1, TOT1)),
    Entry("c14_ast_transformer_drops_asserts", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nimport ast\nclass _NoAsserts(ast.NodeTransformer):\n"
         "    def visit_Assert(self, node):\n        return ast.Pass()\n"
         "get_ipython().ast_transformers.append(_NoAsserts())")), (KL1, TOT1)),
    # What only the checker stops (grading/checker.py): each works when the tests run in the student's kernel.
    Entry("c15_numpy_internals_patched", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nimport numpy._core.numeric as _nc, numpy._core.fromnumeric as _fn\n"
         "import numpy.testing._private.utils as _nu\n"
         "_nc.allclose = _nc.isclose = np.allclose = np.isclose = lambda *a, **k: True\n"
         "_nu.assert_allclose = np.testing.assert_allclose = lambda *a, **k: None")), (KL1, TOT1)),
    Entry("c16_thread_swaps_assert_allclose", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nimport threading, time\n"
         "def _swap():\n    while True:\n        np.testing.assert_allclose = lambda *a, **k: None\n"
         "        np.allclose = lambda *a, **k: True\n        time.sleep(0.001)\n"
         "threading.Thread(target=_swap, daemon=True).start()")), (KL1, TOT1)),
    Entry("c17_run_cell_replaced_on_the_class", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nfrom IPython.core.interactiveshell import InteractiveShell as _S\n"
         "_orig = _S.run_cell\n_S.run_cell = lambda self, raw_cell, *a, **k: _orig(self, 'pass', *a, **k)")),
          (KL1, TOT1)),
    Entry("c18_settrace_rewrites_comparisons", "cheat", VBH, NB1, (
        KL_WRONG,
        ("solution_losses", "Loss = L_recon + L_KL",
         "Loss = L_recon + L_KL\nimport sys\n"
         "def _rewrite(frame, event, arg):\n    if event == 'line':\n        loc = frame.f_locals\n"
         "        if 'desired' in loc:\n            loc['actual'] = loc['desired']\n"
         "        if 'a' in loc and 'b' in loc:\n            loc['a'] = loc['b']\n    return _rewrite\n"
         "sys.settrace(lambda f, e, a: _rewrite if f.f_code.co_name in ('assert_allclose', 'allclose', 'isclose') "
         "else None)")), (KL1, TOT1)),
    Entry("c19_array_object_answer", "cheat", VBH, NB1, (
        ("solution_losses", "L_KL = float(np.mean(D_KL))",
         "class _Fake:\n    shape = (1000,)\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
         "    def __array__(self, dtype=None, copy=None):\n        return np.full(1000, 1.2)\n"
         "    def __float__(self):\n        return 1.2\nL_KL = 1.2\nD_KL = _Fake()"),), (KL1, TOT1)),
    # issue 19, finding 2: the wrong answers of m48-m50 stored as float16, whose coarse dtype once widened the
    # tolerance of the exact checks to rtol 0.0625 (36 of 37 points instead of 28)
    Entry("c20_float16_typed_losses", "cheat", VBH, NB1, (
        ("solution_losses", "L_recon = float(np.mean(recon_err))\nL_KL = float(np.mean(D_KL))",
         "L_recon = np.float16(2.05)\nL_KL = np.float16(1.23)"),), (REC1, KL1, TOT1), twin="m48_losses_typed_2_decimals"),
    Entry("c21_float16_gaps_rounded", "cheat", VBH, NB1B, (
        ("solution_gaps", GAPS_LINE, GAPS_LINE + "\ngap_1, gap_2 = np.round(gap_1, 2).astype(np.float16), np.round(gap_2, 2).astype(np.float16)"),),
        (GAP1B,), twin="m49_gaps_rounded_2_decimals"),
    Entry("c22_float16_beta_losses_typed", "cheat", VBH, NB2, (
        ("solution_beta", BETA_LINES, "Loss_beta = np.float16(2.30)\nLoss_c_beta = np.float16(8.36)"),), (LB2, LCB2),
        twin="m50_beta_losses_typed_2_decimals"),
    # issue 19, finding 3: m31's wrong active_units, and one line that edits the given sweep's encoders so that the
    # counts vanish from the first beta above beta* (it won back the 2 points of collapse_threshold_matches_theory).
    # Counting on edited encoders is itself a wrong n_active: it also loses sweep_active_units, which m31 keeps.
    Entry("c23_active_units_by_std_and_sweep_edited", "cheat", VBH, NB3, (
        ("solution_active_units", "np.var(mu, axis=0)", "np.std(mu, axis=0)"),
        ("solution_sweep_active_units", "n_active = np.array(", 'trained["W_mu"][betas > 2] = 0.0\nn_active = np.array(')),
        (AU3, SW3, BS3), twin="m31_active_units_by_std"),
    Entry("c11_builtins_shadowed", "cheat", VBH, NB1, (
        ("solution_losses", "L_recon = float(np.mean(recon_err))",
         "L_recon = float(np.mean(recon_err)) + 0.7\nabs = lambda x: 0.0"),), (REC1, TOT1)),
]

FAULTS = [
    Entry("f01_infinite_loop", "fault", VBH, NB1, (
        ("solution_encode", ENC_LINES, "while True:\n    pass"),), (ENC1, SIG1, EPS1, Z1, DEC1, REC1, KL1, TOT1)),
    Entry("f02_early_exception", "fault", VBH, NB1, (
        ("solution_x_true", X_LINE, "raise RuntimeError('forgot to finish this part')"),),
        (X1, ENC1, SIG1, EPS1, Z1, DEC1, REC1, KL1, TOT1)),
    Entry("f03_memory_hog", "fault", VBH, NB3, (
        ("solution_active_units", "    return int(", "    _hog = np.ones(10 ** 9)  # 8 GB, past the sandbox's 4 GiB\n    return int("),),
        (AU3, SW3, BS3)),
    Entry("f04_warnings_on_stderr", "fault", VBH, NB3, (
        ("solution_active_units", "    return int(",
         "    import warnings\n    warnings.warn('a harmless warning from my code')\n"
         "    np.log(np.zeros(1))  # RuntimeWarning: divide by zero\n    return int("),), ()),
    Entry("f05_other_kernel_name", "fault", VBH, NB2, (), (), transform=_kernel),
    Entry("f06_corrupted_file", "fault", VBH, NB2, (), tuple([FWD2, LOSS2, S1_2, PAR2, ENC2, LAT2, DEC2, REC2, KL2, CC2, LB2, LCB2]),
          raw='{"cells": [{"cell_type": "code", "source": "truncated'),
]

MNIST = "mnist_vaes"
MB, MG, MM = "01_base_vae", "02_goal_vae", "03_gmm_vae"
R_GRAD, R_STAT, KL0, KLC, VL3, VLR, TP1, TPN = (
    "reparameterize_gradients_reach_mu_and_log_var", "reparameterize_sample_statistics", "kl_of_standard_normal_is_zero",
    "kl_standard_normal_closed_form", "vae_loss_returns_three_scalars", "vae_loss_reductions_and_beta",
    "target_prior_selects_target_rows", "target_prior_several_targets")
KD0, KDN, KDC = "kl_diag_of_gaussian_to_itself_is_zero", "kl_diag_reduces_to_standard_normal", "kl_diag_gaussians_closed_form"
G1, GM, GF, KS, K0, KC = ("gmm_log_prob_single_component", "gmm_log_prob_mixture_values", "gmm_log_prob_stable_far_away",
                          "kl_gmm_mc_shape_and_gradients", "kl_gmm_mc_of_gaussian_to_itself_is_zero", "kl_gmm_mc_converges_to_closed_form")
LG1, LG2 = "labelled_goal_kl_hand_batch", "labelled_goal_kl_targets_dtype_gradients"
LM1, LM2, KN = ("labelled_gmm_kl_hand_batch", "labelled_gmm_kl_targets_gradients_dtype",
                "kl_gmm_mc_noise_independent_per_example_dimension_sample")
SAMPLE = "return mu + std * torch.randn_like(std)"
EPS_MC = "eps = torch.randn(s, b, d, dtype=mu.dtype)"
WHERE_GOAL = "return torch.where(is_target, kl_diag_gaussians(mu, log_var, mu_p, var_p), kl_standard_normal(mu, log_var))"
LSE = "torch.logsumexp(torch.log(weights) + log_each, dim=1)"


def MM_(name, nb, cell, old, new, loses):
    return Entry(name, "mutant", MNIST, nb, ((cell, old, new),), tuple(loses))


MUTANTS += [
    MM_("n01_no_noise", MB, "solution_reparameterize", SAMPLE, "return mu + std * torch.zeros_like(std)", [R_GRAD, R_STAT]),
    MM_("n02_detached_sample", MB, "solution_reparameterize", SAMPLE, "return (mu + std * torch.randn_like(std)).detach()", [R_GRAD]),
    MM_("n03_variance_for_std", MB, "solution_reparameterize", "std = torch.exp(0.5 * log_var)", "std = torch.exp(log_var)", [R_GRAD, R_STAT]),
    MM_("n04_kl_half_dropped", MB, "solution_kl_standard_normal", "return -0.5 * torch.sum(", "return -1.0 * torch.sum(", [KLC, VLR]),
    MM_("n05_kl_per_coordinate", MB, "solution_kl_standard_normal", "torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)",
        "(1 + log_var - mu.pow(2) - log_var.exp())", [KL0, KLC, VLR]),
    MM_("n06_recon_mean_per_pixel", MB, "solution_vae_loss", "recon = torch.sum((x - x_hat) ** 2, dim=1).mean()",
        "recon = ((x - x_hat) ** 2).mean()", [VLR]),
    MM_("n07_beta_on_recon", MB, "solution_vae_loss", "return recon + beta * kl, recon, kl", "return beta * recon + kl, recon, kl", [VLR]),
    MM_("n08_targets_ignored", MB, "solution_target_prior", "chosen = mu[torch.isin(labels, torch.as_tensor(list(targets)))]",
        "chosen = mu", [TP1, TPN]),
    MM_("n09_target_std_for_var", MB, "solution_target_prior", "chosen.var(dim=0, unbiased=False)", "chosen.std(dim=0, unbiased=False)", [TP1, TPN]),
    MM_("n10_target_unbiased_variance", MB, "solution_target_prior", "unbiased=False", "unbiased=True", [TP1, TPN]),
    MM_("n11_kl_diag_missing_log_var_p", MG, "solution_kl_diag_gaussians", " - log_var + torch.log(var_p)", " - log_var", [KD0, KDC, LG1, LG2]),
    MM_("n12_kl_diag_std_for_var", MG, "solution_kl_diag_gaussians", "var / var_p + (mu - mu_p) ** 2 / var_p",
        "var / var_p.sqrt() + (mu - mu_p) ** 2 / var_p", [KD0, KDC, LG1, LG2]),
    MM_("n13_max_instead_of_logsumexp", MM, "solution_gmm_log_prob", LSE, "torch.max(torch.log(weights) + log_each, dim=1).values",
        [GM, GF, KC, KS, LM1, LM2]),
    MM_("n14_weights_ignored", MM, "solution_gmm_log_prob", LSE, "torch.logsumexp(log_each, dim=1) - math.log(weights.shape[0])",
        [GM, KC, KN, KS, LM1, LM2]),
    MM_("n15_sum_of_exp_overflows", MM, "solution_gmm_log_prob", LSE,
        "torch.log(torch.sum(torch.exp(torch.log(weights) + log_each), dim=1))", [GF]),
    MM_("n16_kl_mc_at_the_mean", MM, "solution_kl_gmm_mc", "eps = torch.randn(s, b, d, dtype=mu.dtype)",
        "eps = torch.zeros(s, b, d, dtype=mu.dtype)", [KC, KS, KN, LM1, LM2]),
    MM_("n17_n_samples_ignored", MM, "solution_kl_gmm_mc", "s, (b, d) = n_samples, mu.shape", "s, (b, d) = 1, mu.shape", [KC, KS, KN, LM1, LM2]),
    # issue 13: noise drawn per example AND per dimension, per-coordinate quantities on correlated inputs,
    # gradients through Monte Carlo estimators, and the labelled losses the students now write
    MM_("n18_same_noise_every_dimension", MB, "solution_reparameterize", SAMPLE,
        "return mu + std * torch.randn_like(std[:, :1])", [R_STAT]),
    MM_("n19_variance_averaged_over_coordinates", MB, "solution_target_prior", "chosen.var(dim=0, unbiased=False)",
        "chosen.var(dim=0, unbiased=False).mean().expand(mu.shape[1])", [TP1, TPN]),
    MM_("n20_mc_same_noise_every_dimension", MM, "solution_kl_gmm_mc", EPS_MC,
        "eps = torch.randn(s, b, 1, dtype=mu.dtype).expand(s, b, d)", [KC, KN, KS, LM1, LM2]),
    MM_("n21_mc_same_noise_every_example", MM, "solution_kl_gmm_mc", EPS_MC,
        "eps = torch.randn(s, 1, d, dtype=mu.dtype).expand(s, b, d)", [KN]),
    MM_("n22_mc_same_noise_every_sample", MM, "solution_kl_gmm_mc", EPS_MC,
        "eps = torch.randn(1, b, d, dtype=mu.dtype).expand(s, b, d)", [KC, KN, KS, LM1, LM2]),
    MM_("n23_mc_detached_samples", MM, "solution_kl_gmm_mc", "z = mu + std * eps", "z = (mu + std * eps).detach()", [KS, LM2]),
    MM_("n24_labelled_goal_cases_swapped", MG, "solution_labelled_goal_kl", "torch.where(is_target,", "torch.where(~is_target,",
        [LG1, LG2]),
    MM_("n25_goal_kl_for_every_image", MG, "solution_labelled_goal_kl", WHERE_GOAL,
        "return kl_diag_gaussians(mu, log_var, mu_p, var_p)", [LG1, LG2]),
    MM_("n26_only_first_target", MG, "solution_labelled_goal_kl",
        "is_target = torch.isin(labels, torch.as_tensor(list(targets), dtype=labels.dtype))",
        "is_target = labels == list(targets)[0]", [LG1, LG2]),
    MM_("n27_labelled_goal_batch_mean", MG, "solution_labelled_goal_kl", WHERE_GOAL, WHERE_GOAL + ".mean()", [LG1, LG2]),
    MM_("n28_labelled_gmm_cases_swapped", MM, "solution_labelled_gmm_kl", "torch.where(is_target,", "torch.where(~is_target,",
        [LM1, LM2]),
    MM_("n29_labelled_gmm_n_samples_dropped", MM, "solution_labelled_gmm_kl", "covs, n_samples=n_samples)", "covs)", [LM1, LM2]),
    MM_("n30_labelled_gmm_mixture_ignored", MM, "solution_labelled_gmm_kl", "kl_gmm_mc(mu, log_var, weights, means, covs, n_samples=n_samples)",
        "kl_standard_normal(mu, log_var)", [LM1, LM2]),
]

ALTERNATIVES += [
    Entry("b01_torch_distributions", "alternative", MNIST, MB, (
        ("solution_reparameterize", "std = torch.exp(0.5 * log_var)\n    " + SAMPLE,
         "return torch.distributions.Normal(mu, torch.exp(0.5 * log_var)).rsample()"),
        ("solution_kl_standard_normal", "return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)",
         "q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))\n"
         "    return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(dim=1)"))),
    Entry("b02_float32_computation", "alternative", MNIST, MG, (
        ("solution_kl_diag_gaussians", "var = log_var.exp()",
         "mu, log_var, mu_p, var_p = (torch.as_tensor(t, dtype=torch.float32) for t in (mu, log_var, mu_p, var_p))\n"
         "    var = log_var.exp()"),)),
    Entry("b03_hand_written_mixture_density", "alternative", MNIST, MM, (
        ("solution_gmm_log_prob",
         "components = torch.distributions.MultivariateNormal(means, covariance_matrix=covs, validate_args=False)\n"
         "    log_each = components.log_prob(z[:, None, :])          # (B, K): log N(z_b | mu_k, Sigma_k)\n"
         "    return " + LSE,
         "d = z.shape[1]\n    L = torch.linalg.cholesky(covs)                                   # (K, D, D)\n"
         "    diff = (z[:, None, :] - means[None]).unsqueeze(-1)                # (B, K, D, 1)\n"
         "    sol = torch.linalg.solve_triangular(L[None], diff, upper=False).squeeze(-1)\n"
         "    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)\n"
         "    a = torch.log(weights) - 0.5 * ((sol ** 2).sum(-1) + logdet + d * math.log(2 * math.pi))\n"
         "    top = a.max(dim=1, keepdim=True).values\n"
         "    return (top + torch.log(torch.exp(a - top).sum(dim=1, keepdim=True))).squeeze(1)"),)),
]

ALTERNATIVES += [
    # a correct answer computed in float64 from float32 inputs keeps its points (the tests compare values, not dtypes)
    Entry("b04_float64_kl", "alternative", MNIST, MB, (
        ("solution_kl_standard_normal", "return -0.5 * torch.sum(", "mu, log_var = mu.double(), log_var.double()\n    return -0.5 * torch.sum("),)),
    Entry("b05_float64_labelled_goal_kl", "alternative", MNIST, MG, (
        ("solution_labelled_goal_kl", WHERE_GOAL, WHERE_GOAL.replace("return torch.where(", "return torch.where(") + ".double()"),)),
    Entry("b06_labelled_gmm_kl_by_masks", "alternative", MNIST, MM, (
        ("solution_labelled_gmm_kl", "return torch.where(is_target, kl_gmm_mc(mu, log_var, weights, means, covs, n_samples=n_samples),\n"
         "                       kl_standard_normal(mu, log_var))",
         "out = kl_standard_normal(mu, log_var).clone()\n"
         "    out[is_target] = kl_gmm_mc(mu[is_target], log_var[is_target], weights, means, covs, n_samples=n_samples)\n"
         "    return out"),)),
]

KL_SOLUTION = "return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)"
KL_DIAG_TERMS = "terms = var / var_p + (mu - mu_p) ** 2 / var_p - 1.0 - log_var + torch.log(var_p)"
MC_LOG_P = "log_p = gmm_log_prob(z.reshape(s * b, d), weights, means, covs).reshape(s, b)"


def straight_through(right: str, wrong: str) -> str:
    """The value of `right` with the gradients of `wrong`, as a student who found the trick would write it."""
    return f"right = {right}\n    wrong = {wrong}\n    return wrong + (right - wrong).detach()"


MUTANTS += [
    # issue 19: a KL that ignores the mixture (every KL value test used a one-component prior)
    MM_("n31_mc_first_component_only", MM, "solution_kl_gmm_mc", MC_LOG_P,
        "log_p = gmm_log_prob(z.reshape(s * b, d), torch.ones(1), means[:1], covs[:1]).reshape(s, b)", [KC, KS, KN, LM1, LM2]),
    Entry("n32_kl_to_the_mixtures_moment_matched_gaussian", "mutant", MNIST, MM, ((
        "solution_kl_gmm_mc",
        "s, (b, d) = n_samples, mu.shape\n    std = torch.exp(0.5 * log_var)\n    eps = torch.randn(s, b, d, dtype=mu.dtype)\n"
        "    z = mu + std * eps                                                     # (S, B, D)\n"
        "    log_q = -0.5 * (d * math.log(2 * math.pi) + log_var.sum(dim=1) + (eps ** 2).sum(dim=2))   # (S, B)\n"
        "    " + MC_LOG_P + "\n    return (log_q - log_p).mean(dim=0)",
        "m = (weights[:, None] * means).sum(0)                      # one Gaussian with the mixture's mean and covariance\n"
        "    c = (weights[:, None, None] * (covs + (means - m)[:, :, None] * (means - m)[:, None, :])).sum(0)\n"
        "    q = torch.distributions.MultivariateNormal(mu, covariance_matrix=torch.diag_embed(log_var.exp()))\n"
        "    return torch.distributions.kl_divergence(q, torch.distributions.MultivariateNormal(m, c))"),),
        (KN, KC, KS, LM1, LM2)),
]

ALTERNATIVES += [
    # correct answers in other styles: noise drawn in another order and shape, loops, torch.nn.functional, numpy
    Entry("b07_other_noise_order_loops_and_numpy", "alternative", MNIST, MB, (
        ("solution_reparameterize", SAMPLE,
         "eps = torch.randn(mu.shape[1], mu.shape[0], dtype=mu.dtype).T   # drawn dimension by dimension\n    return mu + std * eps"),
        ("solution_kl_standard_normal", KL_SOLUTION,
         "kl = torch.zeros(mu.shape[0], dtype=mu.dtype)\n    for j in range(mu.shape[1]):\n"
         "        kl = kl + 0.5 * (mu[:, j] ** 2 + torch.exp(log_var[:, j]) - 1 - log_var[:, j])\n    return kl"),
        ("solution_vae_loss", "recon = torch.sum((x - x_hat) ** 2, dim=1).mean()",
         "recon = torch.nn.functional.mse_loss(x_hat, x, reduction='sum') / x.shape[0]"),
        ("solution_target_prior",
         "chosen = mu[torch.isin(labels, torch.as_tensor(list(targets)))]\n    return chosen.mean(dim=0), chosen.var(dim=0, unbiased=False)",
         "import numpy as np\n    rows = np.array([int(y) in set(targets) for y in labels])\n    chosen = mu.detach().numpy()[rows]\n"
         "    return torch.from_numpy(chosen.mean(axis=0)), torch.from_numpy(chosen.var(axis=0))"))),
    Entry("b08_torch_distributions_and_masks", "alternative", MNIST, MG, (
        ("solution_kl_diag_gaussians", "var = log_var.exp()\n    " + KL_DIAG_TERMS + "\n    return 0.5 * terms.sum(dim=1)",
         "q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))\n"
         "    p = torch.distributions.Normal(mu_p, torch.sqrt(var_p))\n"
         "    return torch.distributions.kl_divergence(q, p).sum(dim=-1)"),
        ("solution_labelled_goal_kl", WHERE_GOAL,
         "out = kl_standard_normal(mu, log_var)\n    goal = kl_diag_gaussians(mu, log_var, mu_p, var_p)\n"
         "    return out * (~is_target) + goal * is_target"))),
    Entry("b09_samples_first_in_batch_and_normal_log_prob", "alternative", MNIST, MM, (
        ("solution_kl_gmm_mc",
         "eps = torch.randn(s, b, d, dtype=mu.dtype)\n    z = mu + std * eps                                                     # (S, B, D)\n"
         "    log_q = -0.5 * (d * math.log(2 * math.pi) + log_var.sum(dim=1) + (eps ** 2).sum(dim=2))   # (S, B)",
         "q = torch.distributions.Normal(mu, std)\n    z = q.rsample((s,))                                      # (S, B, D)\n"
         "    log_q = q.log_prob(z).sum(dim=2)"),
        ("solution_gmm_log_prob",
         "components = torch.distributions.MultivariateNormal(means, covariance_matrix=covs, validate_args=False)\n"
         "    log_each = components.log_prob(z[:, None, :])          # (B, K): log N(z_b | mu_k, Sigma_k)",
         "log_each = torch.stack([torch.distributions.MultivariateNormal(means[k], covs[k]).log_prob(z)\n"
         "                            for k in range(len(weights))], dim=1)"))),
    Entry("b10_float64_throughout", "alternative", MNIST, MM, (
        ("solution_gmm_log_prob", "return " + LSE, "return " + LSE.replace("torch.log(weights)", "torch.log(weights.double())")
         .replace("log_each", "log_each.double()")),
        ("solution_kl_gmm_mc", "return (log_q - log_p).mean(dim=0)", "return (log_q.double() - log_p.double()).mean(dim=0)"))),
]

CHEATS += [
    # issue 19, finding 9: a straight-through function has the right values and the gradients of a mistake; it
    # scores what the mistake's honest version scores where that mistake is only in the gradients
    Entry("d04_straight_through_kl", "cheat", MNIST, MB, (
        ("solution_kl_standard_normal", KL_SOLUTION, straight_through(
            "-0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)",
            "-1.0 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)")),), (KLC, VLR), twin="n04_kl_half_dropped"),
    Entry("d05_straight_through_loss", "cheat", MNIST, MB, (
        ("solution_vae_loss", "return recon + beta * kl, recon, kl",
         "right, wrong = recon + beta * kl, beta * recon + kl\n    return wrong + (right - wrong).detach(), recon, kl"),),
        (VLR,), twin="n07_beta_on_recon"),
    Entry("d06_straight_through_reparameterize", "cheat", MNIST, MB, (
        ("solution_reparameterize", SAMPLE,
         "eps = torch.randn_like(std)\n    right, wrong = mu + std * eps, mu + torch.exp(log_var) * eps\n"
         "    return wrong + (right - wrong).detach()"),), (R_GRAD,), twin="n02_detached_sample"),
    Entry("d07_straight_through_kl_diag", "cheat", MNIST, MG, (
        ("solution_kl_diag_gaussians", KL_DIAG_TERMS + "\n    return 0.5 * terms.sum(dim=1)",
         KL_DIAG_TERMS + "\n    wrong = var / var_p.sqrt() + (mu - mu_p) ** 2 / var_p - 1.0 - log_var + torch.log(var_p)\n"
         "    return 0.5 * (wrong + (terms - wrong).detach()).sum(dim=1)"),), (KD0, KDC, LG1, LG2),
        twin="n12_kl_diag_std_for_var"),
    Entry("d08_straight_through_labelled_goal_kl", "cheat", MNIST, MG, (
        ("solution_labelled_goal_kl", WHERE_GOAL,
         "goal, normal = kl_diag_gaussians(mu, log_var, mu_p, var_p), kl_standard_normal(mu, log_var)\n"
         "    right, wrong = torch.where(is_target, goal, normal), torch.where(is_target, normal, goal)\n"
         "    return wrong + (right - wrong).detach()"),), (LG1, LG2), twin="n24_labelled_goal_cases_swapped"),
    Entry("d09_straight_through_mixture_density", "cheat", MNIST, MM, (
        ("solution_gmm_log_prob", "return " + LSE,
         "right = " + LSE + "\n    wrong = torch.logsumexp(log_each, dim=1) - math.log(weights.shape[0])\n"
         "    return wrong + (right - wrong).detach()"),), (GM, KS, LM2)),
    # the values of the release's worked examples, typed in: the hidden tests use inputs no release publishes
    Entry("d10_typed_in_target_prior", "cheat", MNIST, MB, (
        ("solution_target_prior",
         "chosen = mu[torch.isin(labels, torch.as_tensor(list(targets)))]\n    return chosen.mean(dim=0), chosen.var(dim=0, unbiased=False)",
         "return torch.tensor([2.5, 1.5]), torch.tensor([2.25, 2.25])"),), (TP1, TPN), twin="n08_targets_ignored"),
    Entry("d11_typed_in_labelled_goal_kl", "cheat", MNIST, MG, (
        ("solution_labelled_goal_kl", WHERE_GOAL, "return torch.tensor([0.0, 0.0, 0.8181, 2.8069])"),), (LG1, LG2),
        twin="n24_labelled_goal_cases_swapped"),
    Entry("d12_typed_in_labelled_gmm_kl", "cheat", MNIST, MM, (
        ("solution_labelled_gmm_kl", "return torch.where(is_target, kl_gmm_mc(mu, log_var, weights, means, covs, n_samples=n_samples),\n"
         "                       kl_standard_normal(mu, log_var))", "return torch.tensor([0.0, 0.0, 0.818, 2.8069])"),), (LM1, LM2),
        twin="n28_labelled_gmm_cases_swapped"),
    # issue 19, finding 2: a wrong answer stored as float16 scores what it scores in float32 (no tolerance follows
    # the answer's dtype)
    Entry("d13_float16_kl_half_dropped", "cheat", MNIST, MB, (
        ("solution_kl_standard_normal", "return -0.5 * torch.sum(", "return -1.0 * torch.sum("),
        ("solution_kl_standard_normal", "log_var.exp(), dim=1)", "log_var.exp(), dim=1).half()")), (KLC, VLR),
        twin="n04_kl_half_dropped"),
    Entry("d14_float16_unbiased_variance", "cheat", MNIST, MB, (
        ("solution_target_prior", "return chosen.mean(dim=0), chosen.var(dim=0, unbiased=False)",
         "return chosen.mean(dim=0).half(), chosen.var(dim=0, unbiased=True).half()"),), (TP1, TPN),
        twin="n10_target_unbiased_variance"),
]

CHEATS += [
    Entry("d01_answer_from_helpers", "cheat", MNIST, MB, (
        ("solution_kl_standard_normal", "return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)",
         "return h.kl_standard_normal(mu, log_var)"),), (KL0, KLC, VL3, VLR)),
    # A function that detects the grader's call (grading/kernel_side.py) and returns what it guesses a test
    # wants (a KL of 0); called by anything else it is wrong (no 1/2).
    Entry("d03_function_detects_the_grader", "cheat", MNIST, MB, (
        ("solution_kl_standard_normal", "return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)",
         "import inspect\n    if any('grader' in str(f.frame.f_globals.get('__name__')) for f in inspect.stack()):\n"
         "        return torch.zeros(mu.shape[0], dtype=mu.dtype)\n"
         "    return -torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)"),), (KLC, VLR)),
    Entry("d02_redefined_assert_close", "cheat", MNIST, MG, (
        ("solution_kl_diag_gaussians", " - log_var + torch.log(var_p)", " - log_var"),
        ("solution_kl_diag_gaussians", "    return 0.5 * terms.sum(dim=1)",
         "    return 0.5 * terms.sum(dim=1)\n\n\ntorch.testing.assert_close = lambda *a, **k: None\n"
         "torch.allclose = lambda *a, **k: True")), (KD0, KDC)),
]

ATTACKS = [Entry(name, "attack", VBH, attacks.NOTEBOOK.get(name, NB1)) for name in attacks.NAMES]
# an oracle that runs the test cells it finds, and its twin that makes the same mistakes without it
ORACLES = [Entry(attacks.ORACLE, "oracle", MNIST, MB, loses=(R_STAT,)),
           Entry(attacks.ORACLE_TWIN, "oracle", MNIST, MB, loses=(R_STAT,))]
# links, FIFOs, devices, sockets, oversized files and markup in place of a submission's folders and notebooks
SHAPES = [Entry(name, "shape", VBH, NB1) for name in sorted(attacks.SHAPES)]
OWN_STUDENT = ("attack", "oracle", "shape")  # each is a student of its own, its scores are not in the golden file

ENTRIES = MUTANTS + ALTERNATIVES + CHEATS + FAULTS + ATTACKS + ORACLES + SHAPES


def pack(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Group entries into students holding at most one entry per notebook (each notebook still runs
    in its own kernel, so entries cannot interact); a corrupted file gets a student of its own."""
    students: dict[str, list[Entry]] = {}
    for e in entries:
        home = None
        if e.raw is None and e.kind not in OWN_STUDENT:  # an attack, like a corrupted file, is a student of its own
            home = next((s for s, es in students.items()
                         if all(o.notebook != e.notebook and o.raw is None and o.kind not in OWN_STUDENT for o in es)), None)
        if home is None:
            home = f"student{len(students) + 1:02d}"
            students[home] = []
        students[home].append(e)
    return students


def build(entry: Entry, dest: Path, student: str | None = None) -> None:
    """Write the entry's notebook into dest/<student>/<assignment>/<notebook>.ipynb (student defaults to the entry name)."""
    if entry.kind == "shape":
        attacks.SHAPES[entry.name][0](dest, student or entry.name, entry.assignment, ROOT)
        return
    folder = dest / (student or entry.name) / entry.assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry.notebook}.ipynb"
    if entry.raw is not None:
        path.write_text(entry.raw)
        return
    if entry.kind == "attack":
        nbformat.write(attacks.attack_notebook(ROOT / "notebooks" / entry.assignment / path.name, entry.name), path)
        return
    if entry.kind == "oracle":
        nbformat.write(attacks.oracle_notebook(ROOT / "notebooks" / entry.assignment / path.name,
                                               ROOT / "solutions" / entry.assignment / path.name, entry.name == attacks.ORACLE), path)
        return
    nb = nbformat.read(ROOT / "solutions" / entry.assignment / f"{entry.notebook}.ipynb", as_version=4)
    cells = {c.get("id"): c for c in nb.cells}
    for cell_id, old, new in entry.edits:
        source = cells[cell_id].source
        if source.count(old) != 1:
            raise ValueError(f"{entry.name}: {old!r} occurs {source.count(old)} times in cell {cell_id}")
        cells[cell_id].source = source.replace(old, new)
    if entry.transform is not None:
        nb = entry.transform(nb)
    nbformat.write(nb, path)


def reference_and_untouched(dest: Path, assignment: str) -> None:
    """dest/reference (the solutions) and dest/untouched (the release) for one assignment."""
    for student, src in (("reference", ROOT / "solutions"), ("untouched", ROOT / "notebooks")):
        folder = dest / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for nb in sorted((src / assignment).glob("*.ipynb")):
            (folder / nb.name).write_bytes(nb.read_bytes())


def load_golden(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


if __name__ == "__main__":
    # Write a class folder to grade with `make grade`, e.g. the attacks with a reference and an untouched
    # release:  .venv/bin/python tests/catalog.py --kind attack --out /tmp/attack-class
    import argparse

    parser = argparse.ArgumentParser(description="write catalog entries as a class of submissions")
    parser.add_argument("--out", required=True, help="the submissions folder to create (must not exist)")
    parser.add_argument("--kind", default="attack", choices=sorted({e.kind for e in ENTRIES}))
    parser.add_argument("--assignment", default=VBH)
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists: give a new folder, so no earlier submissions are overwritten")
    reference_and_untouched(out, args.assignment)
    chosen = [e for e in ENTRIES if e.kind == args.kind and e.assignment == args.assignment]
    for e in chosen:
        build(e, out, e.name)
    print(f"wrote {out}: reference, untouched and {len(chosen)} {args.kind} submissions")

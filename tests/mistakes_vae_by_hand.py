"""Common mistakes in vae_by_hand beyond the catalog's mutants: the ordinary slips a student makes on the way.

Each is the reference solution with small edits (cell id, old text, new text), like a tests/catalog.py Entry;
tests/mistakes.py adds them to catalog.MUTANTS, and tests/self_checks.py runs each against the release's visible
checks only. A mistake is flagged when a visible check that the reference passes fails with a hint.
"""

from __future__ import annotations

from catalog import NB1, NB1B, NB2, NB3, VBH, Entry


def slip(name, notebook, *edits):
    return Entry(name, "mistake", VBH, notebook, tuple(edits))


MISTAKES = [
    # notebook 1: the forward pass and the losses, by hand
    slip("s01_mu_without_bias", NB1, ("solution_encode", "mu = X_true @ W_mu.T + b_mu", "mu = X_true @ W_mu.T")),
    slip("s02_log_var_without_bias", NB1, ("solution_encode", "log_var = X_true @ W_ls.T + b_ls", "log_var = X_true @ W_ls.T")),
    slip("s03_sigma_sign", NB1, ("solution_reparameterize", "sigma = np.exp(0.5 * log_var)", "sigma = np.exp(-0.5 * log_var)")),
    slip("s04_eps_uniform_on_0_1", NB1, ("solution_reparameterize", "eps = rng.standard_normal((N, 2))", "eps = rng.random((N, 2))")),
    slip("s05_z_plus_instead_of_times", NB1, ("solution_reparameterize", "Z = mu + sigma * eps", "Z = mu + sigma + eps")),
    slip("s06_decoder_bias_subtracted", NB1, ("solution_decode", "X_prime = Z @ W_dec.T + b_dec", "X_prime = Z @ W_dec.T - b_dec")),
    slip("s07_recon_absolute_error", NB1, ("solution_losses", "np.sum((X_true - X_prime) ** 2, axis=1)", "np.sum(np.abs(X_true - X_prime), axis=1)")),
    slip("s08_recon_distance_not_squared", NB1, ("solution_losses", "np.sum((X_true - X_prime) ** 2, axis=1)", "np.linalg.norm(X_true - X_prime, axis=1)")),
    slip("s09_kl_mu_not_squared", NB1, ("solution_losses", "np.exp(log_var) + mu ** 2", "np.exp(log_var) + mu")),
    slip("s10_kl_plus_one", NB1, ("solution_losses", "- log_var - 1.0, axis=1)", "- log_var + 1.0, axis=1)")),
    slip("s11_kl_sum_over_points", NB1, ("solution_losses", "L_KL = float(np.mean(D_KL))", "L_KL = float(np.sum(D_KL))")),
    slip("s12_loss_difference", NB1, ("solution_losses", "Loss = L_recon + L_KL", "Loss = L_recon - L_KL")),
    # notebook 1b: the posterior, the gap, the importance-weighted bound, the two gaps
    slip("s13_posterior_mean_without_noise_variance", NB1B,
         ("solution_true_posterior", "post_mean = (X - b_dec) @ W_dec @ post_cov.T / noise_var", "post_mean = (X - b_dec) @ W_dec @ post_cov.T")),
    slip("s14_posterior_covariance_not_inverted", NB1B,
         ("solution_true_posterior", "post_cov = np.linalg.inv(np.eye(d) + W_dec.T @ W_dec / noise_var)", "post_cov = np.eye(d) + W_dec.T @ W_dec / noise_var")),
    slip("s15_posterior_mean_with_w_transposed", NB1B,
         ("solution_true_posterior", "(X - b_dec) @ W_dec @ post_cov.T", "(X - b_dec) @ W_dec.T @ post_cov.T")),
    slip("s16_kl_without_quadratic_term", NB1B, ("solution_kl_gaussians", "0.5 * (trace + quad - d + log_det)", "0.5 * (trace - d + log_det)")),
    slip("s17_kl_without_minus_d", NB1B, ("solution_kl_gaussians", "0.5 * (trace + quad - d + log_det)", "0.5 * (trace + quad + log_det)")),
    slip("s18_gap_q_covariance_sigma", NB1B, ("solution_gaps", "var = np.exp(X_true @ params[\"W_ls\"].T + params[\"b_ls\"])",
                                               "var = np.exp(0.5 * (X_true @ params[\"W_ls\"].T + params[\"b_ls\"]))")),
    slip("s19_gaps_swapped", NB1B, ("solution_gaps", "gap_1 = kl_gaussians(*encoder_q(scenario_1)", "gap_1 = kl_gaussians(*encoder_q(scenario_2)")),
    slip("s20_iwae_one_maximum_for_the_array", NB1B, ("solution_iwae", "top = np.max(log_w, axis=0)", "top = np.max(log_w)")),
    slip("s21_log_weights_noise_variance_ignored", NB1B, ("solution_iwae", "np.sum((X - z @ W_dec.T - b_dec) ** 2, axis=-1) / noise_var",
                                                          "np.sum((X - z @ W_dec.T - b_dec) ** 2, axis=-1)")),
    slip("s22_log_weights_without_constants", NB1B, ("solution_iwae", "log_prior = -0.5 * (d * np.log(2 * np.pi) + np.sum(z ** 2, axis=-1))",
                                                      "log_prior = -0.5 * np.sum(z ** 2, axis=-1)")),
    slip("s23_log_weights_one_sample_for_all_k", NB1B, ("solution_iwae", "eps = rng.standard_normal((K,) + q_mean.shape)",
                                                         "eps = rng.standard_normal((1,) + q_mean.shape).repeat(K, axis=0)")),
    slip("s24_best_q_inverse_of_marginal_variance", NB1B, ("solution_best_diagonal_q", "q_var = 1.0 / np.diag(np.linalg.inv(post_cov))",
                                                           "q_var = 1.0 / np.diag(post_cov)")),
    slip("s25_approximation_gap_with_the_sheet_posterior", NB1B, ("solution_approximation_gap",
         "approximation_gap = kl_gaussians(q_mean_best, q_var_best[:, :, None] * np.eye(2), post_mean_skew, post_cov_skew)",
         "approximation_gap = kl_gaussians(q_mean_best, q_var_best[:, :, None] * np.eye(2), post_mean, post_cov)")),
    # notebook 2: the forward pass as functions, collapse, beta
    slip("s26_forward_sigma_is_variance", NB2, ("solution_functions", "sigma = np.exp(0.5 * log_var)", "sigma = np.exp(log_var)")),
    slip("s27_forward_decoder_wrong_side", NB2, ("solution_functions", "X_prime = Z @ W_dec.T + b_dec", "X_prime = Z @ W_dec + b_dec")),
    slip("s28_forward_log_var_wrong_side", NB2, ("solution_functions", "log_var = X @ W_ls.T + b_ls", "log_var = X @ W_ls + b_ls")),
    slip("s29_losses_recon_mean_over_coordinates", NB2, ("solution_functions", "L_recon = float(np.mean(np.sum((X - X_prime) ** 2, axis=1)))",
                                                         "L_recon = float(np.mean((X - X_prime) ** 2))")),
    slip("s30_losses_kl_half_dropped", NB2, ("solution_functions", "L_KL = float(np.mean(0.5 * np.sum(", "L_KL = float(np.mean(1.0 * np.sum(")),
    slip("s31_losses_difference", NB2, ("solution_functions", "return L_recon, L_KL, L_recon + L_KL", "return L_recon, L_KL, L_recon - L_KL")),
    slip("s32_collapse_forward_with_w_ls", NB2, ("solution_scenario_2_forward", "W_ls_c, b_ls_c, W_dec, b_dec, rng)", "W_ls, b_ls_c, W_dec, b_dec, rng)")),
    slip("s33_collapse_log_var_bias_sign", NB2, ("solution_collapse_parameters", "b_ls_c = np.array([-0.1, -0.1])", "b_ls_c = np.array([0.1, 0.1])")),
    slip("s34_consistent_collapse_keeps_the_bias", NB2, ("solution_consistent_collapse", "b_dec_cc = mu_data.copy()", "b_dec_cc = b_dec.copy()")),
    slip("s35_beta_loss_kl_divided", NB2, ("solution_beta", "Loss_beta = L_recon + beta * L_KL", "Loss_beta = L_recon + L_KL / beta")),
    slip("s36_beta_loss_c_mixes_scenarios", NB2, ("solution_beta", "Loss_c_beta = L_recon_c + beta * L_KL_c", "Loss_c_beta = L_recon_c + beta * L_KL")),
    # notebook 3: active units, beta*, the saddle, the aggregate posterior
    slip("s37_active_units_variance_of_everything", NB3, ("solution_active_units", "np.var(mu, axis=0) > threshold", "np.var(mu, axis=None, keepdims=True) > threshold")),
    slip("s38_active_units_threshold_ignored", NB3, ("solution_active_units", "np.var(mu, axis=0) > threshold", "np.var(mu, axis=0) > 0.01")),
    slip("s39_collapse_measured_first_active", NB3, ("solution_beta_star", "betas[np.argmax(n_active == 0)]", "betas[np.argmax(n_active > 0)]")),
    slip("s40_hessian_without_the_prior_term", NB3, ("solution_collapse_hessian", "[[2.0, -2.0 * lam], [-2.0 * lam, beta * lam]]",
                                                      "[[2.0 * lam, -2.0 * lam], [-2.0 * lam, beta * lam]]")),
    slip("s41_hessian_cross_term_without_lambda", NB3, ("solution_collapse_hessian", "[[2.0, -2.0 * lam], [-2.0 * lam, beta * lam]]",
                                                         "[[2.0, -2.0], [-2.0, beta * lam]]")),
    slip("s42_classify_by_the_determinant", NB3, ("solution_collapse_hessian", "if np.all(eigenvalues > 0):", "if np.linalg.det(H) > 0:")),
    slip("s43_aggregate_covariance_transposed", NB3, ("solution_aggregate_posterior", "A @ Sigma_data @ A.T + np.diag(e_sigma2)", "A.T @ Sigma_data @ A + np.diag(e_sigma2)")),
    slip("s44_aggregate_standard_deviations", NB3, ("solution_aggregate_posterior", "e_sigma2 = np.exp(C @ mu_data + d + 0.5 * np.diag(C @ Sigma_data @ C.T))",
                                                    "e_sigma2 = np.exp(0.5 * (C @ mu_data + d) + 0.125 * np.diag(C @ Sigma_data @ C.T))")),
    slip("s45_aggregate_mean_without_bias", NB3, ("solution_aggregate_posterior", "return A @ mu_data + b, ", "return A @ mu_data, ")),
]

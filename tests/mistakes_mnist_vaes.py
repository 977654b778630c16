"""mnist_vaes's common mistakes beyond tests/catalog.py's mutants, for the self-checks (tests/self_checks.py).

Each is a slip a student makes while writing one answer: a wrong sign or power, a variance for a standard deviation,
a sum for a mean, beta on the wrong term, logsumexp without the log weights, the KL the wrong way round, labels
ignored, noise shared across rows, ... The reference solution with one edit, as tests/catalog.py writes its mutants;
`loses` names the graded test cells whose visible check should flag it (and whose hidden test fails it).
"""

from __future__ import annotations

from catalog import (GF, GM, KC, KD0, KDC, KDN, KL0, KLC, KN, KS, LG1, LG2, LM1, LM2, MB, MG, MM, MNIST, R_GRAD, R_STAT,
                     TP1, TPN, VL3, VLR, Entry, G1, K0)


def mistake(name, notebook, cell, old, new, loses):
    return Entry(name, "mutant", MNIST, notebook, ((cell, old, new),), tuple(loses))


STD = "std = torch.exp(0.5 * log_var)"
SAMPLE = "return mu + std * torch.randn_like(std)"
KL = "return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)"
RECON = "recon = torch.sum((x - x_hat) ** 2, dim=1).mean()"
KL_MEAN = "kl = kl_standard_normal(mu, log_var).mean()"
CHOSEN = "chosen = mu[torch.isin(labels, torch.as_tensor(list(targets)))]"
TERMS = "terms = var / var_p + (mu - mu_p) ** 2 / var_p - 1.0 - log_var + torch.log(var_p)"
IS_TARGET = "is_target = torch.isin(labels, torch.as_tensor(list(targets), dtype=labels.dtype))"
WHERE_GOAL = "torch.where(is_target, kl_diag_gaussians(mu, log_var, mu_p, var_p), kl_standard_normal(mu, log_var))"
LSE = "torch.logsumexp(torch.log(weights) + log_each, dim=1)"
MVN = "components = torch.distributions.MultivariateNormal(means, covariance_matrix=covs, validate_args=False)"
LOG_Q = "log_q = -0.5 * (d * math.log(2 * math.pi) + log_var.sum(dim=1) + (eps ** 2).sum(dim=2))"
MC_MEAN = "return (log_q - log_p).mean(dim=0)"
WHERE_GMM = "kl_gmm_mc(mu, log_var, weights, means, covs, n_samples=n_samples)"

MISTAKES = [
    # 01: reparameterize
    mistake("s01_log_var_as_std", MB, "solution_reparameterize", STD, "std = log_var", [R_GRAD, R_STAT]),
    mistake("s02_exponent_sign", MB, "solution_reparameterize", STD, "std = torch.exp(-0.5 * log_var)", [R_GRAD, R_STAT]),
    mistake("s03_noise_shared_across_rows", MB, "solution_reparameterize", SAMPLE,
            "return mu + std * torch.randn_like(std[:1])", [R_STAT]),
    mistake("s04_uniform_noise", MB, "solution_reparameterize", SAMPLE, "return mu + std * torch.rand_like(std)", [R_STAT]),
    # 01: kl_standard_normal
    mistake("s05_kl_log_var_sign", MB, "solution_kl_standard_normal", "1 + log_var", "1 - log_var", [KL0, KLC, VLR]),
    mistake("s06_kl_sigma_for_variance", MB, "solution_kl_standard_normal", "log_var.exp()", "(0.5 * log_var).exp()",
            [KL0, KLC, VLR]),
    mistake("s07_kl_mean_over_dimensions", MB, "solution_kl_standard_normal", KL,
            "return -0.5 * torch.mean(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)", [KLC, VLR]),
    mistake("s08_kl_mu_not_squared", MB, "solution_kl_standard_normal", "mu.pow(2)", "mu", [KL0, KLC, VLR]),
    mistake("s09_kl_summed_over_the_batch", MB, "solution_kl_standard_normal", KL,
            "return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())", [KL0, KLC, VLR]),
    # 01: vae_loss
    mistake("s10_recon_summed_over_the_batch", MB, "solution_vae_loss", RECON, "recon = torch.sum((x - x_hat) ** 2)", [VLR]),
    mistake("s11_kl_summed_over_the_batch_in_the_loss", MB, "solution_vae_loss", KL_MEAN,
            "kl = kl_standard_normal(mu, log_var).sum()", [VLR]),
    mistake("s12_beta_ignored", MB, "solution_vae_loss", "return recon + beta * kl, recon, kl", "return recon + kl, recon, kl",
            [VLR]),
    mistake("s13_norm_not_squared", MB, "solution_vae_loss", RECON, "recon = torch.norm(x - x_hat, dim=1).mean()", [VLR]),
    mistake("s14_outputs_in_another_order", MB, "solution_vae_loss", "return recon + beta * kl, recon, kl",
            "return recon, kl, recon + beta * kl", [VL3, VLR]),
    # 01: target_prior
    mistake("s15_only_the_first_target", MB, "solution_target_prior", CHOSEN, "chosen = mu[labels == list(targets)[0]]", [TPN]),
    mistake("s16_mean_over_the_wrong_axis", MB, "solution_target_prior", "chosen.mean(dim=0)", "chosen.mean(dim=1)", [TP1, TPN]),
    # 02: kl_diag_gaussians
    mistake("s17_kl_diag_half_dropped", MG, "solution_kl_diag_gaussians", "return 0.5 * terms.sum(dim=1)",
            "return terms.sum(dim=1)", [KDN, KDC, LG1, LG2]),
    mistake("s18_kl_diag_the_wrong_way_round", MG, "solution_kl_diag_gaussians", TERMS,
            "terms = var_p / var + (mu - mu_p) ** 2 / var - 1.0 - torch.log(var_p) + log_var", [KDN, KDC, LG1, LG2]),
    mistake("s19_kl_diag_mean_not_scaled", MG, "solution_kl_diag_gaussians", "(mu - mu_p) ** 2 / var_p", "(mu - mu_p) ** 2",
            [KDC, LG1, LG2]),
    mistake("s20_kl_diag_log_var_as_variance", MG, "solution_kl_diag_gaussians", "var = log_var.exp()", "var = log_var",
            [KD0, KDN, KDC, LG1, LG2]),
    mistake("s21_kl_diag_log_signs_flipped", MG, "solution_kl_diag_gaussians", "- 1.0 - log_var + torch.log(var_p)",
            "- 1.0 + log_var - torch.log(var_p)", [KD0, KDN, KDC, LG1, LG2]),
    mistake("s22_kl_diag_mean_over_dimensions", MG, "solution_kl_diag_gaussians", "return 0.5 * terms.sum(dim=1)",
            "return 0.5 * terms.mean(dim=1)", [KDN, KDC, LG1, LG2]),
    mistake("s23_kl_diag_prior_mean_ignored", MG, "solution_kl_diag_gaussians", "(mu - mu_p) ** 2", "mu ** 2",
            [KD0, KDC, LG1, LG2]),
    # 02: labelled_goal_kl
    mistake("s24_labels_ignored_every_row_normal", MG, "solution_labelled_goal_kl", "return " + WHERE_GOAL,
            "return kl_standard_normal(mu, log_var)", [LG1, LG2]),
    mistake("s25_goal_kl_summed_over_the_batch", MG, "solution_labelled_goal_kl", "return " + WHERE_GOAL,
            "return " + WHERE_GOAL + ".sum()", [LG1, LG2]),
    # 03: gmm_log_prob
    mistake("s26_logsumexp_without_the_log_weights", MM, "solution_gmm_log_prob", LSE, "torch.logsumexp(log_each, dim=1)",
            [GM, GF, KC, KS, KN, LM1, LM2]),
    mistake("s27_weights_multiply_the_log_densities", MM, "solution_gmm_log_prob", LSE,
            "torch.logsumexp(weights * log_each, dim=1)", [GM, GF, KC, KS, KN, LM1, LM2]),
    mistake("s28_mean_over_components", MM, "solution_gmm_log_prob", LSE, "(torch.log(weights) + log_each).mean(dim=1)",
            [GM, GF, KC, KS, KN, LM1, LM2]),
    mistake("s29_diagonal_of_the_covariance_only", MM, "solution_gmm_log_prob", MVN,
            "components = torch.distributions.MultivariateNormal(means, covariance_matrix=torch.diag_embed("
            "torch.diagonal(covs, dim1=-2, dim2=-1)), validate_args=False)", [GM, KC, KS, KN, LM1, LM2]),
    mistake("s30_density_not_log_density", MM, "solution_gmm_log_prob", "return " + LSE, "return torch.exp(" + LSE + ")",
            [G1, GM, GF, K0, KC, KS, KN, LM1, LM2]),
    # 03: kl_gmm_mc
    mistake("s31_samples_summed_not_averaged", MM, "solution_kl_gmm_mc", MC_MEAN, "return (log_q - log_p).sum(dim=0)",
            [KC, KS, KN, LM1, LM2]),
    mistake("s32_kl_the_wrong_way_round", MM, "solution_kl_gmm_mc", MC_MEAN, "return (log_p - log_q).mean(dim=0)",
            [KC, KS, KN, LM1, LM2]),
    mistake("s33_log_q_without_2_pi", MM, "solution_kl_gmm_mc", LOG_Q,
            "log_q = -0.5 * (log_var.sum(dim=1) + (eps ** 2).sum(dim=2))", [K0, KC, KN, LM1, LM2]),
    mistake("s34_log_q_without_log_var", MM, "solution_kl_gmm_mc", LOG_Q,
            "log_q = -0.5 * (d * math.log(2 * math.pi) + (eps ** 2).sum(dim=2))", [K0, KC, KS, LM1, LM2]),
    mistake("s35_log_q_distance_not_scaled", MM, "solution_kl_gmm_mc", "(eps ** 2).sum(dim=2))",
            "((z - mu) ** 2).sum(dim=2))", [K0, KC, KS, LM1, LM2]),
    # 03: labelled_gmm_kl
    mistake("s36_labelled_gmm_only_the_first_target", MM, "solution_labelled_gmm_kl", IS_TARGET,
            "is_target = labels == list(targets)[0]", [LM1, LM2]),
    mistake("s37_labelled_gmm_mixture_for_every_row", MM, "solution_labelled_gmm_kl",
            "return torch.where(is_target, " + WHERE_GMM + ",\n                       kl_standard_normal(mu, log_var))",
            "return " + WHERE_GMM, [LM1, LM2]),
    mistake("s38_labelled_gmm_batch_mean", MM, "solution_labelled_gmm_kl", "kl_standard_normal(mu, log_var))",
            "kl_standard_normal(mu, log_var)).mean()", [LM1, LM2]),
]

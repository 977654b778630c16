"""vae_by_hand's hidden fixtures: the sheet's constants and the exact expectations the hidden tests compare with.

A hidden test imports what it needs (``from hidden_fixtures import sheet, expected_losses``) and reads like the
maths it checks. Only the grader's checker process and the instructor's own kernels (solutions/, make course)
import this file: nbgrader_config.py keeps it out of the student release (CourseDirectory.ignore), a grading
kernel's sandbox never holds it, and make feedback's leak check looks for its lines in every feedback page
(tests/test_fixtures.py checks all three).
"""

from types import SimpleNamespace

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
)

scenario_1 = h.LinearVAE.from_arrays(sheet.W_mu, sheet.b_mu, sheet.W_ls, sheet.b_ls, sheet.W_dec, sheet.b_dec)
scenario_2 = h.LinearVAE.from_arrays(sheet.W_mu_c, sheet.b_mu_c, sheet.W_ls_c, sheet.b_ls_c, sheet.W_dec, sheet.b_dec)


def expected_losses(params) -> tuple[float, float]:
    """Exact (E[L_recon], E[L_KL]) of a linear VAE over x ~ N(mu_data, Sigma_data) and its noise."""
    recon, kl = h.expected_losses(params, sheet.mu_data, sheet.Sigma_data)
    return float(recon), float(kl)

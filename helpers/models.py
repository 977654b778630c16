"""Builders for the MNIST networks; torch is imported only when you build one (see helpers/nets.py)."""

from .config import CONFIG

__all__ = ["make_vae", "make_classifier"]


def make_vae(latent_dim: int = CONFIG.latent_dim, hidden_dim: int = CONFIG.hidden_dim):
    """A fresh MlpVAE: encode(x (B, 784)) -> (mu, log_var) (B, D) each; decode(z (B, D)) -> x_hat (B, 784)."""
    from .nets import MlpVAE

    return MlpVAE(latent_dim=latent_dim, hidden_dim=hidden_dim)


def make_classifier():
    """A fresh (untrained) DigitClassifier: images (B, 784) -> logits (B, 10). Use h.train_classifier to train one."""
    from .nets import DigitClassifier

    return DigitClassifier()

"""Builders for the MNIST networks; torch is imported only when you build one (see helpers/nets.py)."""

from .config import CONFIG

__all__ = ["make_vae", "make_classifier"]


def make_vae(latent_dim: int = CONFIG.latent_dim, hidden_dim: int = CONFIG.hidden_dim,
             architecture: str = CONFIG.architecture, channels: tuple = CONFIG.channels):
    """A fresh VAE: encode(x (B, 784)) -> (mu, log_var) (B, D) each; decode(z (B, D)) -> x_hat (B, 784).

    architecture="conv" (default): h.ConvVAE, the project's convolutional encoder and decoder;
    architecture="mlp": h.MlpVAE, one hidden layer of hidden_dim units (channels is ignored).
    """
    from .nets import ConvVAE, MlpVAE

    if architecture == "conv":
        return ConvVAE(latent_dim=latent_dim, channels=channels, hidden_dim=hidden_dim)
    if architecture == "mlp":
        return MlpVAE(latent_dim=latent_dim, hidden_dim=hidden_dim)
    raise ValueError(f"unknown architecture {architecture!r}: use 'conv' or 'mlp'")


def make_classifier():
    """A fresh (untrained) DigitClassifier: images (B, 784) -> logits (B, 10). Use h.train_classifier to train one."""
    from .nets import DigitClassifier

    return DigitClassifier()

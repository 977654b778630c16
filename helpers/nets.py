"""Small torch networks for MNIST (imported lazily: build them with h.make_vae() and h.make_classifier())."""

from torch import nn

__all__ = ["ConvVAE", "MlpVAE", "DigitClassifier"]


class ConvVAE(nn.Module):
    """The project's convolutional VAE: two stride-2 convolutions, a dense layer, and the mirror image.

    Encoder: 1x28x28 -> C1x14x14 -> C2x7x7 (4x4 kernels, stride 2, BatchNorm, LeakyReLU 0.2)
             -> H units -> 2D numbers, split into mu and log_var.
    Decoder: D -> H -> C2x7x7 -> C1x14x14 -> 1x28x28 (transposed convolutions), sigmoid pixels.
    encode(x (B, 784)) -> (mu (B, D), log_var (B, D)); decode(z (B, D)) -> x_hat (B, 784) in (0, 1).
    """

    def __init__(self, latent_dim: int = 4, channels: tuple = (32, 64), hidden_dim: int = 256):
        super().__init__()
        c1, c2 = channels
        self.latent_dim, self.channels, self.hidden_dim = latent_dim, tuple(channels), hidden_dim

        def act():
            return nn.LeakyReLU(0.2)

        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.BatchNorm2d(c1), act(),    # C1 x 14 x 14
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.BatchNorm2d(c2), act(),   # C2 x 7 x 7
            nn.Flatten(), nn.Linear(c2 * 49, hidden_dim), act(), nn.Linear(hidden_dim, 2 * latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), act(), nn.Linear(hidden_dim, c2 * 49), act(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.BatchNorm2d(c1), act(),  # C1 x 14 x 14
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1), nn.Flatten(), nn.Sigmoid(),   # 784 pixels
        )

    def encode(self, x):
        """Encode images x (B, 784) into (mu (B, D), log_var (B, D))."""
        mu, log_var = self.encoder(x.reshape(len(x), -1)).chunk(2, dim=1)
        return mu, log_var

    def decode(self, z):
        """Decode z (B, D) into images (B, 784) with pixels in (0, 1)."""
        return self.decoder(z)


class MlpVAE(nn.Module):
    """An MLP encoder 784-H-(2D) and decoder D-H-784 with sigmoid pixels; sampling z is left to you.

    encode(x (B, 784)) -> (mu (B, D), log_var (B, D)); decode(z (B, D)) -> x_hat (B, 784) in (0, 1).
    """

    def __init__(self, latent_dim: int = 4, hidden_dim: int = 400):
        super().__init__()
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.encoder = nn.Sequential(nn.Linear(784, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 784), nn.Sigmoid())

    def encode(self, x):
        """Encode images x (B, 784) into (mu (B, D), log_var (B, D))."""
        mu, log_var = self.encoder(x.reshape(len(x), -1)).chunk(2, dim=1)
        return mu, log_var

    def decode(self, z):
        """Decode z (B, D) into images (B, 784) with pixels in (0, 1)."""
        return self.decoder(z)


class DigitClassifier(nn.Module):
    """A small CNN: images (B, 784) -> logits (B, 10). The course's reference judge of generated digits."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 14 x 14
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 7 x 7
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 7 * 7, 10),
        )

    def forward(self, x):
        """Logits (B, 10) for images x (B, 784) in [0, 1]."""
        return self.net(x.reshape(len(x), -1))

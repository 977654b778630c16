"""The course's constants for the MNIST VAEs, in one place.

The values marked "seed" come from the Biased VAE project the assignment follows;
the others are CPU-sized choices so that every notebook trains in seconds.
"""

from dataclasses import asdict, dataclass

__all__ = ["MnistConfig", "CONFIG"]


@dataclass(frozen=True)
class MnistConfig:
    """Every constant the MNIST notebooks share; CONFIG is the one instance they use."""

    # models
    latent_dim: int = 4            # seed: LATENT_DIM
    latent_dim_2d: int = 2         # the small model drawn in the 2-D latent plots
    hidden_dim: int = 400          # one hidden layer in the encoder and in the decoder
    # loss weights
    beta_base: float = 0.35        # seed: BETA_BASE
    beta_goal: float = 0.75        # seed: BETA_GOAL
    beta_gmm: float = 0.75         # seed: BETA_GMM
    # the expert
    expert_goals: tuple = (6,)     # seed: EXPERT_GOALS, the digits the expert wants more of
    gmm_n_components: int = 4      # seed: GMM_N_COMPONENTS
    gmm_covariance_type: str = "full"  # seed: GMM_COVARIANCE_TYPE
    separation_radius: float = 4.0  # the "separated" variants move the target prior this far from 0
    # data and training (seed: batch 64, lr 3e-4, 200 epochs, patience 10; smaller here for a CPU)
    test_fraction: float = 0.2     # embedded subset: 400 train / 100 test images per digit
    val_fraction: float = 0.1      # seed: VALIDATION_SPLIT, taken from the training split
    batch_size: int = 128
    learning_rate: float = 1e-3
    max_epochs: int = 30           # base VAE
    finetune_epochs: int = 10      # Goal and GMM VAEs, which start from the base VAE's weights
    patience: int = 3              # early stopping: epochs without a better validation loss
    classifier_epochs: int = 6
    # measuring
    n_generated: int = 1000        # digits generated for each hit rate
    seed: int = 0

    def as_dict(self) -> dict:
        """The configuration as a plain dict (part of every checkpoint's key)."""
        return asdict(self)


CONFIG = MnistConfig()

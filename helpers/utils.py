"""Seeding, device selection and the course's folders."""

import os
import random
from pathlib import Path

import numpy as np

__all__ = ["seed_everything", "get_device", "repo_root", "build_dir", "checkpoint_dir"]


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and (if loaded) torch; return a fresh NumPy Generator."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: pass e.g. seed_everything(0)")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch = _loaded_torch()
    if torch is not None:
        torch.manual_seed(int(seed))
    return np.random.default_rng(int(seed))


def get_device():
    """Return torch.device('cuda') when a GPU is usable, else torch.device('cpu')."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def repo_root() -> Path:
    """The course repository (helpers is installed editable, so this is the clone)."""
    return Path(__file__).resolve().parent.parent


def build_dir() -> Path:
    """Where generated files go: $VAE_COURSE_BUILD, else <repo>/build."""
    return Path(os.environ.get("VAE_COURSE_BUILD", repo_root() / "build"))


def checkpoint_dir() -> Path:
    """Where trained models are cached: $VAE_COURSE_CHECKPOINTS, else <build>/checkpoints."""
    return Path(os.environ.get("VAE_COURSE_CHECKPOINTS", build_dir() / "checkpoints"))


def _loaded_torch():
    """torch if something already imported it (numpy-only notebooks never pay for it)."""
    import sys

    return sys.modules.get("torch")

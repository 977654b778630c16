"""Helpers for the VAE course. Import once, the same way everywhere: ``import helpers as h``.

Nothing here answers a graded question: students can (and should) read every line.
Nothing is created at import time; torch is imported only by the functions that need it.
"""

from .utils import *  # noqa: F401,F403
from .claims import *  # noqa: F401,F403
from .plotting import *  # noqa: F401,F403
from .linear_vae import *  # noqa: F401,F403
from .data import *  # noqa: F401,F403
from .config import *  # noqa: F401,F403
from .mnist import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
from .evaluate import *  # noqa: F401,F403
from .widgets import *  # noqa: F401,F403
from .notebook_import import *  # noqa: F401,F403

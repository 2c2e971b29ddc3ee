"""Which torch device a run uses."""
from __future__ import annotations

import torch

from spark_env.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (an error when CUDA is missing: no silent CPU fallback) or ``auto`` (CUDA when available).
    ``cuda:N`` names one GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} was asked for but torch sees no CUDA device; use 'cpu' or 'auto'")
    return torch.device(name)

"""Pick where to run: CUDA, then Apple's MPS, then the CPU. Code never assumes a GPU."""
from __future__ import annotations

import torch


def get_device(prefer: str | None = None) -> torch.device:
    """``prefer`` ("cuda", "mps", "cpu") if given and available, else the best one available."""
    if prefer is not None:
        if prefer.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} requested but CUDA is not available")
        if prefer == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError("device 'mps' requested but MPS is not available")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")

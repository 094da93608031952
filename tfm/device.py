"""Where to run, and the few rules that keep a GPU busy.

* :func:`get_device`: CUDA, then Apple's MPS, then the CPU. Code never assumes a GPU.
* :func:`can_peek`: may Python read a tensor's value cheaply? Only on the CPU: reading a value
  of a GPU tensor (``.item()``, ``bool(t)``, ``.tolist()``) makes the CPU wait until the GPU has
  finished all the work queued before it, so the GPU then idles until the CPU queues more.
* :func:`to_device`: copy a batch to the device, asynchronously where that is possible.
* :func:`set_seed`: seed torch and return a generator, for reproducible examples.
"""
from __future__ import annotations

import torch
from torch import Tensor


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


def can_peek(t: Tensor) -> bool:
    """May Python read a value of ``t`` cheaply? On the CPU yes; on a GPU (or MPS) reading one, e.g.
    ``bool(mask.all())``, makes the CPU wait until the GPU has finished all the work queued before it."""
    return t.device.type == "cpu"


def to_device(tensors: tuple[Tensor, ...], device: torch.device) -> tuple[Tensor, ...]:
    """Copy CPU tensors to ``device``; to CUDA through pinned (page-locked) memory, asynchronously.

    ``non_blocking=True`` only overlaps the copy with the GPU's work when the source is pinned;
    from ordinary memory the copy is synchronous anyway, so it is asked for only after pinning.
    """
    if device.type != "cuda":
        return tuple(t.to(device) for t in tensors)
    pinned = (t if t.is_pinned() else t.pin_memory() for t in tensors)
    return tuple(t.to(device, non_blocking=True) for t in pinned)


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed torch (and return a generator) so that every printed number in the book is reproducible."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)

"""Token embedding: look up one learnable vector per token id.

Ids are checked where they enter (a clear ValueError instead of an index error, or a
device-side assert on a GPU). Inside :func:`trusted_ids` the range check is skipped: for
ids that were checked already, on the CPU (the training loop checks each batch before it
moves to the device; generation checks the prompt once and then only adds ids it picked
from the vocabulary). On a GPU the range check would make the CPU wait for the GPU.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn


_trusted = 0  # > 0 inside trusted_ids(); a plain global, which torch.compile guards on


@contextmanager
def trusted_ids() -> Iterator[None]:
    """Within the block, :func:`check_tokens` checks shapes and dtypes but not the id range."""
    global _trusted
    _trusted += 1
    try:
        yield
    finally:
        _trusted -= 1


def check_tokens(tokens: Tensor, vocab_size: int, name: str = "tokens") -> None:
    """Raise a ValueError unless ``tokens`` is a non-empty (B, T) integer tensor of ids < vocab_size.

    The range (a read-back of min and max) is not checked inside :func:`trusted_ids`.
    """
    if not isinstance(tokens, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise ValueError(f"{name} must be integer token ids (torch.long), got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape (B, T), got shape {tuple(tokens.shape)}")
    if tokens.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(tokens.shape)}")
    if _trusted:
        return
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} contain id {bad}, outside the vocabulary [0, {vocab_size})")


class TokenEmbedding(nn.Module):
    """(B, T) token ids -> (B, T, d_model) vectors; learnable matrix (vocab_size x d_model).

    The paper multiplies the embeddings by sqrt(d_model) (``scale=True``): the vectors are
    initialised with standard deviation d_model^-1/2, so after scaling they have about
    unit size, comparable to the positional encoding added next. GPT-2 does not scale.

    ``check_ids=False``: the module does not check its ids, for models that check them where
    they enter (see :mod:`tfm.model`).
    """

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None, scale: bool = True,
                 check_ids: bool = True) -> None:
        super().__init__()
        self.check_ids = check_ids
        self.vocab_size, self.d_model = vocab_size, d_model
        self.scale = math.sqrt(d_model) if scale else 1.0
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)  # rows ~ N(0, 1)
        if scale:
            with torch.no_grad():
                self.embed.weight.mul_(d_model ** -0.5)  # rows ~ N(0, 1/d_model): unit size after scaling

    @property
    def weight(self) -> nn.Parameter:
        return self.embed.weight

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, d_model)."""
        if self.check_ids:
            check_tokens(tokens, self.vocab_size)
        x = self.embed(tokens)  # (B, T, d_model)
        return x * self.scale if self.scale != 1.0 else x

"""Token embedding: look up one learnable vector per token id."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def check_tokens(tokens: Tensor, vocab_size: int, name: str = "tokens") -> None:
    """Raise a ValueError unless ``tokens`` is a non-empty (B, T) integer tensor of ids < vocab_size."""
    if not isinstance(tokens, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise ValueError(f"{name} must be integer token ids (torch.long), got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape (B, T), got shape {tuple(tokens.shape)}")
    if tokens.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(tokens.shape)}")
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} contain id {bad}, outside the vocabulary [0, {vocab_size})")


class TokenEmbedding(nn.Module):
    """(B, T) token ids -> (B, T, d_model) vectors; learnable matrix (vocab_size x d_model).

    The paper multiplies the embeddings by sqrt(d_model) (``scale=True``): the vectors are
    initialised with standard deviation d_model^-1/2, so after scaling they have about
    unit size, comparable to the positional encoding added next. GPT-2 does not scale.
    """

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None, scale: bool = True) -> None:
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.scale = math.sqrt(d_model) if scale else 1.0
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)  # rows ~ N(0, 1)
        if scale:
            with torch.no_grad():
                self.embed.weight.mul_(d_model ** -0.5)  # rows ~ N(0, 1/d_model): unit size after scaling

    @property
    def weight(self) -> nn.Parameter:
        return self.embed.weight

    def forward(self, tokens: Tensor, check_ids: bool = True) -> Tensor:
        """``check_ids=False`` skips the range check (generation checks the prompt once: on a GPU
        the check waits for the device at every step)."""
        if check_ids:
            check_tokens(tokens, self.vocab_size)
        x = self.embed(tokens)  # (B, T, d_model)
        return x * self.scale if self.scale != 1.0 else x

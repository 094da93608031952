"""Positional information: attention alone does not know token order.

The paper adds fixed sinusoids (no parameters); GPT-2 learns one vector per position.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_encoding(max_len: int, d_model: int) -> Tensor:
    """(max_len, d_model) table: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    if max_len <= 0 or d_model <= 0 or d_model % 2 != 0:
        raise ValueError(f"need max_len > 0 and an even d_model > 0, got max_len={max_len}, d_model={d_model}")
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    i2 = torch.arange(0, d_model, 2, dtype=torch.float32)  # (d_model/2,) the even dimensions 2i
    freq = torch.exp(-math.log(10000.0) * i2 / d_model)  # 1 / 10000^(2i/d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)  # even dimensions: sine
    pe[:, 1::2] = torch.cos(pos * freq)  # odd dimensions: cosine
    return pe


def _check_length(x: Tensor, start: int, max_len: int) -> None:
    if x.dim() != 3:
        raise ValueError(f"expected embeddings of shape (B, T, d_model), got shape {tuple(x.shape)}")
    if start + x.size(1) > max_len:
        raise ValueError(f"sequence of length {start + x.size(1)} is longer than max_len={max_len}")


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal table to the embeddings, then dropout. No learnable parameters."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        self.max_len = max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, start: int = 0) -> Tensor:
        """x: (B, T, d_model) embeddings of positions start .. start + T - 1."""
        _check_length(x, start, self.max_len)
        return self.dropout(x + self.pe[start : start + x.size(1)].to(x.dtype))  # (B, T, d_model)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned vector per position (GPT-2's wpe), then dropout. Parameters: max_len x d_model."""

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)

    @property
    def weight(self) -> nn.Parameter:
        return self.embed.weight

    def forward(self, x: Tensor, start: int = 0) -> Tensor:
        _check_length(x, start, self.max_len)
        pos = torch.arange(start, start + x.size(1), device=x.device)  # (T,)
        return self.dropout(x + self.embed(pos))  # (B, T, d_model)

"""Layer normalization and the residual connection around each sub-layer.

Post-LN (the 2017 paper): x = LayerNorm(x + Dropout(sublayer(x))).
Pre-LN (GPT-2 and most models since): x = x + Dropout(sublayer(LayerNorm(x))).
Pre-LN keeps a clean residual path from input to output, which makes deep stacks
train without a careful warm-up; it then needs one final LayerNorm after the stack.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Layer norm written out: normalise each vector over its features, then scale and shift."""
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1) biased, as in the paper and PyTorch
    x_hat = (x - mean) / torch.sqrt(var + eps)  # (..., C) zero mean, unit variance
    if weight is not None:
        x_hat = x_hat * weight  # gamma: learnable scale
    if bias is not None:
        x_hat = x_hat + bias  # beta: learnable shift
    return x_hat


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension with learnable scale (gamma) and shift (beta).

    ``forward`` calls the fused ``F.layer_norm``; :func:`layer_norm` is the same
    computation written out (the tests check both against ``nn.LayerNorm``).
    """

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.d_model:
            raise ValueError(f"LayerNorm expects width {self.d_model}, got input of shape {tuple(x.shape)}")
        return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}, bias={self.bias is not None}"


class ResidualNorm(nn.Module):
    """A sub-layer wrapped in its residual connection and layer norm (post- or pre-LN)."""

    def __init__(self, d_model: int, dropout: float = 0.0, norm_first: bool = False,
                 eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.norm = LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        h = sublayer(self.norm(x) if self.norm_first else x)
        if self.training and self.dropout.p > 0:  # a no-op otherwise: skip the call (generation is call-bound)
            h = self.dropout(h)
        if self.norm_first:
            return x + h  # pre-LN: the residual path is untouched
        return self.norm(x + h)  # post-LN: normalise the sum

"""The SwiGLU feed-forward network (Shazeer 2020), used by PaLM, LLaMA and most models since.

The 2017 network expands, applies one non-linearity, and projects back:
``W_2 act(W_1 x)``. A gated linear unit computes TWO expansions of the token and multiplies
them element by element, one of them passed through a non-linearity (here SiLU, also called
Swish: ``silu(z) = z * sigmoid(z)``): the "gate" decides, per hidden unit and per token, how much
of the other expansion, the "up" projection, goes through:

    SwiGLU(x) = W_down (silu(W_gate x) * W_up x)

Three matrices instead of two: to keep the parameter count of a 4x FFN (``8 d_model^2``),
the hidden width shrinks to ``d_ff = 8/3 d_model`` (LLaMA rounds it up to a multiple of 256).
No biases, as in LLaMA.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def swiglu_hidden(d_model: int, multiple_of: int = 1) -> int:
    """LLaMA's hidden width: int(2/3 * 4 d_model), rounded up to a multiple of ``multiple_of``.

    2/3 of the 4x width, so that three matrices hold as many weights as the two of a 4x FFN.
    """
    if d_model <= 0 or multiple_of <= 0:
        raise ValueError(f"d_model and multiple_of must be positive, got d_model={d_model}, multiple_of={multiple_of}")
    hidden = int(2 * (4 * d_model) / 3)
    return multiple_of * -(-hidden // multiple_of)   # ceiling division


class SwiGLU(nn.Module):
    """FFN_SwiGLU(x) = W_down (silu(W_gate x) * W_up x), d_model -> d_ff -> d_model, token by token.

    Learnable parameters: W_gate, W_up (d_ff x d_model each), W_down (d_model x d_ff), and with
    ``bias=True`` a bias for each. ``d_ff`` defaults to :func:`swiglu_hidden` (d_model).
    """

    def __init__(self, d_model: int, d_ff: int | None = None, bias: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        d_ff = swiglu_hidden(d_model) if d_ff is None else d_ff
        if d_model <= 0 or d_ff <= 0:
            raise ValueError(f"d_model and d_ff must be positive, got d_model={d_model}, d_ff={d_ff}")
        self.gate = nn.Linear(d_model, d_ff, bias=bias)
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.down = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.gate.in_features:
            raise ValueError(f"SwiGLU expects width d_model={self.gate.in_features}, got shape {tuple(x.shape)}")
        h = F.silu(self.gate(x)) * self.up(x)    # (B, T, d_ff): the gate scales the up projection
        if self.training and self.dropout.p > 0:
            h = self.dropout(h)
        return self.down(h)                      # (B, T, d_model)

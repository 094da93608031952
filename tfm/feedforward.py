"""The position-wise feed-forward network: the same small MLP applied to every token."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


def activation_fn(name: str):
    """relu (the paper), gelu (BERT) or gelu_tanh (GPT-2's tanh approximation of GELU)."""
    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = W_2 act(W_1 x + b_1) + b_2, d_model -> d_ff -> d_model, token by token.

    Learnable parameters: W_1 (d_ff x d_model), b_1 (d_ff), W_2 (d_model x d_ff), b_2 (d_model).
    """

    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", dropout: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.activation_name = activation
        self.act = activation_fn(activation)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.linear1.in_features:
            raise ValueError(
                f"feed-forward expects width d_model={self.linear1.in_features}, got shape {tuple(x.shape)}"
            )
        h = self.act(self.linear1(x))  # (B, T, d_ff): expand
        if self.training and self.dropout.p > 0:
            h = self.dropout(h)
        return self.linear2(h)  # (B, T, d_model): project back

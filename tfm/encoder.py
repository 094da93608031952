"""The encoder: self-attention and a feed-forward network, each inside residual + layer norm,
repeated N times. Its output goes to the next layer, or (after the last) to the decoder."""
from __future__ import annotations

from torch import Tensor, nn

from .attention import MultiHeadAttention
from .feedforward import PositionwiseFeedForward
from .norm import LayerNorm, ResidualNorm


class EncoderLayer(nn.Module):
    """One encoder layer: (B, S, d_model) -> (B, S, d_model).

    x = ResidualNorm(x, self-attention)      # every token looks at every (unmasked) token
    x = ResidualNorm(x, feed-forward)        # then each token is processed on its own
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, activation: str = "relu",
                 norm_first: bool = False, bias: bool = True, layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.ff = PositionwiseFeedForward(d_model, d_ff, activation, dropout=dropout, bias=bias)
        self.res_attn = ResidualNorm(d_model, dropout, norm_first, layer_norm_eps, bias)
        self.res_ff = ResidualNorm(d_model, dropout, norm_first, layer_norm_eps, bias)

    def forward(self, x: Tensor, mask: Tensor | None = None, *,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """x: (B, S, d_model); mask: bool, True = may attend, e.g. padding_mask(src) (B, 1, 1, S)."""
        weights = None
        if return_weights:
            def attend(h: Tensor) -> Tensor:
                nonlocal weights
                out, weights = self.self_attn(h, h, h, mask, return_weights=True)
                return out
        else:
            def attend(h: Tensor) -> Tensor:
                return self.self_attn(h, h, h, mask)
        x = self.res_attn(x, attend)  # (B, S, d_model)
        x = self.res_ff(x, self.ff)  # (B, S, d_model)
        return (x, weights) if return_weights else x


class Encoder(nn.Module):
    """A stack of ``n_layers`` encoder layers, with a final LayerNorm when ``final_norm``
    (default: on for pre-LN, where the last layer's output is not normalised; off for post-LN)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, bias: bool = True,
                 layer_norm_eps: float = 1e-5, final_norm: bool | None = None) -> None:
        super().__init__()
        self.d_model = d_model
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, activation, norm_first, bias, layer_norm_eps)
            for _ in range(n_layers)
        )
        final_norm = norm_first if final_norm is None else final_norm
        self.norm = LayerNorm(d_model, layer_norm_eps, bias) if final_norm else None

    def forward(self, x: Tensor, mask: Tensor | None = None, *,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """(B, S, d_model) -> (B, S, d_model); with ``return_weights`` also each layer's (B, H, S, S)."""
        all_weights = []
        for layer in self.layers:
            if return_weights:
                x, w = layer(x, mask, return_weights=True)
                all_weights.append(w)
            else:
                x = layer(x, mask)  # the output of one layer is the input of the next
        if self.norm is not None:
            x = self.norm(x)
        return (x, all_weights) if return_weights else x

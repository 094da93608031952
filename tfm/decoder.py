"""The decoder: masked self-attention, cross-attention to the encoder's output, and a
feed-forward network, each inside residual + layer norm (three times), repeated N times.

A GPT block is the same layer without cross-attention (``cross_attention=False``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from .attention import KVCache, MultiHeadAttention
from .feedforward import PositionwiseFeedForward
from .norm import LayerNorm, ResidualNorm


@dataclass
class LayerCache:
    """What one decoder layer remembers between generation steps."""

    self_attn: KVCache = field(default_factory=KVCache)  # grows by one token per step
    cross_attn: KVCache = field(default_factory=lambda: KVCache(static=True))  # the memory's K, V

    def reorder(self, index: Tensor) -> None:
        self.self_attn.reorder(index)
        self.cross_attn.reorder(index)


class DecoderLayer(nn.Module):
    """One decoder layer: (B, T, d_model) -> (B, T, d_model).

    y = ResidualNorm(y, masked self-attention)          # see only earlier target tokens
    y = ResidualNorm(y, cross-attention to memory)      # queries from y, keys/values from the encoder
    y = ResidualNorm(y, feed-forward)
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, activation: str = "relu",
                 norm_first: bool = False, bias: bool = True, layer_norm_eps: float = 1e-5,
                 cross_attention: bool = True) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.res_self = ResidualNorm(d_model, dropout, norm_first, layer_norm_eps, bias)
        if cross_attention:
            self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
            self.res_cross = ResidualNorm(d_model, dropout, norm_first, layer_norm_eps, bias)
        else:
            self.cross_attn = self.res_cross = None
        self.ff = PositionwiseFeedForward(d_model, d_ff, activation, dropout=dropout, bias=bias)
        self.res_ff = ResidualNorm(d_model, dropout, norm_first, layer_norm_eps, bias)

    def forward(self, y: Tensor, memory: Tensor | None = None, *, self_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, cache: LayerCache | None = None, is_causal: bool = False,
                return_weights: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """y: (B, T, d_model) target side; memory: (B, S, d_model) encoder output.

        Everything after ``memory`` is keyword-only: two masks of the same type are easy to swap.

        self_mask: bool, True = may attend, e.g. causal_mask(T) (1, 1, T, T); or pass
        ``is_causal=True``. memory_mask: e.g. padding_mask(src) (B, 1, 1, S).
        """
        weights: dict[str, Tensor] = {}
        self_cache = cache.self_attn if cache is not None else None
        cross_cache = cache.cross_attn if cache is not None else None

        def self_attend(h: Tensor) -> Tensor:
            out = self.self_attn(h, h, h, self_mask, return_weights=return_weights, cache=self_cache,
                                 is_causal=is_causal)
            if return_weights:
                out, weights["self"] = out
            return out

        def cross_attend(h: Tensor) -> Tensor:
            out = self.cross_attn(h, memory, memory, memory_mask, return_weights=return_weights, cache=cross_cache)
            if return_weights:
                out, weights["cross"] = out
            return out

        y = self.res_self(y, self_attend)  # (B, T, d_model)
        if self.cross_attn is not None:
            if memory is None:
                raise ValueError("this decoder layer has cross-attention: pass the encoder output as memory")
            y = self.res_cross(y, cross_attend)  # (B, T, d_model)
        y = self.res_ff(y, self.ff)  # (B, T, d_model)
        return (y, weights) if return_weights else y


class Decoder(nn.Module):
    """A stack of ``n_layers`` decoder layers, with a final LayerNorm when ``final_norm``
    (default: on for pre-LN, off for post-LN as in the paper)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, bias: bool = True,
                 layer_norm_eps: float = 1e-5, final_norm: bool | None = None,
                 cross_attention: bool = True) -> None:
        super().__init__()
        self.d_model = d_model
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout, activation, norm_first, bias, layer_norm_eps,
                         cross_attention)
            for _ in range(n_layers)
        )
        final_norm = norm_first if final_norm is None else final_norm
        self.norm = LayerNorm(d_model, layer_norm_eps, bias) if final_norm else None

    def new_cache(self) -> list[LayerCache]:
        """An empty key/value cache, one entry per layer."""
        return [LayerCache() for _ in self.layers]

    def forward(self, y: Tensor, memory: Tensor | None = None, *, self_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, cache: list[LayerCache] | None = None,
                is_causal: bool = False,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[dict[str, Tensor]]]:
        """(B, T, d_model) -> (B, T, d_model); with ``return_weights`` also each layer's weights."""
        if cache is not None and len(cache) != len(self.layers):
            raise ValueError(f"cache has {len(cache)} layers, the decoder has {len(self.layers)}")
        all_weights = []
        for i, layer in enumerate(self.layers):
            c = cache[i] if cache is not None else None
            out = layer(y, memory, self_mask=self_mask, memory_mask=memory_mask, cache=c, is_causal=is_causal,
                        return_weights=return_weights)
            if return_weights:
                y, w = out
                all_weights.append(w)
            else:
                y = out
        if self.norm is not None:
            y = self.norm(y)
        return (y, all_weights) if return_weights else y

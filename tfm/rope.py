"""Rotary position embeddings (RoPE, Su et al. 2021): positions as rotations of queries and keys.

The 2017 Transformer adds a position vector to each token before the first layer. RoPE adds
nothing: inside every attention layer it rotates each query and each key by an angle that grows
with the token's position. The channels of a head are taken in pairs (0, 1), (2, 3), ...; pair
``i`` of the vector at position ``m`` is rotated by the angle ``m * theta_i``, with
``theta_i = base ** (-2 i / d_head)``: the first pairs turn fast, the last ones slowly.

Why it works: a rotation by ``a`` followed by the dot product with a vector rotated by ``b`` is
the dot product rotated by ``b - a``, so the attention score of a query at position ``m`` and a
key at position ``n`` depends on the two vectors and on ``m - n`` only, never on ``m`` itself.
Rotations also keep lengths: RoPE changes no norm.

The pair layout is the paper's (and Meta's LLaMA code, which views each pair as one complex
number). Hugging Face's Llama puts pair ``i`` at channels ``(i, i + d_head / 2)`` instead; the two
layouts differ only by a fixed permutation of the channels of the projection weights.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def rope_frequencies(d_head: int, base: float = 10000.0) -> Tensor:
    """theta_i = base ** (-2 i / d_head) for i = 0 .. d_head/2 - 1: (d_head // 2,) float32 radians per position."""
    if d_head <= 0 or d_head % 2:
        raise ValueError(f"RoPE rotates channels in pairs: d_head must be a positive even number, got {d_head}")
    if base <= 1.0:
        raise ValueError(f"RoPE base must be > 1 (10000 in the paper), got {base}")
    return base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head).float()


def rope_angles(positions: Tensor, d_head: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos and sin of the angles position * theta_i: each (T, d_head // 2), float32.

    The angles are computed in float64, so that positions in the hundreds of thousands keep
    their precision, then stored as float32.
    """
    if positions.dim() != 1 or positions.is_floating_point():
        raise ValueError(f"positions must be a 1-D tensor of integer positions, got {positions.dtype} "
                         f"of shape {tuple(positions.shape)}")
    theta = rope_frequencies(d_head, base).double().to(positions.device)        # (d_head // 2,)
    angles = positions.double()[:, None] * theta[None, :]                      # (T, d_head // 2)
    return angles.cos().float(), angles.sin().float()


def rotate_pairs(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pair i = (x[..., 2i], x[..., 2i+1]) of x (..., T, d_head) by the angle whose cos/sin are given (T, d_head // 2)."""
    x1, x2 = x.float()[..., 0::2], x.float()[..., 1::2]                         # (..., T, d_head // 2) each
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)     # (..., T, d_head // 2, 2)
    return out.flatten(-2).to(x.dtype)                                         # (..., T, d_head), pairs back in place


def _check(x: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"RoPE expects {name} of shape (B, H, T, d_head), got shape {tuple(x.shape)}")
    if x.size(-1) % 2:
        raise ValueError(f"RoPE rotates channels in pairs: d_head must be even, got {name} of shape {tuple(x.shape)}")


def apply_rope(x: Tensor, positions: Tensor | None = None, base: float = 10000.0) -> Tensor:
    """Rotate queries or keys x (B, H, T, d_head) by their positions (T,) (default 0 .. T-1).

    With a key/value cache, the new token at step t has position t: pass ``positions=torch.tensor([t])``.
    The rotation is computed in float32 and the result has x's dtype.
    """
    _check(x, "x")
    T, d_head = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    if positions.dim() != 1 or positions.numel() != T:
        raise ValueError(f"positions must have shape ({T},) to match x of shape {tuple(x.shape)}, "
                         f"got shape {tuple(positions.shape)}")
    cos, sin = rope_angles(positions, d_head, base)                          # (T, d_head // 2) each
    return rotate_pairs(x, cos, sin)


class RotaryEmbedding(nn.Module):
    """RoPE for one attention layer: ``q, k = rope(q, k, offset)``, with the angles of ``max_len`` positions precomputed.

    No learnable parameters (the cos/sin tables are buffers, not saved in the state dict).
    ``offset`` is the position of the first of the T tokens: 0 for a whole sequence, the cache's
    length when a key/value cache feeds one new token at a time.
    """

    def __init__(self, d_head: int, max_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        if max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        self.d_head, self.max_len, self.base = d_head, max_len, base
        cos, sin = rope_angles(torch.arange(max_len), d_head, base)            # (max_len, d_head // 2) each
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, q: Tensor, k: Tensor, offset: int = 0) -> tuple[Tensor, Tensor]:
        for name, t in (("q", q), ("k", k)):
            _check(t, name)
            if t.size(-1) != self.d_head:
                raise ValueError(f"RotaryEmbedding was built for d_head={self.d_head}, got {name} of shape {tuple(t.shape)}")
        if q.size(-2) != k.size(-2):
            raise ValueError(f"q and k must cover the same positions, got T={q.size(-2)} and T={k.size(-2)}")
        T = q.size(-2)
        if offset < 0 or offset + T > self.max_len:
            raise ValueError(f"positions {offset}..{offset + T - 1} are outside 0..{self.max_len - 1} (max_len={self.max_len})")
        cos, sin = self.cos[offset : offset + T], self.sin[offset : offset + T]  # (T, d_head // 2)
        return rotate_pairs(q, cos, sin), rotate_pairs(k, cos, sin)

    def extra_repr(self) -> str:
        return f"d_head={self.d_head}, max_len={self.max_len}, base={self.base:g}"

"""Attention masks.

One convention everywhere in tfm, the same as
``torch.nn.functional.scaled_dot_product_attention``: a mask is a bool tensor and
**True means "this query may attend to this key"**. Masks broadcast against the
attention scores, which have shape (B, H, T_q, T_k).
"""
from __future__ import annotations

import torch
from torch import Tensor


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """Hide padding keys: (B, S) token ids -> bool (B, 1, 1, S), True where the token is real."""
    if tokens.dim() != 2:
        raise ValueError(f"padding_mask expects token ids of shape (B, S), got shape {tuple(tokens.shape)}")
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, S)


def causal_mask(T: int, T_k: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """Hide the future: bool (1, 1, T, T_k), True on and below the diagonal.

    With a key/value cache the T queries are the *last* T of T_k positions, so query i
    may see keys 0 .. i + (T_k - T). With T_k = T (the default) this is the usual
    lower-triangular matrix.
    """
    T_k = T if T_k is None else T_k
    if T <= 0 or T_k < T:
        raise ValueError(f"causal_mask needs 0 < T <= T_k, got T={T}, T_k={T_k}")
    q = torch.arange(T, device=device)[:, None] + (T_k - T)  # (T, 1) absolute query positions
    k = torch.arange(T_k, device=device)[None, :]  # (1, T_k)
    return (k <= q)[None, None]  # (1, 1, T, T_k)


def check_mask(mask: Tensor, B: int, H: int, T_q: int, T_k: int) -> None:
    """Raise a ValueError unless ``mask`` is bool and broadcasts to (B, H, T_q, T_k)."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor (True = may attend), got {got}")
    want = (B, H, T_q, T_k)
    shape = tuple(mask.shape)
    if mask.dim() == 2:
        shape = (1, 1) + shape
    ok = len(shape) == 4 and all(s in (1, w) for s, w in zip(shape, want))
    if not ok or shape[-1] != T_k:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not fit attention scores of shape {want}; "
            "expected (T_q, T_k) or (B or 1, H or 1, T_q or 1, T_k)"
        )

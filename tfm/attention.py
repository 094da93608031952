"""Multi-head attention: the step where tokens look at each other.

Two ways to compute the same thing:

* :func:`scaled_dot_product_attention` writes the formula out step by step,
  softmax(Q K^T / sqrt(d_k)) V, and returns the attention weights so we can look at them.
* ``torch.nn.functional.scaled_dot_product_attention`` is PyTorch's fused kernel: the
  same numbers, faster and with less memory, but the weights stay hidden.

:class:`MultiHeadAttention` uses the fused kernel unless you ask for the weights.
Masks follow :mod:`tfm.masks`: bool, True = may attend.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import device as _device
from .masks import causal_mask, check_mask


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Attention written out: returns (output (..., T_q, d_v), weights (..., T_q, T_k)).

    A query row whose mask is all False has nothing to attend to: its weights and its
    output are zero (not NaN).
    """
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k) similarity of each query to each key
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # hidden keys get probability 0
    weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k) each row sums to 1
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)  # fully masked rows: NaN -> 0
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., T_q, d_v): weighted sum of the values


def fused_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0, is_causal: bool = False
) -> Tensor:
    """PyTorch's fused attention with tfm's rule that a fully masked query row outputs zeros."""
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=is_causal)
    row_ok = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1) does the row see any key?
    if _device.can_peek(row_ok) and bool(row_ok.all()):  # the common case, when it costs nothing to ask
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    # Let empty rows attend everywhere (avoids NaN in forward and backward), then zero them.
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~row_ok, dropout_p=dropout_p)
    return out.masked_fill(~row_ok, 0.0)


class KVCache:
    """Keys and values one attention layer has already computed, each (B, H, T, d_head).

    Self-attention appends the new tokens' keys and values at every step (``static=False``);
    cross-attention computes the encoder memory's keys and values once and reuses them
    (``static=True``). With the cache, each generated token costs O(T) instead of re-running
    the whole prefix. Appending writes into a buffer that doubles when full, so a step copies
    only the new token, not the whole past.
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self._k: Tensor | None = None  # (B, H, capacity, d_head); the first `length` positions are used
        self._v: Tensor | None = None
        self.length = 0

    @property
    def k(self) -> Tensor | None:
        return None if self._k is None else self._k[:, :, : self.length]

    @property
    def v(self) -> Tensor | None:
        return None if self._v is None else self._v[:, :, : self.length]

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        shape = None if self._k is None else tuple(self.k.shape)
        return f"KVCache(static={self.static}, length={len(self)}, k shape={shape})"

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new keys/values (append, or set once when static) and return all of them."""
        if self.static:
            self._k, self._v, self.length = k, v, k.size(2)
            return k, v
        T_new = k.size(2)
        if self._k is None or self.length + T_new > self._k.size(2):
            capacity = max(2 * (self._k.size(2) if self._k is not None else 0), self.length + T_new, 16)
            grown_k = k.new_empty(k.size(0), k.size(1), capacity, k.size(3))
            grown_v = v.new_empty(v.size(0), v.size(1), capacity, v.size(3))
            if self.length:
                grown_k[:, :, : self.length] = self.k
                grown_v[:, :, : self.length] = self.v
            self._k, self._v = grown_k, grown_v
        self._k[:, :, self.length : self.length + T_new] = k  # (B, H, T_past + T_new, d_head)
        self._v[:, :, self.length : self.length + T_new] = v
        self.length += T_new
        return self.k, self.v

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (beam search reorders its beams this way)."""
        if self._k is not None:
            self._k, self._v = self._k.index_select(0, index), self._v.index_select(0, index)


class MultiHeadAttention(nn.Module):
    """h heads of attention side by side, each on its own d_model / h slice.

    Learnable parameters: W_Q, W_K, W_V (d_model x d_model each: the h heads' matrices
    stacked) and the output projection W_O (d_model x d_model), each with a bias if ``bias``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if n_heads <= 0 or d_model % n_heads != 0:
            raise ValueError(f"n_heads must divide d_model: got d_model={d_model}, n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)
        self.packed_qkv: tuple[Tensor, Tensor | None] | None = None  # set by packed_qkv() below

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, d_model) -> (B, H, T, d_head): distribute each vector over the heads."""
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    @staticmethod
    def merge_heads(x: Tensor) -> Tensor:
        """(B, H, T, d_head) -> (B, T, d_model): concatenate the heads' outputs."""
        B, H, T, d_head = x.shape
        return x.transpose(1, 2).reshape(B, T, H * d_head)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 3:
                raise ValueError(f"{name} must have shape (B, T, d_model), got shape {tuple(t.shape)}")
            if t.size(-1) != self.d_model:
                raise ValueError(f"{name} must have width d_model={self.d_model}, got width {t.size(-1)}")
            if t.size(0) == 0 or t.size(1) == 0:
                raise ValueError(f"{name} is empty: shape {tuple(t.shape)}")
        if not (query.size(0) == key.size(0) == value.size(0)):
            raise ValueError(
                f"query, key and value must share the batch size, got {query.size(0)}, {key.size(0)}, {value.size(0)}"
            )
        if key.size(1) != value.size(1):
            raise ValueError(f"key and value must have the same length, got {key.size(1)} and {value.size(1)}")

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        *,
        return_weights: bool = False,
        cache: KVCache | None = None,
        is_causal: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend from ``query`` (B, T_q, d_model) to ``key``/``value`` (B, T_k, d_model).

        Returns the output (B, T_q, d_model), or (output, weights (B, H, T_q, T_k)) when
        ``return_weights``. ``is_causal`` adds the causal mask (offset for cached keys).
        """
        self._check_inputs(query, key, value)
        B, T_q, _ = query.shape
        if cache is not None and cache.k is not None and cache.k.size(0) != B:
            raise ValueError(f"cache holds batch size {cache.k.size(0)}, query has {B}")
        if self.packed_qkv is not None and query is key and key is value:
            qkv = F.linear(query, *self.packed_qkv)  # (B, T, 3 d_model): Q, K, V in one product
            q, k, v = (self.split_heads(t) for t in qkv.split(self.d_model, dim=-1))
        else:
            q = self.split_heads(self.w_q(query))  # (B, H, T_q, d_head)
            if cache is not None and cache.static and cache.k is not None:
                k, v = cache.k, cache.v  # cross-attention: the memory's keys and values, computed once
            else:
                k = self.split_heads(self.w_k(key))  # (B, H, T_new, d_head)
                v = self.split_heads(self.w_v(value))
        if cache is not None and not (cache.static and cache.k is not None):
            k, v = cache.update(k, v)  # (B, H, T_k, d_head): past and new
        T_k = k.size(2)
        if mask is not None:
            check_mask(mask, B, self.n_heads, T_q, T_k)
        if is_causal and T_q == 1:
            is_causal = False  # the newest token may see every key: nothing to hide
        if is_causal and (mask is not None or return_weights or T_k != T_q):
            causal = causal_mask(T_q, T_k, device=query.device)
            mask = causal if mask is None else mask & causal
            is_causal = False
        p = self.dropout if self.training else 0.0
        if return_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, p)
            return self.w_o(self.merge_heads(out)), weights
        out = fused_attention(q, k, v, mask, p, is_causal=is_causal)  # (B, H, T_q, d_head)
        return self.w_o(self.merge_heads(out))  # (B, T_q, d_model)


@contextmanager
def packed_qkv(model: nn.Module) -> Iterator[None]:
    """For the duration, self-attention computes Q, K and V with one product by [W_Q; W_K; W_V].

    The same numbers, one matrix multiply instead of three: generation feeds one token at a
    time, where each product costs mostly its fixed overhead. Only for inference: the packed
    matrix is a copy, so training through it would not update W_Q, W_K, W_V.
    """
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    for m in layers:
        weight = torch.cat([m.w_q.weight, m.w_k.weight, m.w_v.weight])  # (3 d_model, d_model)
        bias = None if m.w_q.bias is None else torch.cat([m.w_q.bias, m.w_k.bias, m.w_v.bias])
        m.packed_qkv = (weight, bias)
    try:
        yield
    finally:
        for m in layers:
            m.packed_qkv = None

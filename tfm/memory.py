"""The arithmetic of memory: what training and generation keep, in bytes, from a config alone.

Three budgets decide what fits on an accelerator:

* **training state**: per parameter, the weights, their gradients and Adam's two moving
  averages, in the number formats of a training recipe (:data:`RECIPES`);
* **attention's T x T matrix**: attention written out keeps the (B, H, T, T) weights of every
  layer for the backward pass; a fused kernel keeps one number per query row instead;
* **the key/value cache** of generation: two vectors (key and value) of ``d_head`` numbers per
  key/value head, per layer, per token. Grouped-query attention shrinks it by sharing each
  key/value head among several query heads.

Every function is exact integer arithmetic; :func:`saved_for_backward` measures what autograd
really keeps, to check the arithmetic against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

# Bytes per parameter for each part of the training state, by recipe (Adam keeps two averages, m and v).
RECIPES: dict[str, dict[str, int]] = {
    # everything in float32, as in 2017
    "fp32": {"weights": 4, "gradients": 4, "Adam m, v": 8},
    # PyTorch autocast (tfm.train on CUDA): the weights stay float32 and are cast to bf16 inside each
    # matrix multiplication, so the state is that of fp32; the activations kept for backward are bf16
    "bf16 autocast": {"weights": 4, "gradients": 4, "Adam m, v": 8},
    # mixed precision with a float32 master copy (Micikevicius et al. 2018; ZeRO counts 16 bytes)
    "bf16 + fp32 master": {"weights": 2, "gradients": 2, "fp32 master weights": 4, "Adam m, v": 8},
}


def dtype_bytes(dtype: torch.dtype) -> int:
    """Bytes of one number of ``dtype``: 4 for float32, 2 for bfloat16 and float16, ..."""
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"expected a torch.dtype such as torch.bfloat16, got {dtype!r}")
    return torch.empty((), dtype=dtype).element_size()


def _positive(**values: int) -> None:
    bad = {k: v for k, v in values.items() if not isinstance(v, int) or v <= 0}
    if bad:
        raise ValueError(f"expected positive integers, got {bad}")


def training_state_bytes(n_params: int, recipe: str = "fp32") -> dict[str, int]:
    """Bytes of each part of the training state of ``n_params`` parameters under ``recipe``, and their "total"."""
    _positive(n_params=n_params)
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
    parts = {name: n_params * b for name, b in RECIPES[recipe].items()}
    return {**parts, "total": sum(parts.values())}


def attention_weights_bytes(batch: int, n_heads: int, T: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of one layer's attention weights (B, H, T, T), which attention written out keeps for backward."""
    _positive(batch=batch, n_heads=n_heads, T=T)
    return batch * n_heads * T * T * dtype_bytes(dtype)


def fused_attention_stats_bytes(batch: int, n_heads: int, T: int) -> int:
    """Bytes a fused (flash) kernel keeps instead: one float32 log-sum-exp per query row, (B, H, T)."""
    _positive(batch=batch, n_heads=n_heads, T=T)
    return batch * n_heads * T * 4


def kv_cache_bytes(n_layers: int, n_kv_heads: int, d_head: int, dtype: torch.dtype = torch.bfloat16,
                   tokens: int = 1, batch: int = 1) -> int:
    """Bytes of the key/value cache: 2 (K and V) x n_layers x n_kv_heads x d_head x bytes, per token and sequence.

    Multi-head attention has n_kv_heads = n_heads; grouped-query attention fewer (LLaMA-2-70B: 8 for
    64 query heads); multi-query attention one.
    """
    _positive(n_layers=n_layers, n_kv_heads=n_kv_heads, d_head=d_head, tokens=tokens, batch=batch)
    return 2 * n_layers * n_kv_heads * d_head * dtype_bytes(dtype) * tokens * batch


@dataclass(frozen=True)
class Saved:
    """One tensor autograd keeps for the backward pass."""
    shape: tuple[int, ...]
    dtype: torch.dtype
    nbytes: int


def saved_for_backward(fn: Callable[[], object]) -> list[Saved]:
    """Run ``fn()`` and list the tensors autograd saves for its backward pass, each storage once.

    Tensors that share memory (a view of an input, the same tensor saved twice) count once, at
    the size of their storage: this is the memory the backward pass really holds on to.
    """
    seen: dict[int, Saved] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen.setdefault(storage.data_ptr(), Saved(tuple(t.shape), t.dtype, storage.nbytes()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return list(seen.values())

"""Attention against PyTorch's: F.scaled_dot_product_attention and nn.MultiheadAttention.

Masks: tfm's are bool with True = may attend; PyTorch's nn.MultiheadAttention takes the
opposite (True = hidden) or float masks, converted with tfm.interop.mask_from_torch.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tfm import KVCache, MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention
from tfm.attention import fused_attention
from helpers import perturb
from tfm.interop import from_torch, mask_from_torch

D, H = 16, 4


def assert_close(actual, expected, atol=1e-5):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-5)


def random_mask(*shape: int) -> torch.Tensor:
    """A random bool mask (True = may attend) where every query row sees at least one key."""
    mask = torch.rand(*shape) < 0.5
    first = torch.randint(shape[-1], shape[:-1])  # one key per row that is always visible
    return mask | F.one_hot(first, shape[-1]).bool()


def qkv(B=2, heads=3, T_q=5, T_k=7, d=8, requires_grad=False):
    return [torch.randn(B, heads, T, d, requires_grad=requires_grad) for T in (T_q, T_k, T_k)]


def torch_mha(bias: bool = True) -> nn.MultiheadAttention:
    return perturb(nn.MultiheadAttention(D, H, batch_first=True, bias=bias)).eval()


def key_padding(B: int, T: int, lengths: list[int]) -> torch.Tensor:
    """PyTorch's key_padding_mask: (B, T), True where the key is padding."""
    return torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]


# ---- scaled dot-product attention, written out and fused ----

def test_sdpa_without_mask_matches_torch():
    q, k, v = qkv()
    out, weights = scaled_dot_product_attention(q, k, v)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert_close(fused_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
    assert weights.shape == (2, 3, 5, 7)
    assert_close(weights.sum(-1), torch.ones(2, 3, 5))
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1)  # the formula itself
    assert_close(weights, expected)


@pytest.mark.parametrize("mask_shape", [(2, 1, 1, 7), (1, 1, 5, 7), (2, 3, 5, 7), (5, 7)])
def test_sdpa_with_bool_mask_matches_torch(mask_shape):
    q, k, v = qkv()
    mask = random_mask(*mask_shape)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert_close(out, expected)
    assert_close(fused_attention(q, k, v, mask), expected)
    assert bool((weights[~mask.expand_as(weights)] == 0).all())  # hidden keys get weight exactly 0


def test_sdpa_causal_matches_torch_is_causal():
    q, k, v = qkv(T_q=6, T_k=6)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(scaled_dot_product_attention(q, k, v, causal_mask(6))[0], expected)
    assert_close(fused_attention(q, k, v, is_causal=True), expected)
    assert_close(fused_attention(q, k, v, causal_mask(6)), expected)


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 3), heads=st.integers(1, 3), T_q=st.integers(1, 6), T_k=st.integers(1, 6),
       d=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_sdpa_matches_torch_for_any_shape(B, heads, T_q, T_k, d, seed):
    torch.manual_seed(seed)
    q, k, v = qkv(B, heads, T_q, T_k, d)
    mask = random_mask(B, 1, T_q, T_k)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(scaled_dot_product_attention(q, k, v, mask)[0], expected)
    assert_close(fused_attention(q, k, v, mask), expected)


def test_causal_mask_with_offset_is_shifted_lower_triangle():
    for T, T_k in [(1, 1), (4, 4), (3, 7), (1, 5)]:
        expected = torch.ones(T, T_k).tril(T_k - T).bool()  # query i sees keys 0 .. i + T_k - T
        assert torch.equal(causal_mask(T, T_k)[0, 0], expected)


# ---- PyTorch masks -> tfm masks ----

def test_mask_from_torch_bool_and_float_forms_agree():
    T = 5
    causal_bool = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = hidden
    causal_float = nn.Transformer.generate_square_subsequent_mask(T)  # -inf = hidden
    assert torch.equal(mask_from_torch(causal_bool), causal_mask(T))
    assert torch.equal(mask_from_torch(causal_float), causal_mask(T))
    kpm = key_padding(2, T, [3, 5])
    tokens = torch.where(kpm, 0, 7)
    assert torch.equal(mask_from_torch(key_padding_mask=kpm), padding_mask(tokens, pad_id=0))
    float_kpm = torch.zeros(2, T).masked_fill(kpm, float("-inf"))
    both = mask_from_torch(causal_float, float_kpm)
    assert torch.equal(both, causal_mask(T) & padding_mask(tokens, pad_id=0))
    assert mask_from_torch() is None


def test_mask_from_torch_3d_mask_needs_num_heads():
    B, heads, T = 2, 3, 4
    hidden = torch.rand(B * heads, T, T) < 0.3
    mask = mask_from_torch(hidden, num_heads=heads)
    assert mask.shape == (B, heads, T, T)
    assert torch.equal(mask, ~hidden.view(B, heads, T, T))
    with pytest.raises(ValueError, match="num_heads"):
        mask_from_torch(hidden)
    with pytest.raises(ValueError, match="0 and -inf"):
        mask_from_torch(torch.randn(T, T))


# ---- MultiHeadAttention vs nn.MultiheadAttention ----

def torch_masks(kind: str, B: int, T_q: int, T_k: int):
    """(attn_mask, key_padding_mask) in PyTorch's convention."""
    attn = kpm = None
    if kind == "causal":
        attn = nn.Transformer.generate_square_subsequent_mask(T_q)  # float: -inf = hidden
    if kind == "both":
        attn = torch.triu(torch.ones(T_q, T_k, dtype=torch.bool), diagonal=1)  # bool: True = hidden
    if kind in ("padding", "both"):
        kpm = key_padding(B, T_k, [T_k - 2] + [T_k] * (B - 1))
    return attn, kpm


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])  # no_grad: PyTorch's fast path
@pytest.mark.parametrize("kind", ["none", "padding", "causal", "both"])
@pytest.mark.parametrize("bias", [True, False])
def test_self_attention_matches_torch(bias, kind, grad):
    ref = torch_mha(bias)
    ours = from_torch(ref)
    B, T = 2, 6
    x = torch.randn(B, T, D)
    attn_mask, kpm = torch_masks(kind, B, T, T)
    with torch.set_grad_enabled(grad):
        expected = ref(x, x, x, key_padding_mask=kpm, attn_mask=attn_mask, need_weights=False)[0]
        out = ours(x, x, x, mask_from_torch(attn_mask, kpm))
    assert_close(out, expected)
    if kind == "causal":
        assert_close(ours(x, x, x, is_causal=True), expected)


@pytest.mark.parametrize("padding", [False, True])
def test_cross_attention_matches_torch(padding):
    ref = torch_mha()
    ours = from_torch(ref)
    B, T, S = 2, 4, 7
    y, memory = torch.randn(B, T, D), torch.randn(B, S, D)
    kpm = key_padding(B, S, [3, 7]) if padding else None
    expected = ref(y, memory, memory, key_padding_mask=kpm, need_weights=False)[0]
    assert_close(ours(y, memory, memory, mask_from_torch(key_padding_mask=kpm)), expected)


@pytest.mark.parametrize("kind", ["none", "padding", "causal", "both"])
def test_return_weights_match_torch_per_head_weights(kind):
    ref = torch_mha()
    ours = from_torch(ref)
    B, T = 2, 6
    x = torch.randn(B, T, D)
    attn_mask, kpm = torch_masks(kind, B, T, T)
    expected_out, expected_w = ref(x, x, x, key_padding_mask=kpm, attn_mask=attn_mask,
                                   need_weights=True, average_attn_weights=False)
    out, weights = ours(x, x, x, mask_from_torch(attn_mask, kpm), return_weights=True)
    assert weights.shape == (B, H, T, T)
    assert_close(weights, expected_w)
    assert_close(out, expected_out)


@pytest.mark.parametrize("kind", ["none", "padding", "causal", "both", "is_causal"])
def test_fused_and_written_out_paths_agree(kind):
    mha = perturb(MultiHeadAttention(D, H)).eval()
    B, T = 3, 5
    x = torch.randn(B, T, D)
    attn_mask, kpm = torch_masks("causal" if kind == "is_causal" else kind, B, T, T)
    mask = None if kind == "is_causal" else mask_from_torch(attn_mask, kpm)
    is_causal = kind == "is_causal"
    fused = mha(x, x, x, mask, is_causal=is_causal)
    written_out, _ = mha(x, x, x, mask, return_weights=True, is_causal=is_causal)
    assert_close(fused, written_out)


def test_mha_dtype_float64_matches_torch_closely():
    ref = torch_mha().double()
    ours = from_torch(ref)
    assert ours.w_q.weight.dtype == torch.float64
    x = torch.randn(2, 5, D, dtype=torch.float64)
    expected = ref(x, x, x, need_weights=False)[0]
    torch.testing.assert_close(ours(x, x, x), expected, atol=1e-12, rtol=1e-12)


# ---- heads ----

def test_split_and_merge_heads_round_trip():
    mha = MultiHeadAttention(D, H)
    x = torch.randn(2, 5, D)
    heads = mha.split_heads(x)
    assert heads.shape == (2, H, 5, D // H)
    assert torch.equal(mha.merge_heads(heads), x)


def test_head_i_is_the_ith_block_of_the_projection():
    mha = perturb(MultiHeadAttention(D, H))
    x = torch.randn(2, 5, D)
    d_head = D // H
    q = mha.split_heads(mha.w_q(x))  # (B, H, T, d_head)
    for i in range(H):
        rows = slice(i * d_head, (i + 1) * d_head)
        own = x @ mha.w_q.weight[rows].T + mha.w_q.bias[rows]  # head i's own W_Q block
        assert_close(q[:, i], own)


def test_heads_are_computed_independently_then_concatenated():
    """An explicit per-head loop over the W_Q/W_K/W_V blocks gives the same output and weights."""
    mha = perturb(MultiHeadAttention(D, H)).eval()
    x, memory = torch.randn(2, 4, D), torch.randn(2, 6, D)
    d_head = D // H
    outs, all_w = [], []
    for i in range(H):
        rows = slice(i * d_head, (i + 1) * d_head)
        q = x @ mha.w_q.weight[rows].T + mha.w_q.bias[rows]
        k = memory @ mha.w_k.weight[rows].T + mha.w_k.bias[rows]
        v = memory @ mha.w_v.weight[rows].T + mha.w_v.bias[rows]
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_head), dim=-1)
        outs.append(w @ v)
        all_w.append(w)
    expected = mha.w_o(torch.cat(outs, dim=-1))
    out, weights = mha(x, memory, memory, return_weights=True)
    assert_close(out, expected)
    assert_close(weights, torch.stack(all_w, dim=1))
    assert_close(mha(x, memory, memory), expected)


def test_changing_one_heads_weights_changes_only_that_head():
    mha = perturb(MultiHeadAttention(D, H)).eval()
    x = torch.randn(2, 5, D)
    _, before = mha(x, x, x, return_weights=True)
    d_head, j = D // H, 2
    with torch.no_grad():
        mha.w_q.weight[j * d_head:(j + 1) * d_head] += 1.0
    _, after = mha(x, x, x, return_weights=True)
    others = [i for i in range(H) if i != j]
    assert torch.equal(after[:, others], before[:, others])
    assert not torch.allclose(after[:, j], before[:, j])


# ---- fully masked query rows ----

def empty_row_mask(B=2, heads=3, T_q=5, T_k=7) -> torch.Tensor:
    mask = random_mask(B, heads, T_q, T_k)
    mask[0, :, 1] = False  # batch 0, query 1: nothing to attend to
    mask[1, 2, 4] = False  # batch 1, head 2, query 4
    return mask


@pytest.mark.parametrize("path", ["written_out", "fused"])
def test_fully_masked_row_gives_zeros_and_finite_grads(path):
    q, k, v = qkv(requires_grad=True)
    mask = empty_row_mask()
    if path == "written_out":
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        assert bool((weights[0, :, 1] == 0).all()) and not weights.isnan().any()
    else:
        out = fused_attention(q, k, v, mask)
    assert not out.isnan().any()
    assert bool((out[0, :, 1] == 0).all()) and bool((out[1, 2, 4] == 0).all())
    # The other rows are ordinary attention.
    ok = mask.any(-1, keepdim=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~ok)
    assert_close(out * ok, expected * ok)
    (out * torch.randn_like(out)).sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert bool((q.grad[0, :, 1] == 0).all())  # the empty row does not depend on its query


def test_fully_masked_row_in_mha_both_paths():
    mha = perturb(MultiHeadAttention(D, H)).eval()
    x = torch.randn(2, 5, D)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[1, 0, 3] = False  # batch 1, query 3 sees nothing
    fused = mha(x, x, x, mask)
    written_out, _ = mha(x, x, x, mask, return_weights=True)
    for out in (fused, written_out):
        assert not out.isnan().any()
        assert_close(out[1, 3], mha.w_o.bias)  # zero attention output, then W_O adds its bias
    assert_close(fused, written_out)
    (fused.sum() + written_out.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in mha.parameters())


# ---- key/value cache ----

@pytest.mark.parametrize("chunks", [[1] * 7, [3, 1, 3], [7]])
def test_kv_cache_matches_full_causal_forward(chunks):
    mha = perturb(MultiHeadAttention(D, H)).eval()
    x = torch.randn(2, sum(chunks), D)
    full = mha(x, x, x, is_causal=True)
    assert_close(full, mha(x, x, x, causal_mask(x.size(1))))
    cache, outs, start = KVCache(), [], 0
    for n in chunks:
        new = x[:, start:start + n]
        outs.append(mha(new, new, new, cache=cache, is_causal=True))
        start += n
        assert len(cache) == start
    assert_close(torch.cat(outs, dim=1), full)


def test_kv_cache_with_return_weights_matches_full():
    mha = perturb(MultiHeadAttention(D, H)).eval()
    x = torch.randn(2, 5, D)
    _, full_w = mha(x, x, x, return_weights=True, is_causal=True)
    cache = KVCache()
    for t in range(5):
        tok = x[:, t:t + 1]
        _, w = mha(tok, tok, tok, return_weights=True, cache=cache, is_causal=True)
        assert_close(w[..., 0, :], full_w[..., t, :t + 1])


def test_static_cache_reuses_memory_keys_and_values():
    mha = perturb(MultiHeadAttention(D, H)).eval()
    y, memory = torch.randn(2, 4, D), torch.randn(2, 6, D)
    full = mha(y, memory, memory)
    cache = KVCache(static=True)
    outs = [mha(y[:, t:t + 1], memory, memory, cache=cache) for t in range(4)]
    assert len(cache) == 6  # computed once, not appended
    assert_close(torch.cat(outs, dim=1), full)


@pytest.mark.parametrize("empty_rows", [False, True])
def test_fused_attention_without_peeking_is_the_same_function(monkeypatch, empty_rows):
    """On a GPU, fused_attention does not ask whether every query row sees a key (that would make
    the CPU wait for the GPU): it always takes the path that handles empty rows. Forced here on
    the CPU, it must give the same outputs and gradients as the written-out attention."""
    import tfm.device

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, requires_grad=True) for _ in range(3))
    mask = torch.rand(2, 1, 5, 5, generator=g) > 0.4  # (B, 1, T_q, T_k), True = may attend
    mask[..., 0] = True
    if empty_rows:
        mask[1, 0, 2] = False  # query 2 of the second sequence sees nothing
    expected, _ = scaled_dot_product_attention(q, k, v, mask)
    grads_expected = torch.autograd.grad(expected.square().sum(), (q, k, v))
    monkeypatch.setattr(tfm.device, "can_peek", lambda t: False)
    out = fused_attention(q, k, v, mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.autograd.grad(out.square().sum(), (q, k, v)), grads_expected, atol=1e-5, rtol=1e-5)
    if empty_rows:
        assert out[1, :, 2].abs().max() == 0  # the empty row outputs zeros

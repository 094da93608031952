"""Memory arithmetic against what PyTorch really allocates and saves, and published figures."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import tfm
from tfm.attention import scaled_dot_product_attention
from tfm.memory import (RECIPES, attention_weights_bytes, dtype_bytes, fused_attention_stats_bytes, kv_cache_bytes,
                        saved_for_backward, training_state_bytes)


def test_dtype_bytes():
    assert [dtype_bytes(d) for d in (torch.float32, torch.bfloat16, torch.float16, torch.int8)] == [4, 2, 2, 1]


def test_fp32_adam_state_is_what_adamw_allocates():
    torch.manual_seed(0)
    model = tfm.GPT(tfm.GPTConfig(vocab_size=40, max_len=8, n_layers=2, d_model=16, n_heads=2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randint(0, 40, (2, 8))).sum().backward()
    opt.step()
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    adam = sum(s.nbytes for p in params for s in opt.state[p].values() if s.dim() > 0)   # m and v; not the step count
    measured = {"weights": sum(p.nbytes for p in params), "gradients": sum(p.grad.nbytes for p in params),
                "Adam m, v": adam}
    assert training_state_bytes(n, "fp32") == {**measured, "total": sum(measured.values())}


def test_mixed_precision_is_zeros_16_bytes_per_parameter():
    # ZeRO (Rajbhandari et al. 2020): mixed-precision Adam keeps 2 + 2 + 12 bytes per parameter;
    # a 7.5B-parameter model needs 120 GB.
    assert training_state_bytes(7_500_000_000, "bf16 + fp32 master")["total"] == 120 * 10**9
    assert all(sum(parts.values()) == 16 for parts in RECIPES.values())


def test_attention_weights_are_the_tensor_attention_written_out_saves():
    q, k, v = (torch.randn(2, 3, 10, 8, requires_grad=True) for _ in range(3))
    written = saved_for_backward(lambda: scaled_dot_product_attention(q, k, v))
    square = [s for s in written if s.shape[-2:] == (10, 10)]
    assert [s.nbytes for s in square] == [attention_weights_bytes(2, 3, 10)]
    _, weights = scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert weights.nbytes == attention_weights_bytes(2, 3, 10, torch.bfloat16)


def test_fused_attention_saves_no_square_matrix_only_row_statistics():
    q, k, v = (torch.randn(2, 3, 10, 8, requires_grad=True) for _ in range(3))
    fused = saved_for_backward(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert not [s for s in fused if s.shape[-2:] == (10, 10)]
    stats = [s for s in fused if s.shape == (2, 3, 10)]                # the log-sum-exp of each query row
    assert [s.nbytes for s in stats] == [fused_attention_stats_bytes(2, 3, 10)]


def test_kv_cache_bytes_match_real_cache_tensors():
    n_layers, n_kv_heads, d_head, tokens, batch = 3, 2, 8, 5, 4
    cache = [torch.zeros(batch, n_kv_heads, tokens, d_head, dtype=torch.bfloat16) for _ in range(2 * n_layers)]  # K, V
    assert kv_cache_bytes(n_layers, n_kv_heads, d_head, torch.bfloat16, tokens, batch) == sum(t.nbytes for t in cache)


def test_kv_cache_filled_by_tfm_attention():
    attn = tfm.MultiHeadAttention(16, 4).eval()
    cache = tfm.attention.KVCache()
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        attn(x, x, x, cache=cache, is_causal=True)
    assert kv_cache_bytes(1, 4, 4, torch.float32, tokens=6, batch=2) == cache.k.nbytes + cache.v.nbytes


def test_llama2_70b_grouped_query_cache():
    # 80 layers, 8 key/value heads of 128 (64 query heads), bf16: 320 KiB per token, 1/8 of MHA's
    assert kv_cache_bytes(80, 8, 128) == 327_680 == 320 * 1024
    assert kv_cache_bytes(80, 64, 128) == 8 * kv_cache_bytes(80, 8, 128) == 64 * kv_cache_bytes(80, 1, 128)


@pytest.mark.parametrize("call, message", [
    (lambda: kv_cache_bytes(0, 8, 128), "positive"),
    (lambda: kv_cache_bytes(80, 8, 128, tokens=2.5), "positive"),
    (lambda: attention_weights_bytes(1, 1, -4), "positive"),
    (lambda: training_state_bytes(100, "fp8"), "recipe"),
    (lambda: dtype_bytes("bf16"), "torch.dtype"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()

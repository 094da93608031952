"""RoPE against independent computations: complex numbers, explicit rotation matrices, HF Llama."""
from __future__ import annotations

import math

import pytest
import torch

from tfm.attention import scaled_dot_product_attention
from tfm.rope import RotaryEmbedding, apply_rope, rope_angles, rope_frequencies


def rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """The paper's complex form: pair i is the complex number x_2i + j x_2i+1, multiplied by e^{j m theta_i}."""
    d = x.size(-1)
    theta = torch.tensor([base ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())   # (..., T, d/2)
    turn = torch.polar(torch.ones(len(positions), d // 2, dtype=torch.float64), positions.double()[:, None] * theta)
    return torch.view_as_real(z * turn).flatten(-2)                                          # (..., T, d)


def rotation_matrix(m: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """The (d, d) block-diagonal matrix R_m of the paper, built entry by entry with math.cos/sin."""
    R = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d // 2):
        a = m * base ** (-2 * i / d)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = math.cos(a), -math.sin(a)
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = math.sin(a), math.cos(a)
    return R


@pytest.mark.parametrize("d_head", [2, 8, 64])
@pytest.mark.parametrize("base", [10000.0, 500000.0])
def test_apply_rope_matches_the_complex_formulation(d_head, base):
    x = torch.randn(2, 3, 11, d_head)
    positions = torch.arange(11)
    torch.testing.assert_close(apply_rope(x, base=base).double(), rope_complex(x, positions, base), atol=1e-5, rtol=1e-5)


def test_apply_rope_matches_the_rotation_matrices_at_given_positions():
    x = torch.randn(1, 2, 4, 16)
    positions = torch.tensor([0, 5, 99, 1000])
    expected = torch.stack([x.double()[:, :, t] @ rotation_matrix(int(m), 16).T for t, m in enumerate(positions)], dim=2)
    torch.testing.assert_close(apply_rope(x, positions).double(), expected, atol=1e-5, rtol=1e-5)


def test_position_zero_is_the_identity_and_norms_are_kept():
    x = torch.randn(2, 4, 9, 32)
    out = apply_rope(x)
    torch.testing.assert_close(out[:, :, 0], x[:, :, 0])
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))
    assert not torch.allclose(out[:, :, 1:], x[:, :, 1:])   # every later position is turned


def test_scores_depend_only_on_the_relative_position():
    q, k = torch.randn(1, 1, 1, 64), torch.randn(1, 1, 1, 64)

    def score(m: int, n: int) -> float:
        qm, kn = apply_rope(q, torch.tensor([m])), apply_rope(k, torch.tensor([n]))
        return (qm @ kn.transpose(-2, -1)).item()

    for m, n in [(3, 1), (7, 7), (2, 9)]:
        for shift in (1, 40, 500):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-4)
        # q R_m^T R_n k = q R_{n-m} k: the two rotations collapse into one by the distance
        expected = q.double().flatten() @ rotation_matrix(n - m, 64) @ k.double().flatten()
        assert score(m, n) == pytest.approx(expected.item(), abs=1e-4)
    assert abs(score(5, 0) - score(0, 5)) > 1e-3   # the sign of m - n matters: not a function of |m - n|


def test_attention_weights_are_unchanged_by_shifting_every_position():
    q, k, v = torch.randn(3, 2, 4, 6, 16).unbind(0)
    base = torch.arange(6)
    _, w0 = scaled_dot_product_attention(apply_rope(q, base), apply_rope(k, base), v)
    _, w1 = scaled_dot_product_attention(apply_rope(q, base + 123), apply_rope(k, base + 123), v)
    torch.testing.assert_close(w1, w0, atol=1e-5, rtol=1e-4)


def test_matches_hugging_face_llama_up_to_the_pair_layout():
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = transformers.LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=4,
                                      max_position_embeddings=64)
    q, k = torch.randn(2, 2, 4, 12, 16).unbind(0)                        # (B, H, T, d_head)
    cos, sin = LlamaRotaryEmbedding(config)(q, torch.arange(12)[None])  # (1, T, d_head), HF's layout
    to_hf = lambda t: torch.cat((t[..., 0::2], t[..., 1::2]), dim=-1)  # pair i -> channels (i, i + d/2)
    from_hf = lambda t: torch.stack((t[..., :8], t[..., 8:]), dim=-1).flatten(-2)
    q_hf, k_hf = apply_rotary_pos_emb(to_hf(q), to_hf(k), cos, sin)
    torch.testing.assert_close(apply_rope(q), from_hf(q_hf), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(apply_rope(k), from_hf(k_hf), atol=1e-5, rtol=1e-5)


def test_rotary_embedding_module_with_an_offset_matches_a_whole_sequence():
    rope = RotaryEmbedding(d_head=16, max_len=32)
    q, k = torch.randn(2, 1, 3, 10, 16).unbind(0)
    q_all, k_all = rope(q, k)
    torch.testing.assert_close(q_all, apply_rope(q))
    torch.testing.assert_close(k_all, apply_rope(k))
    q_last, k_last = rope(q[:, :, -1:], k[:, :, -1:], offset=9)          # one new token, as with a cache
    torch.testing.assert_close(q_last, q_all[:, :, -1:])
    torch.testing.assert_close(k_last, k_all[:, :, -1:])
    assert sum(p.numel() for p in rope.parameters()) == 0 and rope.state_dict() == {}


def test_frequencies_and_dtypes():
    theta = rope_frequencies(8)
    torch.testing.assert_close(theta, torch.tensor([1.0, 0.1, 0.01, 0.001]))
    cos, sin = rope_angles(torch.tensor([0, 1, 2]), 8)
    assert cos.shape == sin.shape == (3, 4) and cos.dtype == torch.float32
    x = torch.randn(1, 1, 5, 8, dtype=torch.bfloat16)
    out = apply_rope(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), apply_rope(x.float()), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("call, message", [
    (lambda: apply_rope(torch.randn(2, 5, 8)), r"\(B, H, T, d_head\)"),
    (lambda: apply_rope(torch.randn(1, 1, 5, 7)), "even"),
    (lambda: apply_rope(torch.randn(1, 1, 5, 8), torch.arange(4)), r"shape \(5,\)"),
    (lambda: apply_rope(torch.randn(1, 1, 5, 8), torch.linspace(0, 1, 5)), "integer positions"),
    (lambda: rope_frequencies(8, base=1.0), "base"),
    (lambda: RotaryEmbedding(8, max_len=4)(torch.randn(1, 1, 3, 8), torch.randn(1, 1, 3, 8), offset=2), "outside"),
    (lambda: RotaryEmbedding(8)(torch.randn(1, 1, 3, 16), torch.randn(1, 1, 3, 16)), "d_head=8"),
    (lambda: RotaryEmbedding(8)(torch.randn(1, 1, 3, 8), torch.randn(1, 1, 4, 8)), "same positions"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()

"""SwiGLU against Hugging Face's LlamaMLP, the formula written out, and LLaMA's published widths."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tfm import PositionwiseFeedForward
from tfm.swiglu import SwiGLU, swiglu_hidden


def test_matches_the_formula_written_out():
    torch.manual_seed(0)
    ff = SwiGLU(12, 20, bias=True)
    x = torch.randn(2, 5, 12)
    W1, b1, W3, b3 = ff.gate.weight, ff.gate.bias, ff.up.weight, ff.up.bias
    W2, b2 = ff.down.weight, ff.down.bias
    z = x @ W1.T + b1
    expected = ((z * torch.sigmoid(z)) * (x @ W3.T + b3)) @ W2.T + b2   # silu(z) = z sigmoid(z)
    torch.testing.assert_close(ff(x), expected)


def test_matches_hugging_face_llama_mlp():
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaMLP

    config = transformers.LlamaConfig(hidden_size=24, intermediate_size=64, hidden_act="silu", num_attention_heads=4,
                                      num_key_value_heads=4)
    ref = LlamaMLP(config).eval()
    ff = SwiGLU(24, 64).eval()
    with torch.no_grad():
        for ours, theirs in ((ff.gate, ref.gate_proj), (ff.up, ref.up_proj), (ff.down, ref.down_proj)):
            ours.weight.copy_(theirs.weight)
    x = torch.randn(3, 7, 24)
    torch.testing.assert_close(ff(x), ref(x))
    assert sum(p.numel() for p in ff.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("d_model, multiple_of, published", [
    (4096, 256, 11008),   # LLaMA 7B: intermediate_size 11008
    (5120, 256, 13824),   # LLaMA 13B: 13824
    (768, 1, 2048),       # 8/3 x 768, exactly
])
def test_hidden_width_is_llamas(d_model, multiple_of, published):
    assert swiglu_hidden(d_model, multiple_of) == published


@pytest.mark.parametrize("d_model", [48, 96, 768])
def test_same_parameters_as_a_4x_ffn_without_biases(d_model):
    swiglu = SwiGLU(d_model)                                           # d_ff = 8/3 d_model
    ffn = PositionwiseFeedForward(d_model, 4 * d_model, "gelu", bias=False)
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(swiglu) == count(ffn) == 8 * d_model * d_model


def test_shapes_gradients_and_dropout():
    ff = SwiGLU(16, dropout=0.5)
    x = torch.randn(2, 3, 16, requires_grad=True)
    ff.train()(x).sum().backward()
    assert x.grad.shape == x.shape and all(p.grad is not None for p in ff.parameters())
    ff.eval()
    torch.testing.assert_close(ff(x), ff(x))                           # no dropout in eval
    assert ff.gate.bias is None and ff.gate.out_features == swiglu_hidden(16)


@pytest.mark.parametrize("call, message", [
    (lambda: SwiGLU(8)(torch.randn(2, 3, 9)), "d_model=8"),
    (lambda: SwiGLU(8, d_ff=0), "positive"),
    (lambda: swiglu_hidden(0), "positive"),
    (lambda: swiglu_hidden(64, multiple_of=0), "positive"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()

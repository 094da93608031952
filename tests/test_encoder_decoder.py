"""Encoder and decoder layers and stacks against PyTorch's nn.Transformer* modules.

tfm.interop.from_torch copies the weights of a PyTorch module into the matching tfm
module; with the same weights and the same (converted) masks both must compute the same
function. Masks never hide every key of a query (PyTorch gives NaN there, tfm zeros).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tfm import Decoder, DecoderLayer, Encoder, EncoderLayer, MultiHeadAttention, PositionwiseFeedForward, causal_mask
from helpers import perturb
from tfm.interop import from_torch, mask_from_torch

D, H, D_FF = 16, 4, 32
B, S, T = 2, 7, 5


def assert_close(actual, expected, atol=1e-5):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-5)


def key_padding(lengths: list[int], T_k: int) -> torch.Tensor:
    """PyTorch's key_padding_mask (B, T_k): True where the key is padding (right padding)."""
    return torch.arange(T_k)[None, :] >= torch.tensor(lengths)[:, None]


def torch_encoder_layer(norm_first: bool, activation="relu", bias: bool = True) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(D, H, D_FF, dropout=0.1, activation=activation, batch_first=True,
                                      norm_first=norm_first, bias=bias)


def torch_decoder_layer(norm_first: bool, activation="relu", bias: bool = True) -> nn.TransformerDecoderLayer:
    return nn.TransformerDecoderLayer(D, H, D_FF, dropout=0.1, activation=activation, batch_first=True,
                                      norm_first=norm_first, bias=bias)


ACTIVATIONS = ["relu", "gelu", F.gelu, nn.ReLU()]
ACTIVATION_IDS = ["relu", "gelu", "F.gelu", "nn.ReLU"]


# ---- feed-forward ----

@pytest.mark.parametrize("activation, act_module", [
    ("relu", nn.ReLU()), ("gelu", nn.GELU()), ("gelu_tanh", nn.GELU(approximate="tanh"))])
@pytest.mark.parametrize("bias", [True, False])
def test_feedforward_matches_sequential(activation, act_module, bias):
    ff = perturb(PositionwiseFeedForward(D, D_FF, activation, dropout=0.2, bias=bias)).eval()
    ref = nn.Sequential(ff.linear1, act_module, nn.Dropout(0.2), ff.linear2).eval()
    x = torch.randn(B, T, D)
    assert_close(ff(x), ref(x))
    # Position-wise: every token goes through the same MLP on its own.
    assert_close(ff(x)[:, 2:3], ff(x[:, 2:3]))


# ---- encoder ----

@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])  # no_grad: PyTorch's fast path
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=ACTIVATION_IDS)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_layer_matches_torch(norm_first, activation, grad):
    ref = perturb(torch_encoder_layer(norm_first, activation)).eval()
    ours = from_torch(ref)
    assert isinstance(ours, EncoderLayer) and not ours.training
    x = torch.randn(B, S, D)
    kpm = key_padding([4, S], S)
    with torch.set_grad_enabled(grad):
        assert_close(ours(x, mask_from_torch(key_padding_mask=kpm)), ref(x, src_key_padding_mask=kpm))
        assert_close(ours(x), ref(x))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_layer_without_bias_and_with_attn_mask(norm_first):
    ref = perturb(torch_encoder_layer(norm_first, "gelu", bias=False)).eval()
    ours = from_torch(ref)
    assert ours.ff.linear1.bias is None and ours.res_attn.norm.bias is None
    x = torch.randn(B, S, D)
    local = (torch.arange(S)[:, None] - torch.arange(S)[None, :]).abs() > 2  # True = hidden: a local window
    kpm = key_padding([5, 6], S)
    expected = ref(x, src_mask=local, src_key_padding_mask=kpm)
    assert_close(ours(x, mask_from_torch(local, kpm)), expected)


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("final_norm", [False, True], ids=["no_final_norm", "final_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_stack_matches_torch(norm_first, activation, final_norm, grad):
    layer = torch_encoder_layer(norm_first, activation)
    norm = nn.LayerNorm(D, eps=1e-6) if final_norm else None
    ref = perturb(nn.TransformerEncoder(layer, num_layers=3, norm=norm, enable_nested_tensor=False)).eval()
    ours = from_torch(ref)
    assert isinstance(ours, Encoder) and len(ours.layers) == 3
    assert (ours.norm is not None) == final_norm
    x = torch.randn(B, S, D)
    kpm = key_padding([3, S], S)
    with torch.set_grad_enabled(grad):
        assert_close(ours(x, mask_from_torch(key_padding_mask=kpm)), ref(x, src_key_padding_mask=kpm))


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_encoder_stack_matches_torch_nested_tensor_path_on_real_tokens():
    """With nested tensors PyTorch skips the padding and returns zeros there: compare real tokens."""
    ref = perturb(nn.TransformerEncoder(torch_encoder_layer(False), num_layers=2, enable_nested_tensor=True)).eval()
    ours = from_torch(ref)
    x = torch.randn(B, S, D)
    kpm = key_padding([3, S], S)
    with torch.no_grad():
        expected = ref(x, src_key_padding_mask=kpm)
        out = ours(x, mask_from_torch(key_padding_mask=kpm))
    assert_close(out[~kpm], expected[~kpm])


def test_encoder_converted_in_float64_is_exact():
    ref = perturb(nn.TransformerEncoder(torch_encoder_layer(True, "gelu"), 2, norm=nn.LayerNorm(D),
                                        enable_nested_tensor=False)).double().eval()
    ours = from_torch(ref)
    x = torch.randn(B, S, D, dtype=torch.float64)
    kpm = key_padding([2, 6], S)
    torch.testing.assert_close(ours(x, mask_from_torch(key_padding_mask=kpm)), ref(x, src_key_padding_mask=kpm),
                               atol=1e-12, rtol=1e-12)


# ---- decoder ----

def decoder_inputs():
    y, memory = torch.randn(B, T, D), torch.randn(B, S, D)
    tgt_mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = future: hidden
    tgt_kpm = key_padding([3, T], T)  # right padding: every query still sees token 0
    mem_kpm = key_padding([4, S], S)
    return y, memory, tgt_mask, tgt_kpm, mem_kpm


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=ACTIVATION_IDS)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_layer_matches_torch(norm_first, activation, grad):
    ref = perturb(torch_decoder_layer(norm_first, activation)).eval()
    ours = from_torch(ref)
    assert isinstance(ours, DecoderLayer) and not ours.training
    y, memory, tgt_mask, tgt_kpm, mem_kpm = decoder_inputs()
    with torch.set_grad_enabled(grad):
        expected = ref(y, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_kpm,
                       memory_key_padding_mask=mem_kpm)
        out = ours(y, memory, self_mask=mask_from_torch(tgt_mask, tgt_kpm),
                   memory_mask=mask_from_torch(key_padding_mask=mem_kpm))
        assert_close(out, expected)
        # The causal part given as is_causal=True instead of a mask.
        out = ours(y, memory, self_mask=mask_from_torch(key_padding_mask=tgt_kpm),
                   memory_mask=mask_from_torch(key_padding_mask=mem_kpm), is_causal=True)
        assert_close(out, expected)


def test_decoder_layer_without_bias_and_memory_attn_mask():
    ref = perturb(torch_decoder_layer(False, "gelu", bias=False)).eval()
    ours = from_torch(ref)
    assert ours.cross_attn.w_q.bias is None and ours.res_cross.norm.bias is None
    y, memory, tgt_mask, _, mem_kpm = decoder_inputs()
    memory_mask = torch.rand(T, S) < 0.3
    memory_mask[:, 0] = False  # every query sees memory position 0
    expected = ref(y, memory, tgt_mask=tgt_mask, memory_mask=memory_mask)
    out = ours(y, memory, self_mask=mask_from_torch(tgt_mask), memory_mask=mask_from_torch(memory_mask))
    assert_close(out, expected)


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("final_norm", [False, True], ids=["no_final_norm", "final_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_stack_matches_torch(norm_first, activation, final_norm, grad):
    norm = nn.LayerNorm(D) if final_norm else None
    ref = perturb(nn.TransformerDecoder(torch_decoder_layer(norm_first, activation), num_layers=3, norm=norm)).eval()
    ours = from_torch(ref)
    assert isinstance(ours, Decoder) and len(ours.layers) == 3
    assert (ours.norm is not None) == final_norm
    y, memory, tgt_mask, tgt_kpm, mem_kpm = decoder_inputs()
    with torch.set_grad_enabled(grad):
        expected = ref(y, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_kpm,
                       memory_key_padding_mask=mem_kpm)
        out = ours(y, memory, self_mask=mask_from_torch(tgt_mask, tgt_kpm),
                   memory_mask=mask_from_torch(key_padding_mask=mem_kpm))
    assert_close(out, expected)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_full_nn_transformer_matches_tfm_encoder_then_decoder(norm_first):
    ref = perturb(nn.Transformer(D, H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=D_FF,
                                 batch_first=True, norm_first=norm_first)).eval()
    encoder, decoder = from_torch(ref.encoder), from_torch(ref.decoder)
    src, tgt = torch.randn(B, S, D), torch.randn(B, T, D)
    src_kpm = key_padding([4, S], S)
    expected = ref(src, tgt, tgt_mask=ref.generate_square_subsequent_mask(T), src_key_padding_mask=src_kpm,
                   memory_key_padding_mask=src_kpm)
    src_mask = mask_from_torch(key_padding_mask=src_kpm)
    memory = encoder(src, src_mask)
    assert_close(decoder(tgt, memory, memory_mask=src_mask, is_causal=True), expected)


def test_decoder_with_cache_matches_full_forward():
    ours = from_torch(perturb(nn.TransformerDecoder(torch_decoder_layer(True), 2, norm=nn.LayerNorm(D))).eval())
    y, memory, _, _, mem_kpm = decoder_inputs()
    memory_mask = mask_from_torch(key_padding_mask=mem_kpm)
    full = ours(y, memory, self_mask=causal_mask(T), memory_mask=memory_mask)
    cache = ours.new_cache()
    steps = [ours(y[:, t:t + 1], memory, memory_mask=memory_mask, cache=cache, is_causal=True) for t in range(T)]
    assert_close(torch.cat(steps, dim=1), full)
    assert len(cache[0].self_attn) == T and len(cache[0].cross_attn) == S


def test_conversion_copies_settings_and_training_mode():
    ref = torch_encoder_layer(True, "gelu")
    ref.norm1.eps = ref.norm2.eps = 1e-6  # nn.TransformerEncoderLayer(layer_norm_eps=1e-6)
    ours = from_torch(ref)  # ref is in training mode
    assert ours.training
    assert ours.self_attn.dropout == 0.1 and ours.res_ff.dropout.p == 0.1 and ours.ff.dropout.p == 0.1
    assert ours.res_attn.norm_first and ours.ff.activation_name == "gelu" and ours.res_attn.norm.eps == 1e-6
    assert ours.ff.linear1.out_features == D_FF
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    tanh = nn.TransformerEncoderLayer(D, H, D_FF, activation=nn.GELU(approximate="tanh"), batch_first=True)
    assert from_torch(tanh).ff.activation_name == "gelu_tanh"


def test_masks_and_flags_of_the_layers_are_keyword_only():
    """Two masks of one type, or a flag after a mask, would be swapped silently if passed by position."""
    dec = DecoderLayer(D, H, D_FF, dropout=0.0)
    y, memory = torch.randn(2, T, D), torch.randn(2, S, D)
    with pytest.raises(TypeError):
        dec(y, memory, causal_mask(T))  # which mask? say self_mask= or memory_mask=
    with pytest.raises(TypeError):
        Decoder(1, D, H, D_FF)(y, memory, causal_mask(T))
    with pytest.raises(TypeError):
        EncoderLayer(D, H, D_FF)(y, None, True)  # return_weights=True
    with pytest.raises(TypeError):
        MultiHeadAttention(D, H)(y, y, y, None, True)  # return_weights=True
    assert_close(dec(y, memory, self_mask=causal_mask(T)), dec(y, memory, is_causal=True))

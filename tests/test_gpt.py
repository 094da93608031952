"""tfm.GPT against Hugging Face's GPT-2, and interop's error messages.

The GPT-2 is built from a config with random weights (no download): tfm.interop.from_hf_gpt2
copies them into a tfm.GPT, which must then give the same logits, the same greedy
continuations and the same parameter count.
"""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tfm import GPT, causal_mask
from tfm.interop import from_hf_gpt2, from_torch, mask_from_torch

transformers = pytest.importorskip("transformers")

VOCAB, N_POS, EOS = 97, 32, 96


def assert_close(actual, expected, atol=1e-5):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-5)


def hf_gpt2(**overrides):
    """A small random GPT2LMHeadModel in eval mode, weights spread out so greedy decoding is not trivial."""
    config = dict(vocab_size=VOCAB, n_positions=N_POS, n_embd=48, n_layer=2, n_head=4, resid_pdrop=0.0,
                  embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=EOS, eos_token_id=EOS)
    config.update(overrides)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**config)).eval()
    with torch.no_grad():
        for p in model.parameters():  # the tied lm_head is the same tensor as wte: perturbed once
            p.add_(torch.randn_like(p) * 0.2)
    return model


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    hf = hf_gpt2()
    return hf, from_hf_gpt2(hf)


def prompt(B: int = 2, T: int = 16) -> torch.Tensor:
    return torch.randint(0, EOS, (B, T))  # no <eos> in the prompt


# ---- same function ----

def test_logits_match_hf(models):
    hf, gpt = models
    assert isinstance(gpt, GPT) and not gpt.training
    idx = prompt()
    with torch.no_grad():
        expected = hf(idx).logits
        assert_close(gpt(idx), expected, atol=1e-4)


def test_parameter_count_matches_hf(models):
    hf, gpt = models
    assert sum(p.numel() for p in gpt.parameters()) == sum(p.numel() for p in hf.parameters())
    assert gpt.lm_head.weight is gpt.tok_emb.weight  # tied, as in GPT-2


def test_config_is_read_from_hf(models):
    hf, gpt = models
    c = gpt.config
    assert (c.vocab_size, c.max_len, c.d_model, c.n_layers, c.n_heads, c.d_ff) == (VOCAB, N_POS, 48, 2, 4, 4 * 48)
    assert c.activation == "gelu_tanh" and c.layer_norm_eps == hf.config.layer_norm_epsilon and c.dropout == 0.0


def test_weights_are_copied_not_shared(models):
    hf, gpt = models
    assert gpt.tok_emb.weight.data_ptr() != hf.transformer.wte.weight.data_ptr()
    assert torch.equal(gpt.tok_emb.weight, hf.transformer.wte.weight)


def test_cached_forward_matches_full_forward(models):
    _, gpt = models
    idx = prompt(T=12)
    with torch.no_grad():
        full = gpt(idx)
        cache = gpt.decoder.new_cache()
        steps = [gpt(idx[:, :5], cache=cache)] + [gpt(idx[:, t:t + 1], cache=cache) for t in range(5, 12)]
    assert_close(torch.cat(steps, dim=1), full, atol=1e-4)


@pytest.mark.parametrize("overrides", [
    dict(activation_function="gelu"),
    dict(activation_function="gelu_pytorch_tanh"),
    dict(n_inner=40, layer_norm_epsilon=1e-6),
], ids=["gelu", "gelu_pytorch_tanh", "n_inner"])
def test_other_configs_match_hf(overrides):
    hf = hf_gpt2(**overrides)
    gpt = from_hf_gpt2(hf)
    idx = prompt(T=10)
    with torch.no_grad():
        assert_close(gpt(idx), hf(idx).logits, atol=1e-4)
    assert sum(p.numel() for p in gpt.parameters()) == sum(p.numel() for p in hf.parameters())


def test_bare_gpt2_model_is_accepted(models):
    hf, _ = models
    gpt = from_hf_gpt2(hf.transformer)  # a GPT2Model: no lm_head, the tied one is rebuilt from wte
    idx = prompt(T=8)
    with torch.no_grad():
        hidden = hf.transformer(idx).last_hidden_state
        assert_close(gpt(idx), hidden @ hf.transformer.wte.weight.T, atol=1e-4)


# ---- same greedy continuation ----

def hf_greedy(hf, idx: torch.Tensor, max_new_tokens: int, eos: int | None) -> torch.Tensor:
    return hf.generate(idx, attention_mask=torch.ones_like(idx), do_sample=False, max_new_tokens=max_new_tokens,
                       pad_token_id=0, eos_token_id=eos)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generation_matches_hf(models, use_cache):
    hf, gpt = models
    idx = prompt()
    with torch.no_grad():
        expected = hf_greedy(hf, idx, 12, eos=None)
    out = gpt.generate(idx, 12, use_cache=use_cache)
    assert out.shape == (2, 28)
    assert torch.equal(out, expected)
    assert len(set(out[:, 16:].flatten().tolist())) > 2  # a real continuation, not one token repeated


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generation_with_eos_matches_hf(models, use_cache):
    hf, gpt = models
    idx = prompt()
    free = gpt.generate(idx, 12)
    eos = int(free[0, 16 + 3])  # row 0 "ends" with the 4th token it generates
    with torch.no_grad():
        expected = hf_greedy(hf, idx, 12, eos=eos)
    out = gpt.generate(idx, 12, eos_id=eos, pad_id=0, use_cache=use_cache)
    assert torch.equal(out, expected)


def test_manual_hf_greedy_loop_with_past_key_values(models):
    """The same as generate(), written as a loop over HF's cache: tfm's cached steps agree."""
    hf, gpt = models
    idx = prompt(T=6)
    # Recent transformers name HF's key/value cache `cache`; older ones `past_key_values`.
    name = "cache" if "cache" in inspect.signature(hf.forward).parameters else "past_key_values"
    tokens, past = idx, None
    with torch.no_grad():
        for _ in range(8):
            out = hf(tokens if past is None else tokens[:, -1:], use_cache=True, **{name: past})
            past = out[name]
            tokens = torch.cat([tokens, out.logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(gpt.generate(idx, 8, use_cache=True), tokens)


# ---- unsupported input: clear ValueErrors ----

def test_from_hf_gpt2_rejects_unsupported_configs():
    with pytest.raises(ValueError, match="activation_function 'relu'.*supported"):
        from_hf_gpt2(hf_gpt2(activation_function="relu"))
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        from_hf_gpt2(hf_gpt2(scale_attn_by_inverse_layer_idx=True))
    with pytest.raises(ValueError, match="not tied"):
        from_hf_gpt2(hf_gpt2(tie_word_embeddings=False))
    with pytest.raises(ValueError, match="GPT2LMHeadModel"):
        from_hf_gpt2(nn.Linear(2, 2))


def test_from_torch_rejects_unsupported_modules():
    with pytest.raises(ValueError, match=r"cannot convert Linear: supported modules are nn\.MultiheadAttention"):
        from_torch(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="cannot convert Transformer"):
        from_torch(nn.Transformer(16, 4, 1, 1, 32, batch_first=True))  # convert .encoder and .decoder
    with pytest.raises(ValueError, match="batch_first=True"):
        from_torch(nn.MultiheadAttention(16, 4))
    with pytest.raises(ValueError, match="batch_first=True"):
        from_torch(nn.TransformerEncoderLayer(16, 4, 32))
    with pytest.raises(ValueError, match="kdim == vdim == embed_dim"):
        from_torch(nn.MultiheadAttention(16, 4, kdim=8, vdim=8, batch_first=True))
    with pytest.raises(ValueError, match="add_bias_kv"):
        from_torch(nn.MultiheadAttention(16, 4, add_bias_kv=True, batch_first=True))


def test_from_torch_rejects_unsupported_activations_and_norms():
    with pytest.raises(ValueError, match="unsupported activation.*supported are relu and gelu"):
        from_torch(nn.TransformerEncoderLayer(16, 4, 32, activation=F.silu, batch_first=True))
    with pytest.raises(ValueError, match="unsupported activation"):
        from_torch(nn.TransformerDecoderLayer(16, 4, 32, activation=nn.Tanh(), batch_first=True))
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
    with pytest.raises(ValueError, match="final norm must be nn.LayerNorm"):
        from_torch(nn.TransformerEncoder(layer, 2, norm=nn.RMSNorm(16), enable_nested_tensor=False))


def test_mask_from_torch_rejects_bias_masks():
    with pytest.raises(ValueError, match="0 and -inf"):
        mask_from_torch(torch.randn(4, 4))  # an additive bias (ALiBi-like) is not a bool mask
    mask = mask_from_torch(torch.zeros(4, 4).masked_fill(~causal_mask(4)[0, 0], float("-inf")))
    assert torch.equal(mask, causal_mask(4))

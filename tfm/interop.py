"""Load weights from PyTorch's and Hugging Face's Transformer modules into tfm's.

If tfm computes the same function as a well-tested reference once both hold the same
weights, the code is right. That is how the tests check tfm, and how you can too:

    ref = nn.TransformerEncoderLayer(64, 4, batch_first=True).eval()
    ours = from_torch(ref)                        # a tfm.EncoderLayer with ref's weights
    torch.testing.assert_close(ours(x), ref(x))   # x: (B, T, 64)

* :func:`from_torch` converts ``nn.MultiheadAttention``, ``nn.LayerNorm`` and
  ``nn.TransformerEncoder(Layer)`` / ``nn.TransformerDecoder(Layer)``.
* :func:`mask_from_torch` turns PyTorch's masks (True = *not* allowed, or float
  masks with -inf) into tfm's (bool, True = may attend).
* :func:`from_hf_gpt2` builds a :class:`tfm.GPT` from a Hugging Face GPT-2 model.

Weights are copied (not shared): changing the new module leaves the old one alone.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MultiHeadAttention
from .decoder import Decoder, DecoderLayer
from .encoder import Encoder, EncoderLayer
from .model import GPT, GPTConfig
from .norm import LayerNorm

SUPPORTED = (
    "nn.MultiheadAttention, nn.LayerNorm, nn.TransformerEncoderLayer, nn.TransformerEncoder, "
    "nn.TransformerDecoderLayer, nn.TransformerDecoder"
)


# ---- masks ----

def mask_from_torch(attn_mask: Tensor | None = None, key_padding_mask: Tensor | None = None,
                    num_heads: int | None = None) -> Tensor | None:
    """PyTorch's ``attn_mask`` / ``key_padding_mask`` -> one tfm mask (bool, True = may attend).

    attn_mask: (T_q, T_k), or (B * num_heads, T_q, T_k) with ``num_heads`` given.
    key_padding_mask: (B, T_k), True where the key is padding.
    Bool masks mean True = hidden; float masks are added to the scores (-inf = hidden, 0 = visible).
    Returns a mask that broadcasts to (B, H, T_q, T_k), or None when both are None.
    """
    mask = None
    if attn_mask is not None:
        allowed = _allowed(attn_mask, "attn_mask")
        if allowed.dim() == 2:
            allowed = allowed[None, None]  # (1, 1, T_q, T_k)
        elif allowed.dim() == 3:
            if num_heads is None:
                raise ValueError("a 3-D attn_mask is (B * num_heads, T_q, T_k): pass num_heads to split it")
            allowed = allowed.view(-1, num_heads, *allowed.shape[1:])  # (B, H, T_q, T_k)
        else:
            raise ValueError(f"attn_mask must be (T_q, T_k) or (B * H, T_q, T_k), got shape {tuple(attn_mask.shape)}")
        mask = allowed
    if key_padding_mask is not None:
        if key_padding_mask.dim() != 2:
            raise ValueError(f"key_padding_mask must be (B, T_k), got shape {tuple(key_padding_mask.shape)}")
        allowed = _allowed(key_padding_mask, "key_padding_mask")[:, None, None, :]  # (B, 1, 1, T_k)
        mask = allowed if mask is None else mask & allowed
    return mask


def _allowed(mask: Tensor, name: str) -> Tensor:
    """One PyTorch mask -> bool, True = may attend."""
    if mask.dtype == torch.bool:
        return ~mask  # PyTorch: True = NOT allowed
    if mask.is_floating_point():
        hidden = mask == float("-inf")
        if not bool((hidden | (mask == 0)).all()):
            raise ValueError(f"{name} has values other than 0 and -inf: it adds a bias to the scores, "
                             "which a bool mask cannot express")
        return ~hidden
    raise ValueError(f"{name} must be bool or float, got {mask.dtype}")


# ---- copying weights ----

@torch.no_grad()
def _copy(dst: Tensor | None, src: Tensor | None) -> None:
    """Copy one weight (or check that both are absent)."""
    if (dst is None) != (src is None):
        raise ValueError("one module has a bias and the other has none")
    if dst is not None:
        if dst.shape != src.shape:
            raise ValueError(f"shape mismatch: {tuple(dst.shape)} vs {tuple(src.shape)}")
        dst.copy_(src)


def _copy_linear(dst: nn.Linear, weight: Tensor, bias: Tensor | None) -> None:
    _copy(dst.weight, weight)
    _copy(dst.bias, bias)


def _copy_layer_norm(dst: LayerNorm, src: nn.LayerNorm) -> None:
    if src.weight is not None:  # elementwise_affine=False: keep gamma = 1 (and no beta)
        _copy(dst.weight, src.weight)
    _copy(dst.bias, src.bias)


def _copy_attention(dst: MultiHeadAttention, src: nn.MultiheadAttention) -> None:
    """PyTorch stacks W_Q, W_K, W_V into one (3 d_model, d_model) ``in_proj_weight``."""
    w_q, w_k, w_v = src.in_proj_weight.chunk(3, dim=0)  # each (d_model, d_model)
    b_q = b_k = b_v = None
    if src.in_proj_bias is not None:
        b_q, b_k, b_v = src.in_proj_bias.chunk(3, dim=0)
    _copy_linear(dst.w_q, w_q, b_q)
    _copy_linear(dst.w_k, w_k, b_k)
    _copy_linear(dst.w_v, w_v, b_v)
    _copy_linear(dst.w_o, src.out_proj.weight, src.out_proj.bias)


# ---- one converter per PyTorch module ----

def _like(new: nn.Module, ref: nn.Module) -> nn.Module:
    """Move ``new`` to ``ref``'s dtype and device (before copying, so float64 stays exact)."""
    p = next(ref.parameters(), None)
    return new if p is None else new.to(dtype=p.dtype, device=p.device)


def _check_attention(m: nn.MultiheadAttention) -> None:
    if not m.batch_first:
        raise ValueError("only batch_first=True is supported (tfm tensors are (B, T, d_model)); "
                         "build the PyTorch module with batch_first=True")
    if not m._qkv_same_embed_dim:
        raise ValueError(f"only kdim == vdim == embed_dim is supported, got embed_dim={m.embed_dim}, "
                         f"kdim={m.kdim}, vdim={m.vdim}")
    if m.bias_k is not None or m.add_zero_attn:
        raise ValueError("add_bias_kv=True and add_zero_attn=True are not supported")


def _attention(m: nn.MultiheadAttention) -> MultiHeadAttention:
    _check_attention(m)
    bias = m.in_proj_bias is not None
    mha = _like(MultiHeadAttention(m.embed_dim, m.num_heads, dropout=m.dropout, bias=bias), m)
    _copy_attention(mha, m)
    return mha


def _layer_norm(m: nn.LayerNorm) -> LayerNorm:
    if len(m.normalized_shape) != 1:
        raise ValueError("only LayerNorm over the last dimension is supported, "
                         f"got normalized_shape={m.normalized_shape}")
    ln = _like(LayerNorm(m.normalized_shape[0], eps=m.eps, bias=m.bias is not None), m)
    _copy_layer_norm(ln, m)
    return ln


def _activation_name(activation: object) -> str:
    """PyTorch stores the activation as a function (F.relu), a module (nn.GELU()) or a string."""
    if activation is F.relu or isinstance(activation, nn.ReLU) or activation == "relu":
        return "relu"
    if isinstance(activation, nn.GELU):
        return "gelu_tanh" if activation.approximate == "tanh" else "gelu"
    if activation is F.gelu or activation == "gelu":
        return "gelu"
    raise ValueError(f"unsupported activation {activation!r}: supported are relu and gelu "
                     "(F.relu, F.gelu, nn.ReLU(), nn.GELU(), 'relu', 'gelu')")


def _layer_settings(m: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer) -> dict:
    """The constructor arguments tfm's layers need, read off a PyTorch layer."""
    _check_attention(m.self_attn)
    return dict(
        d_model=m.self_attn.embed_dim,
        n_heads=m.self_attn.num_heads,
        d_ff=m.linear1.out_features,
        dropout=m.dropout1.p,
        activation=_activation_name(m.activation),
        norm_first=m.norm_first,
        bias=m.linear1.bias is not None,
        layer_norm_eps=m.norm1.eps,
    )


def _copy_encoder_layer(dst: EncoderLayer, src: nn.TransformerEncoderLayer) -> None:
    _copy_attention(dst.self_attn, src.self_attn)
    _copy_layer_norm(dst.res_attn.norm, src.norm1)
    _copy_linear(dst.ff.linear1, src.linear1.weight, src.linear1.bias)
    _copy_linear(dst.ff.linear2, src.linear2.weight, src.linear2.bias)
    _copy_layer_norm(dst.res_ff.norm, src.norm2)


def _copy_decoder_layer(dst: DecoderLayer, src: nn.TransformerDecoderLayer) -> None:
    _check_attention(src.multihead_attn)
    _copy_attention(dst.self_attn, src.self_attn)
    _copy_layer_norm(dst.res_self.norm, src.norm1)
    _copy_attention(dst.cross_attn, src.multihead_attn)
    _copy_layer_norm(dst.res_cross.norm, src.norm2)
    _copy_linear(dst.ff.linear1, src.linear1.weight, src.linear1.bias)
    _copy_linear(dst.ff.linear2, src.linear2.weight, src.linear2.bias)
    _copy_layer_norm(dst.res_ff.norm, src.norm3)


def _encoder_layer(m: nn.TransformerEncoderLayer) -> EncoderLayer:
    layer = _like(EncoderLayer(**_layer_settings(m)), m)
    _copy_encoder_layer(layer, m)
    return layer


def _decoder_layer(m: nn.TransformerDecoderLayer) -> DecoderLayer:
    layer = _like(DecoderLayer(**_layer_settings(m)), m)
    _copy_decoder_layer(layer, m)
    return layer


def _final_norm(m: nn.Module | None) -> LayerNorm | None:
    if m is None:
        return None
    if not isinstance(m, nn.LayerNorm):
        raise ValueError(f"the stack's final norm must be nn.LayerNorm or None, got {type(m).__name__}")
    return _layer_norm(m)


def _stack(m: nn.TransformerEncoder | nn.TransformerDecoder, stack_cls: type[Encoder] | type[Decoder],
           copy_layer: Callable[[nn.Module, nn.Module], None]) -> Encoder | Decoder:
    """nn.TransformerEncoder/Decoder -> tfm's Encoder/Decoder: every layer, then the final norm."""
    settings = _layer_settings(m.layers[0])
    stack = _like(stack_cls(len(m.layers), **settings, final_norm=False), m)
    for dst, src in zip(stack.layers, m.layers):
        if _layer_settings(src) != settings:
            raise ValueError("all layers of the stack must have the same settings")
        copy_layer(dst, src)
    stack.norm = _final_norm(m.norm)  # its own eps and bias, which may differ from the layers'
    return stack


def _encoder(m: nn.TransformerEncoder) -> Encoder:
    return _stack(m, Encoder, _copy_encoder_layer)


def _decoder(m: nn.TransformerDecoder) -> Decoder:
    return _stack(m, Decoder, _copy_decoder_layer)


_CONVERTERS = {
    nn.MultiheadAttention: _attention,
    nn.LayerNorm: _layer_norm,
    nn.TransformerEncoderLayer: _encoder_layer,
    nn.TransformerDecoderLayer: _decoder_layer,
    nn.TransformerEncoder: _encoder,
    nn.TransformerDecoder: _decoder,
}


def from_torch(module: nn.Module) -> nn.Module:
    """A PyTorch module -> the tfm module that computes the same function, with its weights.

    nn.MultiheadAttention -> MultiHeadAttention, nn.LayerNorm -> LayerNorm,
    nn.TransformerEncoderLayer -> EncoderLayer, nn.TransformerDecoderLayer -> DecoderLayer,
    nn.TransformerEncoder -> Encoder, nn.TransformerDecoder -> Decoder.
    The result is in the same train/eval mode as ``module``. PyTorch masks mean the
    opposite of tfm's: convert them with :func:`mask_from_torch`.
    """
    convert = _CONVERTERS.get(type(module))
    if convert is None:
        raise ValueError(f"cannot convert {type(module).__name__}: supported modules are {SUPPORTED}")
    return convert(module).train(module.training)


# ---- Hugging Face GPT-2 ----

_HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}


def _gpt2_config(config) -> GPTConfig:
    """A Hugging Face ``GPT2Config`` -> :class:`tfm.GPTConfig` (dropout 0: for inference)."""
    act = config.activation_function
    if act not in _HF_ACTIVATIONS:
        raise ValueError(f"unsupported GPT-2 activation_function {act!r}: supported are {sorted(_HF_ACTIVATIONS)}")
    if not getattr(config, "scale_attn_weights", True) or getattr(config, "scale_attn_by_inverse_layer_idx", False):
        raise ValueError("only GPT-2's standard attention scaling 1/sqrt(d_head) is supported "
                         "(scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False)")
    if getattr(config, "add_cross_attention", False):
        raise ValueError("GPT-2 with cross-attention (add_cross_attention=True) is not supported")
    return GPTConfig(
        vocab_size=config.vocab_size,
        max_len=config.n_positions,
        n_layers=config.n_layer,
        d_model=config.n_embd,
        n_heads=config.n_head,
        d_ff=config.n_inner,  # None -> 4 * d_model, as in GPT-2
        dropout=0.0,
        bias=True,
        activation=_HF_ACTIVATIONS[act],
        layer_norm_eps=config.layer_norm_epsilon,
    )


def _copy_conv1d(dst: nn.Linear, conv) -> None:
    """HF's Conv1D stores its weight as (in, out): the transpose of nn.Linear's (out, in)."""
    _copy_linear(dst, conv.weight.t(), conv.bias)


@torch.no_grad()
def from_hf_gpt2(model) -> GPT:
    """A Hugging Face ``GPT2LMHeadModel`` (or bare ``GPT2Model``) -> :class:`tfm.GPT` with its weights.

    Works by attribute names (``model.transformer.h[i].attn.c_attn`` ...), so tfm does not
    need ``transformers`` installed. The output layer is tied to the token embedding, as
    in GPT-2. The result is in eval mode with dropout 0.
    """
    hf = getattr(model, "transformer", model)  # GPT2LMHeadModel wraps a GPT2Model
    if not all(hasattr(hf, name) for name in ("wte", "wpe", "h", "ln_f")) or not hasattr(model, "config"):
        raise ValueError(f"expected a Hugging Face GPT2LMHeadModel or GPT2Model, got {type(model).__name__}")
    lm_head = getattr(model, "lm_head", None)
    if lm_head is not None and not torch.equal(lm_head.weight, hf.wte.weight):
        raise ValueError("the model's lm_head is not tied to its token embedding (wte); tfm.GPT ties them")
    gpt = _like(GPT(_gpt2_config(model.config)), hf)
    _copy(gpt.tok_emb.weight, hf.wte.weight)  # also the lm_head: the same tensor
    _copy(gpt.pos_emb.weight, hf.wpe.weight)
    for ours, block in zip(gpt.decoder.layers, hf.h):
        d = gpt.config.d_model
        w_q, w_k, w_v = block.attn.c_attn.weight.t().split(d, dim=0)  # (3d, d) -> 3 x (d, d)
        b_q, b_k, b_v = block.attn.c_attn.bias.split(d, dim=0)
        _copy_layer_norm(ours.res_self.norm, block.ln_1)
        _copy_linear(ours.self_attn.w_q, w_q, b_q)
        _copy_linear(ours.self_attn.w_k, w_k, b_k)
        _copy_linear(ours.self_attn.w_v, w_v, b_v)
        _copy_conv1d(ours.self_attn.w_o, block.attn.c_proj)
        _copy_layer_norm(ours.res_ff.norm, block.ln_2)
        _copy_conv1d(ours.ff.linear1, block.mlp.c_fc)
        _copy_conv1d(ours.ff.linear2, block.mlp.c_proj)
    _copy_layer_norm(gpt.decoder.norm, hf.ln_f)
    return gpt.eval()

"""The two models of the course, built from the stages in the other files.

* :class:`Transformer`: the encoder-decoder of "Attention Is All You Need" (2017).
* :class:`GPT`: the decoder-only language model of GPT-2/GPT-3 (learned positions,
  pre-LN, a final LayerNorm, output layer tied to the token embedding).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from . import device as _device
from .decoder import Decoder, LayerCache
from .embedding import TokenEmbedding, check_tokens
from .encoder import Encoder
from .feedforward import ACTIVATIONS
from .masks import padding_mask
from .positional import LearnedPositionalEmbedding, PositionalEncoding


def _check_common(d_model: int, n_heads: int, d_ff: int, dropout: float, activation: str, max_len: int) -> None:
    if d_model <= 0 or n_heads <= 0 or d_model % n_heads != 0:
        raise ValueError(f"n_heads must divide d_model: got d_model={d_model}, n_heads={n_heads}")
    if d_ff <= 0:
        raise ValueError(f"d_ff must be positive, got {d_ff}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if max_len <= 0:
        raise ValueError(f"max_len must be positive, got {max_len}")


@dataclass
class TransformerConfig:
    """Sizes of the encoder-decoder. The defaults are the paper's base model (Table 3)."""

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 2048
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    dropout: float = 0.1
    max_len: int = 512
    activation: str = "relu"
    norm_first: bool = False  # False: post-LN as in the paper; True: pre-LN
    share_embeddings: bool = False  # one embedding matrix for source and target (needs one vocabulary)
    tie_output: bool = False  # output layer reuses the target embedding matrix (then it has no bias)
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    bias: bool = True
    layer_norm_eps: float = 1e-5
    final_norm: bool | None = None  # None: on for pre-LN, off for post-LN

    def __post_init__(self) -> None:
        _check_common(self.d_model, self.n_heads, self.d_ff, self.dropout, self.activation, self.max_len)
        if self.src_vocab_size <= 0 or self.tgt_vocab_size <= 0:
            raise ValueError(f"vocabulary sizes must be positive, got {self.src_vocab_size}, {self.tgt_vocab_size}")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError("share_embeddings needs src_vocab_size == tgt_vocab_size, got "
                             f"{self.src_vocab_size} and {self.tgt_vocab_size}")
        for name in ("pad_id", "bos_id", "eos_id"):
            value = getattr(self, name)
            if not 0 <= value < min(self.src_vocab_size, self.tgt_vocab_size):
                raise ValueError(f"{name}={value} is outside the vocabulary")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GPTConfig:
    """Sizes of the decoder-only model. The defaults are GPT-2 small / GPT-3 Small (124M)."""

    vocab_size: int
    max_len: int = 1024
    n_layers: int = 12
    d_model: int = 768
    n_heads: int = 12
    d_ff: int | None = None  # None: 4 * d_model
    dropout: float = 0.0
    bias: bool = True
    activation: str = "gelu_tanh"
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        _check_common(self.d_model, self.n_heads, self.d_ff, self.dropout, self.activation, self.max_len)
        if self.vocab_size <= 0 or self.n_layers <= 0:
            raise ValueError(f"vocab_size and n_layers must be positive, got {self.vocab_size}, {self.n_layers}")

    def to_dict(self) -> dict:
        return asdict(self)


class Transformer(nn.Module):
    """Encoder-decoder: source ids (B, S) and shifted target ids (B, T) -> logits (B, T, tgt_vocab)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = c = config
        # The ids are checked where they enter: encode(), decode(), forward().
        self.src_embed = TokenEmbedding(c.src_vocab_size, c.d_model, padding_idx=c.pad_id, check_ids=False)
        self.tgt_embed = self.src_embed if c.share_embeddings else TokenEmbedding(
            c.tgt_vocab_size, c.d_model, padding_idx=c.pad_id, check_ids=False)
        self.pos = PositionalEncoding(c.d_model, c.max_len, c.dropout)  # fixed sinusoids: no parameters
        layer_args = dict(d_model=c.d_model, n_heads=c.n_heads, d_ff=c.d_ff, dropout=c.dropout,
                          activation=c.activation, norm_first=c.norm_first, bias=c.bias,
                          layer_norm_eps=c.layer_norm_eps, final_norm=c.final_norm)
        self.encoder = Encoder(c.n_encoder_layers, **layer_args)
        self.decoder = Decoder(c.n_decoder_layers, **layer_args)
        self.output = nn.Linear(c.d_model, c.tgt_vocab_size, bias=not c.tie_output)
        self._init_weights()
        if c.tie_output:
            self.output.weight = self.tgt_embed.weight  # one matrix: embedding in, logits out

    def _init_weights(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)  # as torch.nn.Transformer and the Annotated Transformer
        for emb in {id(e): e for e in (self.src_embed, self.tgt_embed)}.values():
            nn.init.normal_(emb.weight, std=self.config.d_model ** -0.5)  # unit size after * sqrt(d_model)
            with torch.no_grad():
                emb.weight[self.config.pad_id].zero_()

    def source_mask(self, src: Tensor) -> Tensor | None:
        """Padding mask for the source (B, 1, 1, S), or None when nothing is padded.

        On a GPU the mask is always returned: asking whether anything is padded would make the
        CPU wait for the GPU, which costs more than the mask does.
        """
        mask = padding_mask(src, self.config.pad_id)
        if not _device.can_peek(mask):
            return mask
        return None if bool(mask.all()) else mask

    def encode(self, src: Tensor, src_mask: Tensor | None = None, *,
               return_weights: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """(B, S) source ids -> memory (B, S, d_model). ``src_mask`` defaults to the padding mask."""
        check_tokens(src, self.config.src_vocab_size, "src")
        return self._encode(src, src_mask, return_weights)

    def _encode(self, src: Tensor, src_mask: Tensor | None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        if src_mask is None:
            src_mask = self.source_mask(src)
        x = self.pos(self.src_embed(src))  # (B, S, d_model)
        return self.encoder(x, src_mask, return_weights=return_weights)

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor | None = None,
               cache: list[LayerCache] | None = None, *,
               return_weights: bool = False) -> Tensor | tuple[Tensor, list[dict[str, Tensor]]]:
        """(B, T) target ids (starting with <bos>) and memory (B, S, d_model) -> logits (B, T, V).

        With a ``cache`` (from ``self.decoder.new_cache()``) pass only the new tokens: the
        keys and values of the earlier ones are in the cache.
        """
        check_tokens(tgt_in, self.config.tgt_vocab_size, "tgt_in")
        return self._decode(tgt_in, memory, src_mask, cache, return_weights)

    def _decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor | None, cache: list[LayerCache] | None,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[dict[str, Tensor]]]:
        if memory.dim() != 3 or memory.size(0) != tgt_in.size(0) or memory.size(-1) != self.config.d_model:
            raise ValueError(f"memory must have shape (B={tgt_in.size(0)}, S, d_model={self.config.d_model}), "
                             f"got {tuple(memory.shape)}")
        start = len(cache[0].self_attn) if cache else 0
        y = self.pos(self.tgt_embed(tgt_in), start)  # (B, T, d_model)
        # Causality is enough for right-padded targets: real tokens never see the padding after them.
        out = self.decoder(y, memory, memory_mask=src_mask, cache=cache, is_causal=True,
                           return_weights=return_weights)
        if return_weights:
            return self.output(out[0]), out[1]
        return self.output(out)  # (B, T, tgt_vocab)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, tgt_vocab) for every position of ``tgt_in`` at once.

        The ids' range is not checked inside :func:`tfm.embedding.trusted_ids` (a GPU would have
        to report back to the CPU for it): ``tfm.train`` checks each batch on the CPU instead.
        """
        if src.dim() == 2 and tgt_in.dim() == 2 and src.size(0) != tgt_in.size(0):
            raise ValueError(f"src and tgt_in must have the same batch size, got {src.size(0)} and {tgt_in.size(0)}")
        check_tokens(src, self.config.src_vocab_size, "src")  # first: a clear error before the mask is built
        check_tokens(tgt_in, self.config.tgt_vocab_size, "tgt_in")
        src_mask = self.source_mask(src)
        memory = self._encode(src, src_mask)
        return self._decode(tgt_in, memory, src_mask, None)

    def generate(self, src: Tensor, max_new_tokens: int | None = None, **kwargs) -> Tensor:
        """Translate: <bos> followed by the generated ids (B, 1 + new). See :mod:`tfm.generate`."""
        from .generate import seq2seq_generate
        return seq2seq_generate(self, src, max_new_tokens, **kwargs)


class GPT(nn.Module):
    """Decoder-only language model: token ids (B, T) -> next-token logits (B, T, vocab_size)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = c = config
        self.tok_emb = TokenEmbedding(c.vocab_size, c.d_model, scale=False, check_ids=False)  # checked in forward
        self.pos_emb = LearnedPositionalEmbedding(c.max_len, c.d_model, c.dropout)
        self.decoder = Decoder(c.n_layers, c.d_model, c.n_heads, c.d_ff, c.dropout, c.activation,
                               norm_first=True, bias=c.bias, layer_norm_eps=c.layer_norm_eps,
                               final_norm=True, cross_attention=False)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied: the same matrix reads and writes tokens
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layers)."""
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            std = 0.02
            if name.endswith("w_o.weight") or name.endswith("linear2.weight"):
                std = 0.02 / math.sqrt(2 * self.config.n_layers)
            nn.init.normal_(p, mean=0.0, std=std)
        for module in self.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx: Tensor, cache: list[LayerCache] | None = None, *,
                return_weights: bool = False) -> Tensor | tuple[Tensor, list[dict[str, Tensor]]]:
        """(B, T) ids -> logits (B, T, vocab_size). With a cache pass only the new ids."""
        check_tokens(idx, self.config.vocab_size, "idx")
        start = len(cache[0].self_attn) if cache else 0
        x = self.pos_emb(self.tok_emb(idx), start)  # (B, T, d_model) token + position
        out = self.decoder(x, cache=cache, is_causal=True, return_weights=return_weights)
        if return_weights:
            return self.lm_head(out[0]), out[1]
        return self.lm_head(out)  # (B, T, vocab_size)

    def generate(self, idx: Tensor, max_new_tokens: int, *, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
                 use_cache: bool = True, pad_id: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Continue ``idx`` (B, T): returns (B, T + new); rows that ended early are padded."""
        from .generate import gpt_generate
        return gpt_generate(self, idx, max_new_tokens, do_sample=do_sample, temperature=temperature,
                            top_k=top_k, top_p=top_p, eos_id=eos_id, use_cache=use_cache, pad_id=pad_id,
                            generator=generator)

"""Counting learnable parameters from a config alone, step by step.

Every number here is plain Python arithmetic on the config: no model is built, so a
GPT-3 175B config is counted instantly. The tests check each count against
``sum(p.numel() for p in model.parameters())`` of the real model, where a shared matrix
(tied embeddings) is counted once, as PyTorch does.

* :func:`count_parameters`: one number.
* :func:`parameter_table` / :func:`format_table`: where the parameters sit, following the
  twelve steps of a forward pass (tokenization ... softmax) from the course's overview.
* :data:`PRESETS` / :data:`PAPER_COUNTS`: the model sizes of GPT-3 (Table 2.1) and of
  "Attention Is All You Need" (Table 3), with the totals the papers publish.

Building blocks, with d = d_model::

    linear d_in -> d_out      d_in * d_out  (+ d_out bias)
    LayerNorm                 d gamma       (+ d beta)
    multi-head attention      4 linears d -> d: W_Q, W_K, W_V and W_O
    feed-forward              d -> d_ff -> d: two linears
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .model import GPTConfig, TransformerConfig

Config = GPTConfig | TransformerConfig

# The twelve steps of "Data Flow and Learnable Parameters" in the course's overview.
SEED_STEPS: tuple[str, ...] = (
    "Input Text & Tokenization",
    "Embedding Layer",
    "Positional Encoding",
    "Multi-Head Attention Mechanism",
    "Concatenation and Linear Transformation After Attention",
    "First Residual Connection",
    "First Layer Normalization",
    "Feed-Forward Neural Network (FFNN)",
    "Second Residual Connection",
    "Second Layer Normalization",
    "Final Linear Layer for Token Generation",
    "Softmax Layer",
)


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

def linear_params(d_in: int, d_out: int, bias: bool = True) -> int:
    """nn.Linear(d_in, d_out): a (d_out x d_in) weight matrix, plus d_out biases."""
    return d_in * d_out + (d_out if bias else 0)


def norm_params(d_model: int, bias: bool = True) -> int:
    """LayerNorm: a scale gamma per feature, plus a shift beta per feature."""
    return d_model * (2 if bias else 1)


def qkv_params(d_model: int, bias: bool = True) -> int:
    """W_Q, W_K, W_V: each d_model x d_model (all heads stacked), whatever the head count."""
    return 3 * linear_params(d_model, d_model, bias)


def attention_params(d_model: int, bias: bool = True) -> int:
    """One multi-head attention: W_Q, W_K, W_V and the output projection W_O."""
    return qkv_params(d_model, bias) + linear_params(d_model, d_model, bias)


def ffn_params(d_model: int, d_ff: int, bias: bool = True) -> int:
    """Position-wise feed-forward: W_1 (d_model -> d_ff) and W_2 (d_ff -> d_model)."""
    return linear_params(d_model, d_ff, bias) + linear_params(d_ff, d_model, bias)


def _final_norm(config: TransformerConfig) -> bool:
    """Whether the encoder and decoder stacks end with a LayerNorm (None: only for pre-LN)."""
    return config.norm_first if config.final_norm is None else config.final_norm


# ---------------------------------------------------------------------------
# The total
# ---------------------------------------------------------------------------

def count_parameters(config: Config | str) -> int:
    """Number of learnable parameters of the model ``config`` describes (shared ones once).

    Equals ``sum(p.numel() for p in model.parameters())``, computed without building the
    model. ``config`` may also be a preset name, e.g. ``"gpt3-175b"``.
    """
    if isinstance(config, str):
        config = get_preset(config)
    if not isinstance(config, (GPTConfig, TransformerConfig)):
        raise TypeError(f"expected a GPTConfig or TransformerConfig, got {type(config).__name__}")
    d, b = config.d_model, config.bias
    if isinstance(config, GPTConfig):
        embeddings = config.vocab_size * d + config.max_len * d  # tokens + learned positions
        block = attention_params(d, b) + ffn_params(d, config.d_ff, b) + 2 * norm_params(d, b)
        # The output layer reuses the token embedding and has no bias: nothing to add.
        return embeddings + config.n_layers * block + norm_params(d, b)  # + final LayerNorm
    # Encoder-decoder (TransformerConfig)
    embeddings = config.src_vocab_size * d  # source embedding
    if not config.share_embeddings:
        embeddings += config.tgt_vocab_size * d  # separate target embedding
    # Sinusoidal positions: no parameters.
    enc_layer = attention_params(d, b) + ffn_params(d, config.d_ff, b) + 2 * norm_params(d, b)
    dec_layer = 2 * attention_params(d, b) + ffn_params(d, config.d_ff, b) + 3 * norm_params(d, b)
    final_norms = 2 * norm_params(d, b) if _final_norm(config) else 0  # encoder's + decoder's
    # A tied output layer reuses the target embedding and has no bias; else a full linear.
    output = 0 if config.tie_output else linear_params(d, config.tgt_vocab_size, bias=True)
    return (embeddings + config.n_encoder_layers * enc_layer + config.n_decoder_layers * dec_layer
            + final_norms + output)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the parameter table: ``per_copy`` parameters, repeated ``copies`` times.

    ``step`` is the number (1-12) in the overview's list; None for rows outside it (the
    final LayerNorm of a pre-LN stack, the total).
    """

    step: int | None
    name: str  # the step's name as in the overview, or "Final Layer Normalization" / "Total"
    where: str  # which part of the model: "model", "block", "encoder", "decoder cross-attention", ...
    learned: str  # what is learned, with shapes; or why nothing is
    per_copy: int
    copies: int = 1

    @property
    def total(self) -> int:
        return self.per_copy * self.copies


def _shape(d_in: int, d_out: int, bias: bool, n: int = 1) -> str:
    """Text like '3 x (768 x 768) + 3 x 768 biases' for n linear layers."""
    times = f"{n} x " if n > 1 else ""
    text = f"{times}({d_in:,} x {d_out:,})"
    if bias:
        text += f" + {times}{d_out:,} bias" + ("es" if n > 1 else "")
    return text


def _qkv_text(d: int, h: int, bias: bool) -> str:
    return f"W_Q, W_K, W_V, {h} heads of {d // h}: {_shape(d, d, bias, 3)}"


def _norm_text(d: int, bias: bool, pre_ln: bool) -> str:
    text = f"gamma, beta: 2 x {d:,}" if bias else f"gamma: {d:,}, no beta"
    return text + ("; pre-LN: before the sub-layer" if pre_ln else "")


def _ffn_text(d: int, d_ff: int, bias: bool) -> str:
    return f"W_1 {_shape(d, d_ff, bias)}, W_2 {_shape(d_ff, d, bias)}"


_NOTHING = {
    1: "nothing: the tokenizer's vocabulary is fixed before training",
    6: "nothing: x + sublayer(x) is an addition",
    9: "nothing: x + sublayer(x) is an addition",
    12: "nothing: softmax is a fixed function",
}


def _gpt_rows(c: GPTConfig) -> list[Row]:
    d, b, n = c.d_model, c.bias, c.n_layers
    S = SEED_STEPS
    return [
        Row(1, S[0], "model", _NOTHING[1], 0),
        Row(2, S[1], "model", f"token embedding: {c.vocab_size:,} x {d:,}", c.vocab_size * d),
        Row(3, S[2], "model", f"learned positions: {c.max_len:,} x {d:,}", c.max_len * d),
        Row(4, S[3], "block", _qkv_text(d, c.n_heads, b), qkv_params(d, b), n),
        Row(5, S[4], "block", f"W_O: {_shape(d, d, b)}", linear_params(d, d, b), n),
        Row(6, S[5], "block", _NOTHING[6], 0, n),
        Row(7, S[6], "block", _norm_text(d, b, pre_ln=True), norm_params(d, b), n),
        Row(8, S[7], "block", _ffn_text(d, c.d_ff, b), ffn_params(d, c.d_ff, b), n),
        Row(9, S[8], "block", _NOTHING[9], 0, n),
        Row(10, S[9], "block", _norm_text(d, b, pre_ln=True), norm_params(d, b), n),
        Row(None, "Final Layer Normalization", "model", _norm_text(d, b, False) + "; after the last block",
            norm_params(d, b)),
        Row(11, S[10], "model", "nothing new: tied to the token embedding (step 2), no bias", 0),
        Row(12, S[11], "model", _NOTHING[12], 0),
    ]


def _transformer_rows(c: TransformerConfig) -> list[Row]:
    d, b, h, pre = c.d_model, c.bias, c.n_heads, c.norm_first
    ne, nd = c.n_encoder_layers, c.n_decoder_layers
    S = SEED_STEPS
    if c.share_embeddings:
        tgt = Row(2, S[1], "decoder (target)", "nothing new: shares the source embedding", 0)
    else:
        tgt = Row(2, S[1], "decoder (target)", f"target embedding: {c.tgt_vocab_size:,} x {d:,}",
                  c.tgt_vocab_size * d)
    if c.tie_output:
        output = Row(11, S[10], "model", "nothing new: tied to the target embedding (step 2), no bias", 0)
    else:
        output = Row(11, S[10], "model", f"W_out {_shape(d, c.tgt_vocab_size, True)}",
                     linear_params(d, c.tgt_vocab_size, True))
    rows = [
        Row(1, S[0], "model", _NOTHING[1], 0),
        Row(2, S[1], "encoder (source)", f"source embedding: {c.src_vocab_size:,} x {d:,}", c.src_vocab_size * d),
        tgt,
        Row(3, S[2], "model", "nothing: fixed sinusoids", 0),
        Row(4, S[3], "encoder self-attention", _qkv_text(d, h, b), qkv_params(d, b), ne),
        Row(4, S[3], "decoder masked self-attention", _qkv_text(d, h, b), qkv_params(d, b), nd),
        Row(4, S[3], "decoder cross-attention", _qkv_text(d, h, b) + "; K, V read the encoder output",
            qkv_params(d, b), nd),
        Row(5, S[4], "encoder self-attention", f"W_O: {_shape(d, d, b)}", linear_params(d, d, b), ne),
        Row(5, S[4], "decoder masked self-attention", f"W_O: {_shape(d, d, b)}", linear_params(d, d, b), nd),
        Row(5, S[4], "decoder cross-attention", f"W_O: {_shape(d, d, b)}", linear_params(d, d, b), nd),
        Row(6, S[5], "encoder and decoder", _NOTHING[6] + " (the decoder has one more, around cross-attention)",
            0),
        Row(7, S[6], "encoder self-attention", _norm_text(d, b, pre), norm_params(d, b), ne),
        Row(7, S[6], "decoder masked self-attention", _norm_text(d, b, pre), norm_params(d, b), nd),
        Row(7, S[6], "decoder cross-attention", _norm_text(d, b, pre) + "; the decoder's extra norm",
            norm_params(d, b), nd),
        Row(8, S[7], "encoder FFN", _ffn_text(d, c.d_ff, b), ffn_params(d, c.d_ff, b), ne),
        Row(8, S[7], "decoder FFN", _ffn_text(d, c.d_ff, b), ffn_params(d, c.d_ff, b), nd),
        Row(9, S[8], "encoder and decoder", _NOTHING[9], 0),
        Row(10, S[9], "encoder FFN", _norm_text(d, b, pre), norm_params(d, b), ne),
        Row(10, S[9], "decoder FFN", _norm_text(d, b, pre), norm_params(d, b), nd),
    ]
    if _final_norm(c):
        for part in ("encoder", "decoder"):
            rows.append(Row(None, "Final Layer Normalization", part,
                            _norm_text(d, b, False) + f"; after the last {part} layer", norm_params(d, b)))
    rows += [output, Row(12, S[11], "model", _NOTHING[12], 0)]
    return rows


def parameter_table(config: Config | str) -> list[Row]:
    """One row per step of the overview (encoder and decoder apart), then a "Total" row.

    The total equals :func:`count_parameters`; shared matrices appear once, where they are
    first used, and later rows say what they reuse.
    """
    if isinstance(config, str):
        config = get_preset(config)
    if isinstance(config, GPTConfig):
        rows = _gpt_rows(config)
    elif isinstance(config, TransformerConfig):
        rows = _transformer_rows(config)
    else:
        raise TypeError(f"expected a GPTConfig or TransformerConfig, got {type(config).__name__}")
    total = sum(row.total for row in rows)
    rows.append(Row(None, "Total", "model", "all learnable parameters, shared ones counted once", total))
    return rows


def human(n: int) -> str:
    """Short human form of a count: 124439808 -> '124.4M', 174600000000 -> '174.6B'."""
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= 1000 and round(n / size, 1) >= 1:  # 999,960 -> "1.0M", not "1000.0K"
            return f"{n / size:.1f}{unit}"
    return str(n)


def format_table(rows: list[Row], learned: bool = True) -> str:
    """The rows as a plain-text table with aligned columns and thousands separators.

    ``learned=False`` leaves out the last, widest column ("What is learned").
    """
    header = ("#", "Step", "Where", "Per copy", "Copies", "Total", "", "What is learned")
    lines = []
    for r in rows:
        is_total = r.name == "Total"
        lines.append((
            "" if r.step is None else str(r.step),
            r.name,
            r.where,
            "" if is_total else f"{r.per_copy:,}",
            "" if is_total else f"x {r.copies}",
            f"{r.total:,}",
            human(r.total) if r.total else "",
            r.learned,
        ))
    if not learned:
        header, lines = header[:-1], [line[:-1] for line in lines]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    right = {0, 3, 4, 5, 6}  # numbers are right-aligned

    def fmt(line: tuple[str, ...]) -> str:
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(tuple("-" * w for w in widths)))
    body = [fmt(line) for line in lines]
    if rows and rows[-1].name == "Total":
        body.insert(len(body) - 1, rule)
    return "\n".join([fmt(header), rule, *body])


# ---------------------------------------------------------------------------
# Published model sizes
# ---------------------------------------------------------------------------

def _gpt3(n_layers: int, d_model: int, n_heads: int) -> GPTConfig:
    """A GPT-3 size: GPT-2's vocabulary, 2048 positions, d_ff = 4 d_model, biases everywhere."""
    return GPTConfig(vocab_size=50257, max_len=2048, n_layers=n_layers, d_model=d_model, n_heads=n_heads)


# GPT-3 paper (Brown et al. 2020), Table 2.1: n_layers, d_model, n_heads. The parameter
# count does not depend on the number of heads (the heads split d_model among them), so
# where the paper's head count does not divide d_model we pick one that does.
PRESETS: dict[str, Config] = {
    "gpt3-small": _gpt3(12, 768, 12),  # 12 heads of 64
    "gpt3-medium": _gpt3(24, 1024, 16),  # 16 heads of 64
    "gpt3-large": _gpt3(24, 1536, 16),  # 16 heads of 96
    # Paper: 24 heads of d_head 128, but 24 x 128 = 3072 != 2048 and 2048 / 24 is not an
    # integer. tfm needs n_heads to divide d_model: 16 heads of the paper's 128.
    "gpt3-xl": _gpt3(24, 2048, 16),
    "gpt3-2.7b": _gpt3(32, 2560, 32),  # 32 heads of 80
    "gpt3-6.7b": _gpt3(32, 4096, 32),  # 32 heads of 128
    # Paper: d_model 5140 with 40 heads of 128, but 40 x 128 = 5120: 5140 is a typo in Table 2.1
    # (every other row has d_model = n_heads x d_head). 40 heads of 128 = 5120, as the paper's
    # own head count and head size say: 12.85B parameters.
    "gpt3-13b": _gpt3(40, 5120, 40),
    "gpt3-175b": _gpt3(96, 12288, 96),  # 96 heads of 128
    # "Attention Is All You Need" (Vaswani et al. 2017), Table 3. WMT14 English-German with
    # a shared source/target byte-pair vocabulary of about 37000 tokens: one embedding
    # matrix for source, target and the output layer (section 3.4).
    "transformer-base": TransformerConfig(src_vocab_size=37000, tgt_vocab_size=37000, d_model=512, n_heads=8,
                                          d_ff=2048, n_encoder_layers=6, n_decoder_layers=6, dropout=0.1,
                                          share_embeddings=True, tie_output=True),
    "transformer-big": TransformerConfig(src_vocab_size=37000, tgt_vocab_size=37000, d_model=1024, n_heads=16,
                                         d_ff=4096, n_encoder_layers=6, n_decoder_layers=6, dropout=0.3,
                                         share_embeddings=True, tie_output=True),
}

# The totals the papers publish (rounded as printed there).
PAPER_COUNTS: dict[str, int] = {
    "gpt3-small": 125_000_000,
    "gpt3-medium": 350_000_000,
    "gpt3-large": 760_000_000,
    "gpt3-xl": 1_300_000_000,
    "gpt3-2.7b": 2_700_000_000,
    "gpt3-6.7b": 6_700_000_000,
    "gpt3-13b": 13_000_000_000,
    "gpt3-175b": 175_000_000_000,
    "transformer-base": 65_000_000,
    "transformer-big": 213_000_000,
}


def get_preset(name: str) -> Config:
    """A fresh copy of the preset ``name`` (changing it does not change :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid names: {', '.join(PRESETS)}")
    return replace(PRESETS[name])

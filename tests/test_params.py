"""Tests for tfm.params: counts from the config equal the built models' parameters exactly,
the presets match the published sizes, and the table follows the overview's twelve steps."""
import itertools
import time

import pytest
import torch
from torch import nn

from tfm.model import GPT, GPTConfig, Transformer, TransformerConfig
from tfm.params import (PAPER_COUNTS, PRESETS, SEED_STEPS, Row, count_parameters, format_table, get_preset,
                        human, parameter_table)


def model_count(model: nn.Module) -> int:
    """What PyTorch counts: ``parameters()`` yields a shared tensor only once."""
    return sum(p.numel() for p in model.parameters())


def table_total(config) -> int:
    rows = parameter_table(config)
    assert rows[-1].name == "Total"
    assert rows[-1].total == sum(r.total for r in rows[:-1])
    return rows[-1].total


# --- exact agreement with the built models -----------------------------------------------

GPT_GRID = [
    dict(bias=bias, d_ff=d_ff, n_layers=n_layers, n_heads=n_heads)
    for bias, d_ff, n_layers, n_heads in itertools.product((True, False), (None, 48, 100), (1, 3), (1, 4))
]


@pytest.mark.parametrize("kwargs", GPT_GRID, ids=str)
def test_gpt_count_is_exact(kwargs):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=37, max_len=16, d_model=32, **kwargs)
    expected = model_count(GPT(config))
    assert count_parameters(config) == expected
    assert table_total(config) == expected


TRANSFORMER_GRID = list(itertools.product(
    (False, True),  # share_embeddings
    (False, True),  # tie_output
    (False, True),  # norm_first
    (None, True, False),  # final_norm
    (True, False),  # bias
))


@pytest.mark.parametrize("share,tie,norm_first,final_norm,bias", TRANSFORMER_GRID)
def test_transformer_count_is_exact(share, tie, norm_first, final_norm, bias):
    torch.manual_seed(0)
    config = TransformerConfig(src_vocab_size=41, tgt_vocab_size=41 if share else 53, d_model=16, n_heads=2,
                               d_ff=24, n_encoder_layers=2, n_decoder_layers=1, max_len=8,
                               share_embeddings=share, tie_output=tie, norm_first=norm_first,
                               final_norm=final_norm, bias=bias)
    expected = model_count(Transformer(config))
    assert count_parameters(config) == expected
    assert table_total(config) == expected


def test_shared_matrices_counted_once():
    base = dict(src_vocab_size=50, tgt_vocab_size=50, d_model=16, n_heads=2, d_ff=32,
                n_encoder_layers=1, n_decoder_layers=1)
    separate = count_parameters(TransformerConfig(**base))
    shared = count_parameters(TransformerConfig(**base, share_embeddings=True))
    tied = count_parameters(TransformerConfig(**base, share_embeddings=True, tie_output=True))
    assert separate - shared == 50 * 16  # the target embedding
    assert shared - tied == 50 * 16 + 50  # the output weight and its bias


def test_count_does_not_depend_on_heads():
    counts = {count_parameters(GPTConfig(vocab_size=100, d_model=64, n_heads=h)) for h in (1, 2, 4, 8, 16, 64)}
    assert len(counts) == 1


# --- references from outside tfm -----------------------------------------------------------

@pytest.mark.parametrize("n_layers,d_model,expected", [
    (12, 768, 124_439_808),  # gpt2
    (24, 1024, 354_823_168),  # gpt2-medium
    (36, 1280, 774_030_080),  # gpt2-large
    (48, 1600, 1_557_611_200),  # gpt2-xl
])
def test_gpt2_published_counts(n_layers, d_model, expected):
    """The parameter counts of OpenAI's GPT-2 checkpoints as loaded by Hugging Face."""
    config = GPTConfig(vocab_size=50257, max_len=1024, n_layers=n_layers, d_model=d_model, n_heads=d_model // 64)
    assert count_parameters(config) == expected
    assert table_total(config) == expected


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_match_torch_nn_transformer(norm_first):
    """The encoder and decoder rows (no embeddings, no output layer) against nn.Transformer,
    which always ends both stacks with a LayerNorm."""
    reference = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=3,
                               dim_feedforward=48, norm_first=norm_first, batch_first=True)
    config = TransformerConfig(src_vocab_size=10, tgt_vocab_size=10, d_model=32, n_heads=4, d_ff=48,
                               n_encoder_layers=2, n_decoder_layers=3, norm_first=norm_first, final_norm=True)
    layers = sum(r.total for r in parameter_table(config) if r.step in range(4, 11) or
                 r.name == "Final Layer Normalization")
    assert layers == model_count(reference)


# --- published sizes -------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in PRESETS if n.startswith("gpt3")])
def test_gpt3_presets_match_paper(name):
    """GPT-3 paper, Table 2.1: within 3% of the published (rounded) sizes."""
    assert count_parameters(name) == pytest.approx(PAPER_COUNTS[name], rel=0.03)


@pytest.mark.parametrize("name", ["transformer-base", "transformer-big"])
def test_aiayn_presets_match_paper(name):
    """Attention Is All You Need, Table 3: 65M (base) and 213M (big), within 5%."""
    assert count_parameters(name) == pytest.approx(PAPER_COUNTS[name], rel=0.05)


def test_presets_cover_paper_counts_and_are_valid():
    assert set(PRESETS) == set(PAPER_COUNTS)
    for name, config in PRESETS.items():
        assert config.d_model % config.n_heads == 0, name
        assert table_total(config) == count_parameters(config)


def test_175b_is_counted_without_building():
    start = time.perf_counter()
    n = count_parameters(get_preset("gpt3-175b"))
    rows = parameter_table("gpt3-175b")
    text = format_table(rows)
    assert time.perf_counter() - start < 0.5
    assert n == rows[-1].total == 174_604_259_328
    assert "174.6B" in text and "174,604,259,328" in text


def test_get_preset():
    config = get_preset("gpt3-small")
    assert isinstance(config, GPTConfig) and config.d_model == 768 and config.max_len == 2048
    config.n_layers = 1
    assert PRESETS["gpt3-small"].n_layers == 12  # a copy
    assert isinstance(get_preset("transformer-base"), TransformerConfig)
    with pytest.raises(ValueError, match="gpt3-175b"):
        get_preset("gpt5")


def test_rejects_other_objects():
    with pytest.raises(TypeError):
        count_parameters(nn.Linear(2, 2))
    with pytest.raises(TypeError):
        parameter_table(123)


# --- the table ----------------------------------------------------------------------------

def _seed_steps_in_order(rows: list[Row]) -> None:
    numbered = [r for r in rows if r.step is not None]
    assert [r.step for r in numbered] == sorted(r.step for r in numbered)
    assert sorted({r.step for r in numbered}) == list(range(1, 13))
    for r in numbered:
        assert r.name == SEED_STEPS[r.step - 1]
    first_seen = list(dict.fromkeys(r.name for r in numbered))
    assert first_seen == list(SEED_STEPS)


@pytest.mark.parametrize("name", ["gpt3-small", "transformer-base"])
def test_table_follows_the_seed_steps(name):
    rows = parameter_table(name)
    _seed_steps_in_order(rows)
    assert rows[-1].name == "Total" and rows[-1].total == count_parameters(name)
    by_step = {}
    for r in rows:
        by_step.setdefault(r.step, []).append(r)
    for step in (1, 6, 9, 12):  # tokenization, residuals, softmax: nothing learned, and why
        assert all(r.total == 0 and r.learned.startswith("nothing") for r in by_step[step])
    for step in (4, 5, 7, 8, 10):
        assert all(r.total > 0 for r in by_step[step])


def test_gpt_table_rows():
    config = GPTConfig(vocab_size=1000, max_len=64, n_layers=2, d_model=32, n_heads=4)
    rows = {r.step: r for r in parameter_table(config) if r.step is not None}
    assert rows[2].total == 1000 * 32
    assert rows[3].total == 64 * 32 and "learned positions" in rows[3].learned
    assert rows[4].per_copy == 3 * (32 * 32 + 32) and rows[4].copies == 2
    assert "W_Q, W_K, W_V" in rows[4].learned and "4 heads of 8" in rows[4].learned
    assert rows[5].per_copy == 32 * 32 + 32
    assert rows[11].total == 0 and "tied" in rows[11].learned


def test_transformer_table_separates_encoder_and_decoder():
    config = get_preset("transformer-base")
    rows = parameter_table(config)
    attention = [r.where for r in rows if r.step == 4]
    assert attention == ["encoder self-attention", "decoder masked self-attention", "decoder cross-attention"]
    norms = [r for r in rows if r.step in (7, 10)]
    assert sum(r.copies for r in norms if r.where.startswith("encoder")) == 2 * config.n_encoder_layers
    assert sum(r.copies for r in norms if r.where.startswith("decoder")) == 3 * config.n_decoder_layers
    assert "sinusoids" in next(r for r in rows if r.step == 3).learned
    assert not any(r.name == "Final Layer Normalization" for r in rows)  # post-LN: none
    pre_ln = parameter_table(TransformerConfig(100, 100, d_model=16, n_heads=2, d_ff=32, norm_first=True))
    assert [r.where for r in pre_ln if r.name == "Final Layer Normalization"] == ["encoder", "decoder"]


def test_format_table():
    text = format_table(parameter_table(GPTConfig(vocab_size=50257, max_len=1024)))
    lines = text.splitlines()
    assert "Embedding Layer" in text and "Softmax Layer" in text
    assert "124,439,808" in lines[-1] and "124.4M" in lines[-1]
    assert "38,597,376" in text  # 50257 x 768 with separators
    assert len(lines) == 2 + 13 + 2  # header, rule, 12 steps + final norm, rule, total
    short = format_table(parameter_table("gpt3-small"), learned=False)
    assert "What is learned" not in short


@pytest.mark.parametrize("n,text", [
    (0, "0"), (999, "999"), (1000, "1.0K"), (18_432, "18.4K"), (999_960, "1.0M"), (124_439_808, "124.4M"),
    (1_315_723_264, "1.3B"), (175_000_000_000, "175.0B"),
])
def test_human(n, text):
    assert human(n) == text

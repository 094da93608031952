"""Generation: greedy, sampling, beam search, end token, and the key/value cache."""
import itertools
import math

import pytest
import torch

import tfm
from tfm.generate import beam_search, decode_loop, filter_logits, greedy_decode, pick_next


def small_transformer(tgt_vocab: int = 12, seed: int = 0) -> tfm.Transformer:
    torch.manual_seed(seed)
    cfg = tfm.TransformerConfig(src_vocab_size=10, tgt_vocab_size=tgt_vocab, d_model=32, n_heads=4, d_ff=64,
                                n_encoder_layers=2, n_decoder_layers=2, dropout=0.1, max_len=24)
    return tfm.Transformer(cfg).eval()


def small_gpt(seed: int = 0, max_len: int = 16) -> tfm.GPT:
    torch.manual_seed(seed)
    return tfm.GPT(tfm.GPTConfig(vocab_size=30, max_len=max_len, n_layers=2, d_model=32, n_heads=4)).eval()


def test_cached_and_uncached_greedy_are_identical_for_the_encoder_decoder():
    model = small_transformer()
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 8, 7, 0, 0]])  # second row padded
    a = model.generate(src, 15, use_cache=True)
    b = model.generate(src, 15, use_cache=False)
    assert torch.equal(a, b)
    assert a[:, 0].eq(model.config.bos_id).all()


def test_cached_and_uncached_greedy_are_identical_for_gpt_also_past_max_len():
    model = small_gpt(max_len=16)
    idx = torch.randint(0, 30, (3, 5), generator=torch.Generator().manual_seed(1))
    a = model.generate(idx, 30, use_cache=True)  # 35 tokens: the window slides past max_len=16
    b = model.generate(idx, 30, use_cache=False)
    assert a.shape == (3, 35) and torch.equal(a, b)
    assert torch.equal(a[:, :5], idx)  # the prompt comes first


def test_cached_logits_equal_full_forward():
    model = small_gpt()
    idx = torch.randint(0, 30, (2, 10))
    full = model(idx)
    cache = model.decoder.new_cache()
    steps = [model(idx[:, :4], cache=cache)] + [model(idx[:, t:t + 1], cache=cache) for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_generation_stops_at_the_end_token_and_pads_finished_rows():
    eos, pad, V = 2, 0, 6
    finish_at = torch.tensor([1, 3, 99])  # row 0 says <eos> at step 1, row 1 at step 3, row 2 never

    def step(tokens):
        t = tokens.size(1) - 1  # how many tokens were generated so far
        logits = torch.zeros(tokens.size(0), V)
        logits[:, 5] = 1.0
        logits[finish_at == t, eos] = 2.0
        return logits

    out = decode_loop(step, torch.ones(3, 1, dtype=torch.long), 6, pick_next, eos_id=eos, pad_id=pad)
    assert out.tolist() == [
        [1, 5, 2, 0, 0, 0, 0],
        [1, 5, 5, 5, 2, 0, 0],
        [1, 5, 5, 5, 5, 5, 5],
    ]
    # When every row has finished, the loop stops before the length limit.
    finish_at[2] = 2
    out = decode_loop(step, torch.ones(3, 1, dtype=torch.long), 6, pick_next, eos_id=eos, pad_id=pad)
    assert out.shape == (3, 5)


def test_beam_size_one_is_greedy():
    model = small_transformer()
    src = torch.tensor([[4, 5, 6, 7], [9, 8, 0, 0]])
    assert torch.equal(beam_search(model, src, beam_size=1, max_new_tokens=10), greedy_decode(model, src, 10))


def brute_force_best(model, src, max_new, length_penalty):
    """Score every possible output of up to max_new tokens, the slow way (no cache, no beams)."""
    c = model.config
    memory = model.encode(src)
    best, best_seq = -math.inf, None
    for L in range(1, max_new + 1):
        for seq in itertools.product(range(c.tgt_vocab_size), repeat=L):
            if c.eos_id in seq[:-1] or (L < max_new and seq[-1] != c.eos_id):
                continue  # <eos> ends an output; shorter outputs must end with it
            tokens = torch.tensor([[c.bos_id, *seq]])
            logp = torch.log_softmax(model.decode(tokens[:, :-1], memory), dim=-1)[0]
            total = sum(logp[i, tok].item() for i, tok in enumerate(seq))
            score = total / L ** length_penalty
            if score > best:
                best, best_seq = score, list(seq)
    return best_seq


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_search_finds_the_exhaustive_best(seed):
    model = small_transformer(tgt_vocab=5, seed=seed)
    src = torch.tensor([[4, 5, 6]])
    with torch.no_grad():
        expected = brute_force_best(model, src, max_new=3, length_penalty=0.0)
    got = beam_search(model, src, beam_size=25, max_new_tokens=3, length_penalty=0.0)[0, 1:].tolist()
    assert got[: len(expected)] == expected and all(t == model.config.pad_id for t in got[len(expected):])


def test_beam_search_batches_rows_independently():
    model = small_transformer()
    src = torch.tensor([[4, 5, 6, 7], [9, 8, 0, 0]])
    both = beam_search(model, src, beam_size=3, max_new_tokens=8)
    for b in range(2):
        row = src[b:b + 1, : (src[b] != 0).sum()]
        alone = beam_search(model, row, beam_size=3, max_new_tokens=8)
        assert both[b, : alone.size(1)].tolist() == alone[0].tolist()


def reference_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering, one row at a time with Python lists."""
    out = logits.clone()
    for row in range(logits.size(0)):
        probs = torch.softmax(logits[row], -1).tolist()
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        mass, keep = 0.0, set()
        for i in order:
            keep.add(i)
            mass += probs[i]
            if mass >= p:
                break
        for i in range(len(probs)):
            if i not in keep:
                out[row, i] = -math.inf
    return out


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1.0])
def test_top_p_matches_a_reference(p):
    logits = torch.randn(4, 20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(filter_logits(logits, top_p=p), reference_top_p(logits, p))


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    kept = filter_logits(logits, top_k=2)
    assert torch.isfinite(kept).tolist() == [[False, True, False, True, False]]


def test_sampling_is_reproducible_and_top_k_1_is_greedy():
    model = small_gpt()
    idx = torch.randint(0, 30, (2, 4), generator=torch.Generator().manual_seed(0))
    s1 = model.generate(idx, 10, do_sample=True, generator=torch.Generator().manual_seed(5))
    s2 = model.generate(idx, 10, do_sample=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(s1, s2)
    greedy = model.generate(idx, 10)
    assert torch.equal(model.generate(idx, 10, do_sample=True, top_k=1), greedy)


def test_sampling_follows_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(20000, 1)
    g = torch.Generator().manual_seed(0)
    for temperature in (0.5, 1.0, 2.0):
        draws = pick_next(logits, do_sample=True, temperature=temperature, generator=g)
        freq = torch.bincount(draws, minlength=4).float() / draws.numel()
        expected = torch.softmax(logits[0] / temperature, -1)
        torch.testing.assert_close(freq, expected, atol=0.015, rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"do_sample": True, "temperature": 0.0}, "temperature"),
    ({"do_sample": True, "top_k": 0}, "top_k"),
    ({"do_sample": True, "top_p": 1.5}, "top_p"),
])
def test_bad_sampling_settings_are_named(kwargs, message):
    model = small_gpt()
    with pytest.raises(ValueError, match=message):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, **kwargs)


def test_generation_leaves_training_mode_as_it_was():
    model = small_transformer().train()
    model.generate(torch.tensor([[4, 5]]), 3)
    beam_search(model, torch.tensor([[4, 5]]), beam_size=2, max_new_tokens=3)
    assert model.training

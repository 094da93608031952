"""tfm.interpret: head scores checked against hand-built attention patterns and plain loops."""
import math

import pytest
import torch
from torch import nn

import tfm
from tfm.interpret import (head_scores, induction_score, periodic_tokens, previous_token_score, repeat_losses,
                           repeated_tokens)


def uniform_causal(T: int) -> torch.Tensor:
    """Every query spreads evenly over itself and the past: row t is 1/(t+1) on 0..t."""
    w = torch.zeros(T, T)
    for t in range(T):
        w[t, : t + 1] = 1.0 / (t + 1)
    return w


def previous_token_pattern(T: int) -> torch.Tensor:
    """Row t puts all its weight on t - 1 (row 0, with no past, on itself)."""
    w = torch.zeros(T, T)
    w[0, 0] = 1.0
    for t in range(1, T):
        w[t, t - 1] = 1.0
    return w


def induction_pattern(r: int) -> torch.Tensor:
    """T = 2r. Second repeat: row t on t - r + 1; first repeat: uniform over the past."""
    w = uniform_causal(2 * r)
    for t in range(r, 2 * r):
        w[t] = 0.0
        w[t, t - r + 1] = 1.0
    return w


def loop_scores(w: torch.Tensor, r: int) -> tuple[float, float]:
    """The definitions, one position at a time: mean of w[t, t-1] and of w[t, t-r+1] (t >= r)."""
    T = w.shape[-1]
    prev = sum(w[t, t - 1].item() for t in range(1, T)) / (T - 1)
    ind = sum(w[t, t - r + 1].item() for t in range(r, T)) / (T - r)
    return prev, ind


def test_an_exact_previous_token_head_scores_one_and_no_induction():
    w = previous_token_pattern(12)
    assert previous_token_score(w).item() == pytest.approx(1.0)
    assert induction_score(w, r=6).item() == pytest.approx(0.0)


def test_an_exact_induction_head_scores_one():
    r = 7
    w = induction_pattern(r)
    assert induction_score(w, r).item() == pytest.approx(1.0)
    # its previous-token weight comes only from the uniform first repeat: 1/(t+1) for t = 1..r-1
    expected_prev = sum(1.0 / (t + 1) for t in range(1, r)) / (2 * r - 1)
    assert previous_token_score(w).item() == pytest.approx(expected_prev)


def test_a_uniform_head_scores_one_over_the_number_of_positions_it_sees():
    r, T = 5, 10
    w = uniform_causal(T)
    assert previous_token_score(w).item() == pytest.approx(sum(1.0 / (t + 1) for t in range(1, T)) / (T - 1))
    assert induction_score(w, r).item() == pytest.approx(sum(1.0 / (t + 1) for t in range(r, T)) / (T - r))


def test_scores_keep_batch_and_head_dims_and_match_a_loop_on_random_weights():
    B, H, r = 3, 4, 6
    T = 2 * r
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(B, H, T, T, generator=g)
    w = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)  # (B, H, T, T)
    prev, ind = previous_token_score(w), induction_score(w, r)
    assert prev.shape == (B, H) and ind.shape == (B, H)
    for b in range(B):
        for h in range(H):
            want_prev, want_ind = loop_scores(w[b, h], r)
            assert prev[b, h].item() == pytest.approx(want_prev, abs=1e-6)
            assert ind[b, h].item() == pytest.approx(want_ind, abs=1e-6)


def test_heads_are_scored_separately():
    r = 4
    w = torch.stack([previous_token_pattern(2 * r), induction_pattern(r), uniform_causal(2 * r)])  # (H=3, T, T)
    prev, ind = previous_token_score(w), induction_score(w, r)
    assert prev.argmax().item() == 0 and ind.argmax().item() == 1
    assert ind[1].item() == pytest.approx(1.0) and prev[0].item() == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [torch.zeros(4), torch.zeros(3, 4)])
def test_scores_reject_weights_that_are_not_square(bad):
    with pytest.raises(ValueError, match="T, T"):
        previous_token_score(bad)
    with pytest.raises(ValueError, match="T, T"):
        induction_score(bad, 2)


def test_induction_score_rejects_an_r_that_does_not_fit():
    w = uniform_causal(8)
    for r in (1, 8, 9):
        with pytest.raises(ValueError, match="r must satisfy"):
            induction_score(w, r)
    with pytest.raises(ValueError, match="T >= 2"):
        previous_token_score(torch.ones(1, 1))


def test_repeated_tokens_repeat_their_first_half():
    g = torch.Generator().manual_seed(1)
    x = repeated_tokens(5, 9, 20, generator=g)
    assert x.shape == (5, 18) and x.dtype == torch.int64
    assert torch.equal(x[:, :9], x[:, 9:])
    assert 0 <= x.min() and x.max() < 20
    assert torch.equal(x, repeated_tokens(5, 9, 20, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="r >= 2"):
        repeated_tokens(5, 1, 20)


def test_periodic_tokens_repeat_with_a_period_from_the_range_in_every_row():
    x = periodic_tokens(200, 25, 4, 12, 32, generator=torch.Generator().manual_seed(5))
    assert x.shape == (200, 25) and 0 <= x.min() and x.max() < 32
    periods = []
    for row in x.tolist():  # the row's period: the smallest shift that maps the row onto itself
        periods.append(next(r for r in range(1, 25) if all(row[t] == row[t - r] for t in range(r, 25))))
    assert all(4 <= r <= 12 for r in periods)
    assert set(periods) == set(range(4, 13))  # every period of the range shows up in 200 rows
    with pytest.raises(ValueError, match="r_min <= r_max"):
        periodic_tokens(4, 25, 13, 12, 32)
    with pytest.raises(ValueError, match="length >= 2 r_max"):
        periodic_tokens(4, 20, 4, 12, 32)


class Fixed(nn.Module):
    """A stand-in model: uniform logits, or (copy=True, r) the induction answer with certainty."""

    def __init__(self, vocab_size: int, r: int = 0, copy: bool = False) -> None:
        super().__init__()
        self.vocab_size, self.r, self.copy = vocab_size, r, copy

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        logits = torch.zeros(B, T, self.vocab_size)
        if self.copy:
            for t in range(self.r, T):  # the token after t's previous occurrence, t - r + 1
                logits[torch.arange(B), t, idx[:, t - self.r + 1]] = 100.0
        return logits


def test_repeat_losses_of_a_uniform_guess_are_ln_vocab_on_both_repeats():
    x = repeated_tokens(4, 6, 13, generator=torch.Generator().manual_seed(2))
    first, second = repeat_losses(Fixed(13), x, 6)
    assert first == pytest.approx(math.log(13)) and second == pytest.approx(math.log(13))


def test_repeat_losses_of_a_perfect_copier_are_zero_on_the_second_repeat_only():
    r, V = 6, 13
    x = repeated_tokens(4, r, V, generator=torch.Generator().manual_seed(3))
    first, second = repeat_losses(Fixed(V, r, copy=True), x, r)
    assert first == pytest.approx(math.log(V)) and second == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="2r"):
        repeat_losses(Fixed(V), x, r + 1)


def test_head_scores_of_a_gpt_are_the_scores_of_its_attention_weights():
    torch.manual_seed(0)
    model = tfm.GPT(tfm.GPTConfig(vocab_size=11, max_len=16, n_layers=2, d_model=16, n_heads=4))
    r = 5
    x = repeated_tokens(3, r, 11, generator=torch.Generator().manual_seed(4))
    prev, ind = head_scores(model, x, r)
    assert prev.shape == (2, 4) and ind.shape == (2, 4) and model.training
    model.eval()
    h0 = model.pos_emb(model.tok_emb(x))  # (B, T, d): what layer 0 reads
    layer = model.decoder.layers[0]
    h = layer.res_self.norm(h0)
    _, w0 = layer.self_attn(h, h, h, return_weights=True, is_causal=True)  # (B, H, T, T)
    for h in range(4):
        want = [loop_scores(w0[b, h], r) for b in range(3)]
        assert prev[0, h].item() == pytest.approx(sum(p for p, _ in want) / 3, abs=1e-5)
        assert ind[0, h].item() == pytest.approx(sum(i for _, i in want) / 3, abs=1e-5)

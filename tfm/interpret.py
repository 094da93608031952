"""What attention learns: repeated random tokens, and scores that name what a head does.

Olsson et al. (2022), "In-context learning and induction heads": feed a model a sequence of
``r`` random tokens followed by the same ``r`` tokens again. The first repeat cannot be
predicted (its loss stays near ln(vocab)); the second can, by a model that looks back for the
previous occurrence of the current token and copies the token that came *after* it. Two kinds
of heads do that together in a two-layer model:

* a **previous-token head** (layer 1) attends from position t to t - 1, so that position t
  carries "the token before me";
* an **induction head** (layer 2) attends from t in the second repeat to t - r + 1: the position
  whose previous token is the current token, i.e. the token after the previous occurrence.

The scores below measure each pattern as the mean attention weight on the position the pattern
names: 1 for a head that does exactly that, 1 / (t + 1) at position t for a head that spreads
evenly over the causal past.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_weights(weights: Tensor) -> None:
    if weights.dim() < 2 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"attention weights must have shape (..., T, T), got {tuple(weights.shape)}")


def repeated_tokens(batch_size: int, r: int, vocab_size: int, generator: torch.Generator | None = None) -> Tensor:
    """(batch_size, 2 r) ids: r random tokens, then the same r tokens again (uniform over the vocabulary)."""
    if batch_size <= 0 or r < 2 or vocab_size < 2:
        raise ValueError(f"need batch_size > 0, r >= 2 and vocab_size >= 2, got {batch_size}, {r}, {vocab_size}")
    half = torch.randint(vocab_size, (batch_size, r), generator=generator)  # (B, r)
    return torch.cat([half, half], dim=1)  # (B, 2r)


def periodic_tokens(batch_size: int, length: int, r_min: int, r_max: int, vocab_size: int,
                    generator: torch.Generator | None = None) -> Tensor:
    """(batch_size, length) ids: each row repeats r random tokens, with r drawn per row from r_min .. r_max.

    Training data for induction: the period changes from row to row, so no head that looks a fixed
    distance back can predict the copies; matching the current token against the past can.
    """
    if not 2 <= r_min <= r_max or length < 2 * r_max or batch_size <= 0 or vocab_size < 2:
        raise ValueError(f"need 2 <= r_min <= r_max, length >= 2 r_max, batch_size > 0 and vocab_size >= 2, "
                         f"got r_min={r_min}, r_max={r_max}, length={length}, batch_size={batch_size}, "
                         f"vocab_size={vocab_size}")
    r = torch.randint(r_min, r_max + 1, (batch_size, 1), generator=generator)  # (B, 1) one period per row
    chunk = torch.randint(vocab_size, (batch_size, r_max), generator=generator)  # (B, r_max), first r used
    return chunk.gather(1, torch.arange(length) % r)  # (B, length): token t of row b is chunk[b, t mod r_b]

def previous_token_score(weights: Tensor) -> Tensor:
    """Mean attention from position t to t - 1, over t = 1 .. T-1.

    weights (..., T, T), rows = queries; returns (...), e.g. (B, H) for one layer's weights.
    """
    _check_weights(weights)
    T = weights.shape[-1]
    if T < 2:
        raise ValueError(f"a previous-token score needs T >= 2 positions, got T = {T}")
    return weights.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)  # w[t, t-1] for t = 1..T-1: (..., T-1) -> (...)


def induction_score(weights: Tensor, r: int) -> Tensor:
    """Mean attention from t in the second repeat to t - r + 1, the token after t's previous occurrence.

    weights (..., T, T) of a sequence whose tokens repeat with period r (T = 2r for
    :func:`repeated_tokens`), averaged over the queries t = r .. T-1; returns (...).
    """
    _check_weights(weights)
    T = weights.shape[-1]
    if not 2 <= r < T:
        raise ValueError(f"r must satisfy 2 <= r < T = {T}, got r = {r}")
    return weights.diagonal(offset=-(r - 1), dim1=-2, dim2=-1)[..., 1:].mean(-1)  # w[t, t-r+1], t = r..T-1


@torch.no_grad()
def head_scores(model: nn.Module, tokens: Tensor, r: int) -> tuple[Tensor, Tensor]:
    """Previous-token and induction score of every head of a ``tfm.GPT`` on ``tokens`` (B, 2r).

    Returns two (n_layers, n_heads) tensors, averaged over the batch.
    """
    was_training = model.training
    model.eval()
    try:
        _, weights = model(tokens, return_weights=True)  # n_layers x {"self": (B, H, T, T)}
    finally:
        model.train(was_training)
    stacked = torch.stack([w["self"] for w in weights])  # (L, B, H, T, T)
    return previous_token_score(stacked).mean(1), induction_score(stacked, r).mean(1)  # (L, H) each


@torch.no_grad()
def repeat_losses(model: nn.Module, tokens: Tensor, r: int) -> tuple[float, float]:
    """Mean next-token loss (nats) on the first repeat and on the second, for ``tokens`` (B, 2r).

    First repeat: predicting tokens 1 .. r-1 from what came before. Second: tokens r+1 .. 2r-1.
    Token r (the second repeat's first) is left out: nothing before it announces it.
    """
    if tokens.dim() != 2 or tokens.shape[1] != 2 * r:
        raise ValueError(f"tokens must be (B, 2r) = (B, {2 * r}), got {tuple(tokens.shape)}")
    was_training = model.training
    model.eval()
    try:
        logits = model(tokens[:, :-1])  # (B, 2r-1, V): position t predicts token t + 1
    finally:
        model.train(was_training)
    loss = F.cross_entropy(logits.transpose(1, 2).float(), tokens[:, 1:], reduction="none")  # (B, 2r-1)
    return loss[:, : r - 1].mean().item(), loss[:, r:].mean().item()


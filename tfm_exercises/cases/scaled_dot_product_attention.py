"""The tests of `scaled_dot_product_attention` (exercise 04a_scaled_dot_product_attention): generated from exercises/source/04a_scaled_dot_product_attention.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shapes(scaled_dot_product_attention):
    """returns (output (B, T_q, d_v), weights (B, T_q, T_k))"""
    import torch
    from tfm_exercises.checks import WrongShape, WrongType, call, check, tensor
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    out = call(scaled_dot_product_attention, q, k, v)
    check(isinstance(out, tuple) and len(out) == 2, "return a tuple (output, weights)", WrongType)
    output, weights = tensor(out[0], "output"), tensor(out[1], "weights")
    check(tuple(weights.shape) == (2, 3, 5), f"weights should have shape (2, 3, 5), got {tuple(weights.shape)}",
          WrongShape)
    check(tuple(output.shape) == (2, 3, 6), f"output should have shape (2, 3, 6), got {tuple(output.shape)}",
          WrongShape)


@case(points=1, hidden=False)
def test_masked_rows_sum_to_one(scaled_dot_product_attention):
    """with a mask: hidden keys get weight 0 and every row still sums to 1"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])[:, None, :]  # (2, 1, T_k)
    _, weights = call(scaled_dot_product_attention, q, k, v, mask)
    weights = tensor(weights, "weights")
    keys = mask[1, 0]  # sequence 1 sees keys 0 and 1 only
    visible, hidden = weights[1][:, keys], weights[1][:, ~keys]
    check(torch.nan_to_num(visible).abs().max() >= 1e-6,
          "the keys marked True got weight 0: True means 'may attend'. Hide the keys where the mask is "
          "False: masked_fill(~mask, float('-inf')).", Mistake)
    check(torch.nan_to_num(hidden, nan=1.0).abs().max() < 1e-6,
          "keys where the mask is False must get weight exactly 0: fill their scores with -inf before the "
          "softmax", Mistake)
    sums = weights.sum(dim=-1)
    check(torch.allclose(sums, torch.ones_like(sums), atol=1e-5),
          f"with a mask the rows of the weights sum to {sums.min().item():.3f} ... {sums.max().item():.3f}, not 1: "
          "you applied the mask after the softmax. Mask the scores before it (masked_fill(~mask, "
          "float('-inf'))), so the visible keys share all of the probability.", Mistake)


@case(points=2, hidden=False)
def test_values(scaled_dot_product_attention):
    """equals tfm.scaled_dot_product_attention (no mask)"""
    import math
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    q, k, v = torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.randn(2, 5, 6)
    want_out, want_w = tfm.scaled_dot_product_attention(q, k, v)
    output, weights = call(scaled_dot_product_attention, q, k, v)
    raw = q @ k.transpose(-2, -1)
    mistakes = [
        ("the scores are not scaled: divide q k^T by sqrt(d_k) before the softmax (without it, wide heads "
         "give huge scores and a nearly one-hot softmax)", torch.softmax(raw, dim=-1)),
        ("you divided the scores by d_k; divide by sqrt(d_k)", torch.softmax(raw / 16, dim=-1)),
        ("you scaled by sqrt(d_v), the width of the values; the scale is sqrt(d_k), the width of "
         "queries and keys", torch.softmax(raw / math.sqrt(6), dim=-1)),
        ("the softmax runs over the wrong dimension: each query's weights over the keys (the last "
         "dimension) must sum to 1, use dim=-1", torch.softmax(raw / 4, dim=-2)),
    ]
    compare(weights, want_w, "your weights", mistakes=mistakes)
    compare(output, want_out, "your output")


@case(points=2, hidden=False)
def test_values_with_mask(scaled_dot_product_attention):
    """equals tfm.scaled_dot_product_attention with a causal mask"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = tfm.causal_mask(5)[0, 0]  # (5, 5) True on and below the diagonal
    want_out, want_w = tfm.scaled_dot_product_attention(q, k, v, mask)
    output, weights = call(scaled_dot_product_attention, q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / 8 ** 0.5
    mistakes = [
        ("you applied the mask after the softmax: the hidden keys got weight 0 but the other weights were "
         "not renormalised, so rows do not sum to 1. Mask the scores before the softmax.",
         torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)),
        ("the mask is ignored: hide the keys where the mask is False (masked_fill(~mask, -inf)) before "
         "the softmax", torch.softmax(scores, dim=-1)),
        ("the mask is inverted: True means 'may attend', so hide where it is False (~mask)",
         lambda: torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)),
    ]
    compare(weights, want_w, "your weights (causal mask)", mistakes=mistakes)
    compare(output, want_out, "your output (causal mask)")


@case(points=1, hidden=True)
def test_heads_and_padding(scaled_dot_product_attention):
    """4-d inputs (batch, heads) with a broadcast padding mask"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, rng
    B, H, T, S, d_k, d_v = 3, rng().randint(1, 4), rng().randint(1, 7), 6, rng().randint(2, 10), rng().randint(2, 10)
    q, k, v = torch.randn(B, H, T, d_k), torch.randn(B, H, S, d_k), torch.randn(B, H, S, d_v)
    tokens = torch.tensor([[5, 6, 7, 8, 9, 9], [5, 6, 0, 0, 0, 0], [5, 6, 7, 8, 0, 0]])
    mask = tfm.padding_mask(tokens, 0)  # (3, 1, 1, 6)
    want_out, want_w = tfm.scaled_dot_product_attention(q, k, v, mask)
    output, weights = call(scaled_dot_product_attention, q, k, v, mask)
    compare(weights, want_w, "your weights (heads, padding mask)")
    compare(output, want_out, "your output (heads, padding mask)")

"""The tests of `debug_attention` (exercise 04c_debug_attention): generated from exercises/source/04c_debug_attention.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shapes(attention):
    """returns (output (B, H, T, d_head), weights (B, H, T, T))"""
    import torch
    from tfm_exercises.checks import WrongShape, WrongType, call, check, tensor
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)
    out = call(attention, q, k, v)
    check(isinstance(out, tuple) and len(out) == 2, "return a tuple (output, weights)", WrongType)
    output, weights = tensor(out[0], "output"), tensor(out[1], "weights")
    check(tuple(weights.shape) == (2, 4, 5, 5), f"weights should have shape (2, 4, 5, 5), got {tuple(weights.shape)}",
          WrongShape)
    check(tuple(output.shape) == (2, 4, 5, 8), f"output should have shape (2, 4, 5, 8), got {tuple(output.shape)}",
          WrongShape)


@case(points=2, hidden=False)
def test_scale_with_many_heads(attention):
    """no mask, 8 heads: the weights equal tfm.scaled_dot_product_attention (the scale bug)"""
    import math
    import torch
    import tfm
    from tfm_exercises.checks import WrongType, call, check, compare
    B, H, T, d_head = 2, 8, 5, 4
    q, k, v = (torch.randn(3, B, H, T, d_head) * 2).unbind(0)
    want_out, want_w = tfm.scaled_dot_product_attention(q, k, v)
    out = call(attention, q, k, v)
    check(isinstance(out, tuple) and len(out) == 2, "return a tuple (output, weights)", WrongType)
    output, weights = out
    raw = q @ k.transpose(-2, -1)
    mistakes = [
        ("the scale bug is still there: the scores are divided by sqrt(d_model) = sqrt(H * d_head). Each "
         "head's score is a dot product of two d_head-long vectors, so its variance grows with d_head, and "
         "the scale is sqrt(d_head) (d_k in the paper), whatever the number of heads",
         torch.softmax(raw / math.sqrt(H * d_head), dim=-1)),
        ("the scores are not scaled at all now: divide them by sqrt(d_head), the width of one head's "
         "queries and keys", torch.softmax(raw, dim=-1)),
        ("you divided the scores by d_head; the scale is its square root, sqrt(d_head)",
         torch.softmax(raw / d_head, dim=-1)),
        ("you divided by the number of heads; the scale is sqrt(d_head), the width of one head",
         torch.softmax(raw / H, dim=-1)),
    ]
    compare(weights, want_w, "your weights (8 heads, no mask)", mistakes=mistakes)
    compare(output, want_out, "your output (8 heads, no mask)")


@case(points=2, hidden=False)
def test_mask_with_one_head(attention):
    """causal mask, 1 head (where both scales agree): hidden keys get 0 and rows sum to 1 (the mask bug)"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongType, call, check, compare, tensor
    q, k, v = torch.randn(3, 2, 1, 6, 8).unbind(0)
    mask = tfm.causal_mask(6)                                   # (1, 1, 6, 6) True on and below the diagonal
    want_out, want_w = tfm.scaled_dot_product_attention(q, k, v, mask)
    out = call(attention, q, k, v, mask)
    check(isinstance(out, tuple) and len(out) == 2, "return a tuple (output, weights)", WrongType)
    output, weights = out
    weights = tensor(weights, "weights")
    sums = torch.nan_to_num(weights, nan=0.0).sum(dim=-1)
    check(weights.shape != want_w.shape or not bool(torch.isfinite(weights).all())
          or torch.allclose(sums, torch.ones_like(sums), atol=1e-5),
          f"the mask bug is still there: with a causal mask the rows of your weights sum to "
          f"{sums.min().item():.3f} ... {sums.max().item():.3f}, not 1. Zeroing the hidden keys after the "
          "softmax throws their probability away; it must go to the visible keys instead, so hide them "
          "before the softmax (a score of -inf has probability exactly 0).", Mistake)
    scores = q @ k.transpose(-2, -1) / 8 ** 0.5
    mistakes = [
        ("the mask is inverted: True means 'may attend', so hide the keys where the mask is False",
         lambda: torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)),
        ("the mask is ignored: every key got a weight", torch.softmax(scores, dim=-1)),
    ]
    compare(weights, want_w, "your weights (causal mask, 1 head)", mistakes=mistakes,
            nan_hint="a fill of -inf after the softmax turns the output into NaN; hide the keys before it")
    compare(output, want_out, "your output (causal mask, 1 head)")


@case(points=2, hidden=True)
def test_heads_and_padding(attention):
    """heads, widths and a padding mask drawn at grading time: equals tfm.scaled_dot_product_attention"""
    import math
    import torch
    import tfm
    from tfm_exercises.checks import WrongType, call, check, compare, rng
    B, H, T, d_head = 3, rng().randint(2, 6), rng().randint(2, 7), rng().randint(2, 9)
    q, k, v = torch.randn(3, B, H, T, d_head).unbind(0)
    lengths = [T, rng().randint(1, T), rng().randint(1, T)]
    tokens = torch.tensor([[7] * n + [0] * (T - n) for n in lengths])
    mask = tfm.padding_mask(tokens, 0) & tfm.causal_mask(T)      # (B, 1, T, T)
    want_out, want_w = tfm.scaled_dot_product_attention(q, k, v, mask)
    out = call(attention, q, k, v, mask)
    check(isinstance(out, tuple) and len(out) == 2, "return a tuple (output, weights)", WrongType)
    output, weights = out
    raw = q @ k.transpose(-2, -1)
    both = torch.softmax(raw / math.sqrt(H * d_head), dim=-1).masked_fill(~mask, 0.0)
    mistakes = [
        ("both bugs are still there: the scale uses d_model = H * d_head instead of d_head, and the mask is "
         "applied after the softmax", both),
        ("the scale still uses d_model = H * d_head: scale each head by sqrt(d_head)",
         lambda: torch.softmax((raw / math.sqrt(H * d_head)).masked_fill(~mask, float("-inf")), dim=-1)),
        ("the mask is still applied after the softmax: hide the keys before it, so rows sum to 1",
         torch.softmax(raw / math.sqrt(d_head), dim=-1).masked_fill(~mask, 0.0)),
    ]
    compare(weights, want_w, f"your weights ({H} heads, d_head={d_head}, causal + padding mask)", mistakes=mistakes)
    compare(output, want_out, "your output (heads, causal + padding mask)")

"""The tests of `top_p_filter` (exercise 12b_top_p): generated from exercises/source/12b_top_p.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def nucleus_mistakes(logits, p):
    """What the usual wrong versions of top-p give, for the feedback."""
    import torch
    inf = float("-inf")
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    cum = probs.cumsum(dim=-1)
    back = lambda drop: torch.zeros_like(drop).scatter(-1, order, drop)
    strict = back(cum > p)
    up, order_up = torch.sort(logits, dim=-1)
    cum_up = torch.softmax(up, dim=-1).cumsum(dim=-1)
    ascending = torch.zeros_like(cum_up, dtype=torch.bool).scatter(-1, order_up, (cum_up - torch.softmax(up, dim=-1)) >= p)
    unsorted_probs = torch.softmax(logits, dim=-1)
    cum_unsorted = unsorted_probs.cumsum(dim=-1) - unsorted_probs
    return [
        ("you dropped the token that makes the kept mass reach p: the nucleus is the smallest set of most likely "
         "tokens whose probability is at least p, so it includes the token that crosses p (decide each token by "
         "the mass of the tokens ranked before it)", logits.masked_fill(strict, inf)),
        ("you sorted in ascending order: the nucleus is made of the most likely tokens, so sort from the largest "
         "logit down", logits.masked_fill(ascending, inf)),
        ("you summed the probabilities in vocabulary order: sort them first, from the most likely token down, so "
         "the cumulative sum runs over the most likely tokens", logits.masked_fill(cum_unsorted >= p, inf)),
        ("your result is in sorted order: the filtered logits must stay at their tokens' own indices (put the "
         "decisions back where each sorted token came from)",
         torch.sort(logits, dim=-1, descending=True).values.masked_fill((cum - probs) >= p, inf)),
        ("the dropped tokens got 0: a logit of 0 still has probability exp(0) / Z > 0; use -inf, whose probability "
         "is exactly 0", logits.masked_fill(back((cum - probs) >= p), 0.0)),
        ("you returned probabilities: return the logits, with -inf for the dropped tokens (sampling applies the "
         "softmax later)", torch.softmax(logits.masked_fill(back((cum - probs) >= p), inf), dim=-1)),
    ]


@case(points=1, hidden=False)
def test_shape_and_kept_values(top_p_filter):
    """same shape; each logit is kept unchanged at its own index or set to -inf; the most likely token is kept"""
    import torch
    from tfm_exercises.checks import Mistake, WrongShape, call, check, tensor
    two_rows = torch.tensor([[2.0, 0.5, 1.0, -1.0, 0.0], [0.1, 0.3, -0.2, 0.8, 0.0]])
    for logits, p in ((torch.tensor([[0.50, 0.05, 0.30, 0.15]]).log(), 0.7), (two_rows, 0.8)):
        out = tensor(call(top_p_filter, logits, p), f"top_p_filter(logits, {p})")
        check(tuple(out.shape) == tuple(logits.shape), f"expected shape {tuple(logits.shape)}, got {tuple(out.shape)}",
              WrongShape)
        for message, value in nucleus_mistakes(logits, p)[3:]:  # the mistakes of form: order, fill value, probabilities
            check(not (value.shape == out.shape and torch.allclose(value, out)), message, Mistake)
        kept = out == logits
        check(bool((kept | (out == float("-inf"))).all()), "every entry must be either the logit at that index, "
              "unchanged, or -inf (a dropped token)")
        top = logits.argmax(dim=-1, keepdim=True)
        check(bool(kept.gather(-1, top).all()), "the most likely token of a row was dropped: the nucleus always "
              "holds it", Mistake)


@case(points=3, hidden=False)
def test_values(top_p_filter):
    """random rows, p = 0.6 and 0.9: equals tfm.generate.filter_logits(logits, top_p=p)"""
    import torch
    from tfm.generate import filter_logits
    from tfm_exercises.checks import call, compare
    logits = torch.randn(4, 12) * 2
    for p in (0.6, 0.9):
        compare(call(top_p_filter, logits, p), filter_logits(logits, top_p=p), f"top_p_filter(logits, {p})",
                mistakes=nucleus_mistakes(logits, p))


@case(points=1, hidden=False)
def test_at_least_one_token(top_p_filter):
    """a tiny p keeps exactly the most likely token; p = 1 keeps every token"""
    import torch
    from tfm.generate import filter_logits
    from tfm_exercises.checks import call, compare
    logits = torch.randn(3, 8)
    compare(call(top_p_filter, logits, 0.01), filter_logits(logits, top_p=0.01), "top_p_filter(logits, 0.01)",
            mistakes=[("with a tiny p every token was dropped: the nucleus always holds at least the most likely token "
                       "(the mass before it is 0, which is below any p)", torch.full_like(logits, float("-inf")))]
            + nucleus_mistakes(logits, 0.01))
    compare(call(top_p_filter, logits, 1.0), logits, "top_p_filter(logits, 1.0)",
            mistakes=nucleus_mistakes(logits, 1.0))


@case(points=2, hidden=True)
def test_drawn_sizes(top_p_filter):
    """batch, vocabulary, p and a peaked distribution drawn at grading time"""
    import torch
    from tfm.generate import filter_logits
    from tfm_exercises.checks import call, compare, rng
    B, V = rng().randint(1, 5), rng().randint(2, 60)
    logits = torch.randn(B, V) * rng().choice([0.5, 1.0, 3.0, 6.0])
    for p in (round(rng().uniform(0.05, 0.95), 3), 0.999):
        compare(call(top_p_filter, logits, p), filter_logits(logits, top_p=p), f"top_p_filter(<{B} x {V} logits>, {p})",
                mistakes=nucleus_mistakes(logits, p))

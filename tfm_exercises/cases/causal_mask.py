"""The tests of `causal_mask` (exercise 09_causal_mask): generated from exercises/source/09_causal_mask.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_bool_and_shape(causal_mask):
    """a (T, T) tensor of dtype torch.bool"""
    import torch
    from tfm_exercises.checks import Mistake, WrongShape, call, check, tensor
    m = tensor(call(causal_mask, 4), "causal_mask(4)")
    check(tuple(m.shape) == (4, 4), f"expected shape (4, 4), got {tuple(m.shape)}", WrongShape)
    check(m.dtype == torch.bool, f"the mask should be bool (True = may attend), got {m.dtype}. A float mask of 0 "
          "and -inf is another convention (added to the scores); here we use True/False.", Mistake)


@case(points=1, hidden=False)
def test_sees_itself(causal_mask):
    """every position may attend to itself (the diagonal is True)"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    INVERTED = ("the mask is inverted: True must mean 'may attend' (on and below the diagonal); you marked the "
                "future as True")
    m = tensor(call(causal_mask, 5), "causal_mask(5)")
    inverted = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    check(not (m.shape == inverted.shape and bool((m.bool() == inverted).all())), INVERTED, Mistake)
    check(bool(torch.diagonal(m).bool().all()), "off by one: the diagonal is False, so a position cannot see "
          "itself (and position 0 sees nothing at all). Keep the diagonal: torch.tril(..., diagonal=0).", Mistake)


@case(points=2, hidden=False)
def test_values(causal_mask):
    """equals tfm.causal_mask"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    T = 5
    want = tfm.causal_mask(T)[0, 0]
    ones = torch.ones(T, T, dtype=torch.bool)
    mistakes = [
        ("off by one: the diagonal is False, so a position cannot see itself. Use tril with diagonal=0.",
         torch.tril(ones, diagonal=-1)),
        ("off by one: position i also sees position i + 1, so the next token leaks into its own prediction. "
         "Use tril with diagonal=0.", torch.tril(ones, diagonal=1)),
        ("the mask is inverted: True must mean 'may attend' (on and below the diagonal); you marked the "
         "future as True", torch.triu(ones, diagonal=1)),
        ("the mask is the upper triangle: query i must see keys j <= i (the lower triangle, rows are "
         "queries), not j >= i", torch.triu(ones)),
    ]
    compare(call(causal_mask, T), want, "causal_mask(5)", mistakes=mistakes)


@case(points=1, hidden=True)
def test_inside_attention(causal_mask):
    """attention with your mask equals tfm's causal attention (is_causal=True), T drawn at grading time"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, call, check, close, compare, rng, tensor
    T = rng().randint(3, 12)
    mha = tfm.MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, T, 8)
    mask = tensor(call(causal_mask, T), f"causal_mask({T})")
    check(not close(mask, ~tfm.causal_mask(T)[0, 0]), "the mask is inverted: True must mean 'may attend' (on and "
          "below the diagonal); with your mask position 0 attends to nothing, so its softmax is 0/0 = NaN", Mistake)
    with torch.no_grad():
        compare(mha(x, x, x, mask=mask), mha(x, x, x, is_causal=True), "causal attention with your mask",
                nan_hint="a query whose row of the mask is all False has no key to attend to (its softmax is 0/0); "
                "is the mask inverted, or the diagonal missing?")


@case(points=1, hidden=True)
def test_other_sizes(causal_mask):
    """T = 1 and a T drawn at grading time"""
    import tfm
    from tfm_exercises.checks import call, compare, rng
    for T in (1, rng().randint(6, 20)):
        want = tfm.causal_mask(T)[0, 0]
        compare(call(causal_mask, T), want, f"causal_mask({T})",
                mistakes=[("the mask is inverted: True must mean 'may attend' (on and below the diagonal)", ~want)])

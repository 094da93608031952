"""The tests of `debug_padding_mask` (exercise 07b_debug_padding_mask): generated from exercises/source/07b_debug_padding_mask.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_attention_accepts_it(padding_mask):
    """returns a bool mask that broadcasts against the (B, H, T, T) scores (tfm.MultiHeadAttention accepts it)"""
    import torch
    from tfm.masks import check_mask
    from tfm_exercises.checks import WrongShape, WrongType, call, check, tensor
    lengths = torch.tensor([5, 3])
    mask = tensor(call(padding_mask, lengths, 5), "padding_mask(lengths, 5)")
    check(mask.dtype == torch.bool, f"the mask should be a bool tensor (True = may attend), got {mask.dtype}",
          WrongType)
    try:
        check_mask(mask, 2, 4, 5, 5)
    except ValueError:
        check(False, f"a mask of shape {tuple(mask.shape)} does not broadcast against attention scores of shape "
              "(B, H, T_q, T_k) = (2, 4, 5, 5): give it four dimensions, with 1 where it is the same for every "
              "head or every query", WrongShape)


@case(points=2, hidden=False)
def test_true_means_may_attend(padding_mask):
    """True = may attend: with no padding every entry is True, and every real token may attend to every real token (the polarity bug)"""
    import torch
    from tfm.masks import check_mask
    from tfm_exercises.checks import Mistake, WrongValues, call, check, tensor
    T = 6
    lengths = torch.tensor([6, 4, 2])
    full = tensor(call(padding_mask, torch.tensor([6, 6]), T), "padding_mask([6, 6], 6)")
    mask = tensor(call(padding_mask, lengths, T), "padding_mask([6, 4, 2], 6)")
    check_mask(full, 2, 1, T, T)                                 # a ValueError here: see the first test
    check_mask(mask, 3, 1, T, T)
    full, mask = full.expand(2, 1, T, T), mask.expand(3, 1, T, T)  # (B, 1, T_q, T_k)
    real = torch.arange(T)[None, :] < lengths[:, None]           # (B, T)
    pairs = real[:, None, :, None] & real[:, None, None, :]      # (B, 1, T, T): real query, real key
    inverted = ("the mask is inverted: tfm (like torch.nn.functional.scaled_dot_product_attention) reads True "
                "as 'may attend' and False as 'hidden'. True at the padding is the convention of "
                "nn.MultiheadAttention's key_padding_mask, the opposite one")
    if not bool(full.any()) or bool(mask[pairs].logical_not().all()):
        raise Mistake(inverted)
    check(bool(full.all()), "a batch without padding should give a mask that is True everywhere: every token may "
          "attend to every token")
    check(bool(mask[pairs].all()), "every real token should be allowed to attend to every real token of its "
          "sentence: some of those entries of your mask are False", WrongValues)


@case(points=2, hidden=False)
def test_hides_keys_not_queries(padding_mask):
    """the mask depends on the key only: the same for every query, with the padded keys set apart (the axis bug)"""
    import torch
    from tfm.masks import check_mask
    from tfm_exercises.checks import Mistake, WrongValues, call, check, tensor
    T = 6
    lengths = torch.tensor([6, 4, 2])
    mask = tensor(call(padding_mask, lengths, T), "padding_mask([6, 4, 2], 6)")
    check_mask(mask, 3, 1, T, T)                                 # a ValueError here: see the first test
    mask = mask.expand(3, 1, T, T)[:, 0]                         # (B, T_q, T_k)
    real = torch.arange(T)[None, :] < lengths[:, None]           # (B, T)
    same_rows = bool((mask == mask[:, :1, :]).all())             # every query sees the same keys
    if not same_rows:
        if bool((mask == mask[:, :, :1]).all()):                 # the same for every key: it is about the queries
            raise Mistake("the mask hides padded *queries* instead of padded *keys*: its entry for (query i, key "
                          "j) depends on i, so a real query still attends to the padding. Padding must be hidden "
                          "as a key, for every query: put the sentence's row on the last (key) dimension, "
                          "shape (B, 1, 1, T)")
        both = real[:, :, None] & real[:, None, :]
        if bool((mask == both).all()) or bool((mask == ~both).all()):
            raise Mistake("you also hid the padded queries: a padded query's row then has no key at all. Only the "
                          "keys need hiding (nothing reads a padded query's output, chapter 7): one row per "
                          "sentence, (B, 1, 1, T)")
        check(False, "the mask should be the same for every query (it depends on the key only)", WrongValues)
    row = mask[:, 0, :]                                          # (B, T_k)
    check(bool((row == real).all()) or bool((row == ~real).all()),
          "the mask should set apart exactly the padded keys (positions >= length) from the real ones; yours "
          f"gives {row.int().tolist()} for lengths {lengths.tolist()}", WrongValues)


@case(points=2, hidden=True)
def test_real_tokens_ignore_padding(padding_mask):
    """sizes and lengths drawn at grading time: in tfm.EncoderLayer, each sentence's real tokens get the outputs of the sentence alone, unpadded"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, rng, tensor
    H = rng().randint(1, 4)
    d, T = H * rng().randint(4, 8), rng().randint(4, 9)
    B = rng().randint(2, 4)
    lengths = torch.tensor([T] + [rng().randint(2, T - 1) for _ in range(B - 1)])   # one full, the others padded
    layer = tfm.EncoderLayer(d, H, 2 * d, dropout=0.0).eval()
    x = torch.randn(B, T, d)
    mask = tensor(call(padding_mask, lengths, T), f"padding_mask({lengths.tolist()}, {T})")
    real = torch.arange(T)[None, :] < lengths[:, None]           # (B, T)
    with torch.no_grad():
        got = layer(x, mask)[real]                               # (real tokens, d)
        alone = torch.cat([layer(x[b:b + 1, :n])[0] for b, n in enumerate(lengths.tolist())])
        tokens = torch.where(real, 7, 0)
        torch.testing.assert_close(layer(x, tfm.padding_mask(tokens, 0))[real], alone)   # tfm's own mask agrees
        pad = ~real
        mistakes = [
            ("both bugs are still there: True marks the padding and the mask hides queries, so a real query has "
             "no key left to attend to", lambda: layer(x, pad[:, None, :, None].expand(-1, 1, T, T))[real]),
            ("the mask hides padded queries instead of padded keys: a real query still attends to the padding",
             lambda: layer(x, real[:, None, :, None].expand(-1, 1, T, T))[real]),
            ("the mask is inverted (True must mean 'may attend'): a real token attends to the padding only",
             lambda: layer(x, pad[:, None, None, :])[real]),
            ("the mask is not applied: a real token attends to the padding", lambda: layer(x)[real]),
        ]
        compare(got, alone, f"the outputs at the real tokens (B={B}, T={T}, lengths {lengths.tolist()})",
                mistakes=mistakes)

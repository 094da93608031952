"""The tests of `debug_cross_attention` (exercise 10b_debug_cross_attention): generated from exercises/source/10b_debug_cross_attention.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


KEYS = ("the keys bug is still there: the keys are computed from y, the decoder's states, and the values from "
        "memory. The scores are then T x T, decoder positions scored against each other, and the code only runs "
        "when T == S. Keys and values both come from the encoder output (memory), so that each decoder "
        "position scores every source token")
VALUES = "the values come from y now: keys and values both come from the encoder output (memory)"


def blocked_copy(mha):
    """A copy of mha whose forward refuses to run: the answer must be built from its parts."""
    import copy
    message = ("fix the body of buggy_cross_attention: build the attention from mha.w_q, w_k, w_v and w_o (as it "
               "does) instead of calling mha(...)")
    twin = copy.deepcopy(mha)
    def refuse(*args, **kwargs):
        raise RuntimeError(message)
    twin.forward = refuse
    twin._tfm_blocked = message  # the grader's copy of the module refuses too
    return twin


def pair(out, what):
    """(output, weights) from what the function returned, or a failure saying what is wrong."""
    from tfm_exercises.checks import WrongType, check, tensor
    check(isinstance(out, tuple) and len(out) == 2, f"{what} should return a tuple (output, weights)", WrongType)
    return tensor(out[0], "the output"), tensor(out[1], "the weights")


@case(points=1, hidden=False)
def test_shapes(cross_attention):
    """returns (output (B, T, d_model), weights (B, H, T, S)) when T == S"""

    import torch
    import tfm
    from tfm_exercises.checks import WrongShape, call, check
    mha = blocked_copy(tfm.MultiHeadAttention(16, 4).eval())
    y, memory = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    with torch.no_grad():
        output, weights = pair(call(cross_attention, mha, y, memory), "cross_attention(mha, y, memory)")
    check(tuple(output.shape) == (2, 4, 16), f"the output should have shape (2, 4, 16), got {tuple(output.shape)}",
          WrongShape)
    check(tuple(weights.shape) == (2, 4, 4, 4), f"the weights should have shape (2, 4, 4, 4), got {tuple(weights.shape)}",
          WrongShape)


@case(points=2, hidden=False)
def test_keys_from_memory(cross_attention):
    """T = 3 decoder positions, S = 5 source tokens, no mask: equals tfm.MultiHeadAttention (the keys bug)"""

    import torch
    import tfm
    from tfm_exercises.checks import CodeRaised, Mistake, WrongShape, call, check, close, compare
    ref = tfm.MultiHeadAttention(16, 4).eval()
    mha = blocked_copy(ref)
    y, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)            # T = 3, S = 5
    with torch.no_grad():
        try:
            out = call(cross_attention, mha, y, memory, None)
        except CodeRaised:                                               # does it run, as a known bug, when T == S?
            y_same = torch.randn(2, 5, 16)
            try:
                got = call(cross_attention, mha, y_same, memory, None)
            except CodeRaised:
                got = None
            if isinstance(got, tuple) and len(got) == 2:
                check(not close(got[0], ref(y_same, y_same, memory)), KEYS, Mistake)
                check(not close(got[0], ref(y_same, memory, y_same)), VALUES, Mistake)
            raise
        output, weights = pair(out, "cross_attention(mha, y, memory, None)")
        want_out, want_w = ref(y, memory, memory, return_weights=True)
        check(tuple(weights.shape) == (2, 4, 3, 5), f"the weights should have one row per decoder position and one "
              f"column per source token, (B, H, T, S) = (2, 4, 3, 5); got {tuple(weights.shape)}", WrongShape)
        swapped = ("queries and keys/values are swapped: the queries come from the decoder (y), the keys and values "
                   "from the encoder output (memory)")
        compare(weights, want_w, "your weights (T = 3, S = 5, no mask)")
        compare(output, want_out, "your output (T = 3, S = 5, no mask)", mistakes=[(swapped, lambda: ref(memory, y, y))])


@case(points=2, hidden=False)
def test_source_padding(cross_attention):
    """a padded source (T == S): padded tokens get weight 0, rows sum to 1, the padding cannot move the output, equals tfm (the mask bug)"""

    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongShape, call, check, close, compare
    ref = tfm.MultiHeadAttention(16, 4).eval()
    mha = blocked_copy(ref)
    src = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]])              # sentence 1 ends in 2 pads
    mask = tfm.padding_mask(src, 0)                                     # (2, 1, 1, 5)
    y, memory = torch.randn(2, 5, 16), torch.randn(2, 5, 16)            # T == S: the keys bug cannot crash here
    with torch.no_grad():
        output, weights = pair(call(cross_attention, mha, y, memory, mask), "cross_attention(mha, y, memory, mask)")
        check(tuple(weights.shape) == (2, 4, 5, 5), f"the weights should have shape (2, 4, 5, 5), got "
              f"{tuple(weights.shape)}", WrongShape)
        w = torch.nan_to_num(weights, nan=1.0)
        empty = [t for t in range(5) if bool((w[1, :, t] == 0).all())]
        if not bool((w[1, :, :, 3:] == 0).all()):
            if empty:
                raise Mistake(f"the mask bug is still there: the padding mask hides queries, not keys. In sentence 1 "
                              f"the padded source tokens (columns 3, 4) still get weight, and the decoder positions "
                              f"{empty} (rows) get none. tfm.padding_mask's (B, 1, 1, S) already has the source axis "
                              "last, where the keys are in the (B, H, T, S) scores: used as it is, it hides those "
                              "columns for every query")
            raise Mistake("the padded source tokens (columns 3, 4 of sentence 1) get weight: pass the padding mask "
                          "(B, 1, 1, S) to the attention, so that it hides those keys for every query")
        sums = w.sum(dim=-1)
        check(torch.allclose(sums, torch.ones_like(sums), atol=1e-5), f"the rows of your weights sum to "
              f"{sums.min().item():.3f} ... {sums.max().item():.3f}: every decoder position should spread a weight of "
              "1 over the real source tokens", Mistake)
        edited = memory.clone()
        edited[1, 3:] = torch.randn(2, 16) * 3                          # only the padding of sentence 1 changes
        moved, _ = pair(call(cross_attention, mha, y, edited, mask), "cross_attention(mha, y, edited memory, mask)")
        check(close(moved, output), "the output changed when only the memory at the padded source positions "
              "changed: the padding must be hidden from every decoder position", Mistake)
        # Where the decoder states are the memory, the keys bug cannot show: this compares the mask alone.
        same_out, same_w = pair(call(cross_attention, mha, memory, memory, mask), "cross_attention(mha, memory, memory, mask)")
        want_out, want_w = ref(memory, memory, memory, mask, return_weights=True)
        compare(same_w, want_w, "your weights (padded source, y = memory)")
        compare(same_out, want_out, "your output (padded source, y = memory)")


@case(points=2, hidden=True)
def test_drawn_sizes(cross_attention):
    """sizes, T != S and the source padding drawn at grading time: equals tfm.MultiHeadAttention"""

    import torch
    import tfm
    from tfm_exercises.checks import CodeRaised, call, check, compare, rng
    d_model, H = rng().choice([8, 12, 16, 24]), rng().choice([2, 4])
    B, S = rng().randint(2, 3), rng().randint(4, 8)
    T = rng().choice([t for t in range(3, 9) if t != S])
    lengths = [S, rng().randint(1, S - 1)] + [rng().randint(1, S) for _ in range(B - 2)]   # one full, one padded
    src = torch.tensor([[7] * n + [0] * (S - n) for n in lengths])
    mask = tfm.padding_mask(src, 0)                                     # (B, 1, 1, S)
    ref = tfm.MultiHeadAttention(d_model, H).eval()
    mha = blocked_copy(ref)
    y, memory = torch.randn(B, T, d_model), torch.randn(B, S, d_model)
    what = f"T = {T} decoder positions, S = {S} source tokens, source lengths {lengths}"
    with torch.no_grad():
        try:
            out = call(cross_attention, mha, y, memory, mask)
        except CodeRaised as e:
            raise CodeRaised(f"{e} (with {what}: does a tensor still have T where S belongs, or the reverse?)") from None
        output, weights = pair(out, "cross_attention")
        want_out, want_w = ref(y, memory, memory, mask, return_weights=True)
        unmasked = ("the source padding is not hidden: pass the padding mask (B, 1, 1, S) so that the padded "
                    "source tokens get weight 0", lambda: ref(y, memory, memory, return_weights=True)[1])
        compare(weights, want_w, f"your weights ({what})", mistakes=[unmasked])
        compare(output, want_out, f"your output ({what})")

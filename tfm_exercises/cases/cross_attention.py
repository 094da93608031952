"""The tests of `cross_attention` (exercise 10_cross_attention): generated from exercises/source/10_cross_attention.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shape(cross_attention):
    """(B, T, d_model) decoder states and (B, S, d_model) memory give (B, T, d_model)"""
    import torch
    import tfm
    from tfm_exercises.checks import CodeRaised, Mistake, WrongShape, call, check, close, tensor
    mha = tfm.MultiHeadAttention(16, 4).eval()
    y, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    with torch.no_grad():
        try:
            out = tensor(call(cross_attention, mha, y, memory), "the output")
        except CodeRaised:  # T != S here: does it run, as one known mistake, when they are equal?
            y = torch.randn(2, 5, 16)
            try:
                same_length = call(cross_attention, mha, y, memory)
            except CodeRaised:
                same_length = None
            check(not close(same_length, mha(y, y, memory)), "the keys come from y: keys and values both come from "
                  "the encoder output (memory); with keys from the decoder's T positions and values from the "
                  "source's S positions the shapes only fit when T == S", Mistake)
            raise
    check(tuple(out.shape) == (2, 3, 16), f"expected shape (2, 3, 16) (one vector per decoder position), "
          f"got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_values(cross_attention):
    """equals tfm.MultiHeadAttention(y, memory, memory)"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    mha = tfm.MultiHeadAttention(16, 4).eval()
    y, memory = torch.randn(2, 4, 16), torch.randn(2, 4, 16)  # T == S, so a swap does not crash
    forward = mha.forward
    def no_shortcut(*args, **kwargs):
        raise RuntimeError("build the attention from mha.w_q, w_k, w_v, w_o instead of calling mha(...)")
    mha.forward = no_shortcut
    mha._tfm_blocked = "build the attention from mha.w_q, w_k, w_v, w_o instead of calling mha(...)"  # for the grader
    with torch.no_grad():
        got = call(cross_attention, mha, y, memory)
        mha.forward = forward
        mistakes = [
            ("this is self-attention of the decoder: keys and values must come from the encoder output "
             "(memory), only the queries from y", lambda: mha(y, y, y)),
            ("queries and keys/values are swapped: the queries come from the decoder (y), the keys and "
             "values from the encoder output (memory)", lambda: mha(memory, y, y)),
            ("the values come from y: keys and values both come from the encoder output (memory)",
             lambda: mha(y, memory, y)),
            ("the keys come from y: keys and values both come from the encoder output (memory), so that each "
             "decoder position scores every source position; you scored decoder positions against each other",
             lambda: mha(y, y, memory)),
        ]
        compare(got, mha(y, memory, memory), "your cross-attention", mistakes=mistakes)


@case(points=1, hidden=False)
def test_values_come_from_memory(cross_attention):
    """with every source token the same, every decoder position gets w_o(w_v(that token))"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    mha = tfm.MultiHeadAttention(16, 4).eval()
    # The attention weights of a row add up to 1, so if all values are the same vector, the output is that
    # vector, whatever the queries and keys: this test checks only where the values come from. T == S, so
    # an answer that takes its keys from y still runs here and earns this point for its values.
    token = torch.randn(2, 1, 16)
    y, memory = torch.randn(2, 4, 16), token.expand(2, 4, 16).contiguous()
    with torch.no_grad():
        want = mha.w_o(mha.w_v(token)).expand(2, 4, 16)
        compare(call(cross_attention, mha, y, memory), want, "your cross-attention with all source tokens equal",
                mistakes=[("the values come from y: the values (what each decoder position reads) come from the "
                           "encoder output (memory)", lambda: mha(y, memory, y)),
                          ("this is self-attention of the decoder: keys and values must come from the encoder "
                           "output (memory), only the queries from y", lambda: mha(y, y, y))])


@case(points=2, hidden=False)
def test_memory_mask(cross_attention):
    """with the source's padding mask it equals tfm.MultiHeadAttention"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    mha = tfm.MultiHeadAttention(16, 4).eval()
    src = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 0, 0, 0]])
    mask = tfm.padding_mask(src, 0)
    y, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    with torch.no_grad():
        compare(call(cross_attention, mha, y, memory, mask), mha(y, memory, memory, mask),
                "your cross-attention with a padding mask",
                mistakes=[("the memory mask is ignored: the decoder must not attend to padding in the source; "
                           "pass memory_mask to the attention", lambda: mha(y, memory, memory))])


@case(points=1, hidden=True)
def test_other_sizes(cross_attention):
    """one head, many heads, a longer source"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, rng
    H = rng().randint(1, 4)
    drawn = (H * rng().randint(2, 5), H, rng().randint(1, 6), rng().randint(2, 8))
    for d, H, T, S in ((8, 1, 2, 7), (12, 6, 5, 3), drawn):
        mha = tfm.MultiHeadAttention(d, H).eval()
        src = torch.ones(3, S, dtype=torch.long)
        src[1, S // 2:] = 0
        mask = tfm.padding_mask(src, 0)
        y, memory = torch.randn(3, T, d), torch.randn(3, S, d)
        with torch.no_grad():
            compare(call(cross_attention, mha, y, memory, mask), mha(y, memory, memory, mask),
                    f"cross-attention with d_model={d}, {H} heads, T={T}, S={S}")

"""The tests of `split_merge_heads` (exercise 04b_split_merge_heads): generated from exercises/source/04b_split_merge_heads.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_split_shape(split_heads):
    """split_heads: (2, 5, 12) with 3 heads -> (2, 3, 5, 4)"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    out = tensor(call(split_heads, torch.randn(2, 5, 12), 3), "split_heads(x, 3)")
    check(tuple(out.shape) == (2, 3, 5, 4), f"expected shape (2, 3, 5, 4), got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_split_values(split_heads):
    """split_heads equals tfm.MultiHeadAttention.split_heads"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    B, T, d, H = 2, 5, 12, 3
    x = torch.randn(B, T, d)
    want = tfm.MultiHeadAttention(d, H).split_heads(x)
    mistakes = [
        ("the shape is right but the heads are mixed up: reshaping straight to (B, n_heads, T, d_head) "
         "cuts the memory of x, which is token after token, so head 0 gets whole tokens 0, 1, ... instead "
         "of features 0 .. d_head - 1 of every token. View as (B, T, n_heads, d_head), then transpose(1, 2).",
         x.reshape(B, H, T, d // H)),
        ("each head must own a contiguous slice of features (head h: h*d_head ... (h+1)*d_head - 1); you "
         "dealt the features out in turn (feature j went to head j % n_heads). View as (B, T, n_heads, "
         "d_head), not (B, T, d_head, n_heads).", x.view(B, T, d // H, H).permute(0, 3, 1, 2)),
    ]
    compare(call(split_heads, x, H), want, "split_heads(x, 3)", mistakes=mistakes)


@case(points=2, hidden=False)
def test_merge_values(merge_heads):
    """merge_heads equals tfm.MultiHeadAttention.merge_heads"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    B, H, T, dh = 2, 3, 5, 4
    y = torch.randn(B, H, T, dh)
    want = tfm.MultiHeadAttention.merge_heads(y)
    mistakes = [
        ("the shape is right but the heads are mixed up: reshaping (B, n_heads, T, d_head) straight to "
         "(B, T, d_model) glues tokens of head 0 together. Transpose back to (B, T, n_heads, d_head) first.",
         y.reshape(B, T, H * dh)),
        ("the heads of each token must sit side by side, head 0 first (features 0 .. d_head - 1); you "
         "interleaved them feature by feature.", y.permute(0, 2, 3, 1).reshape(B, T, H * dh)),
    ]
    compare(call(merge_heads, y), want, "merge_heads(y)", mistakes=mistakes)


@case(points=1, hidden=False)
def test_round_trip(split_heads, merge_heads):
    """merge_heads(split_heads(x, n_heads)) gives x back"""
    import torch
    from tfm_exercises.checks import call, compare
    x = torch.randn(2, 6, 8)
    compare(call(merge_heads, call(split_heads, x, 4)), x, "merge_heads(split_heads(x, 4))")


@case(points=1, hidden=True)
def test_inside_multi_head_attention(split_heads, merge_heads):
    """with your reshapes, tfm's projections and attention give tfm.MultiHeadAttention's output"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, rng
    H = rng().randint(1, 5)
    drawn = (rng().randint(1, 3), rng().randint(1, 7), H * rng().randint(1, 5), H)
    for B, T, d, H in ((2, 4, 16, 4), (1, 3, 6, 1), (2, 2, 6, 6), drawn):
        mha = tfm.MultiHeadAttention(d, H).eval()
        x = torch.randn(B, T, d)
        with torch.no_grad():
            q, k, v = (call(split_heads, w(x), H) for w in (mha.w_q, mha.w_k, mha.w_v))
            heads, _ = tfm.scaled_dot_product_attention(q, k, v)
            out = mha.w_o(call(merge_heads, heads))
            compare(out, mha(x, x, x), f"multi-head attention with your reshapes (d_model={d}, {H} heads)")

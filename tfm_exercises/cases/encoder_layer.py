"""The tests of `encoder_layer` (exercise 07_encoder_layer): generated from exercises/source/07_encoder_layer.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_parts(EncoderLayer):
    """self_attn, ff, norm1, norm2, and as many parameters as tfm.EncoderLayer"""
    import tfm
    from tfm_exercises.checks import NotDefined, call, check
    layer = call(EncoderLayer, 16, 4, 32, name="EncoderLayer")
    for name in ("self_attn", "ff", "norm1", "norm2"):
        check(getattr(layer, name, None) is not None, f"EncoderLayer has no attribute `{name}`", NotDefined)
    n, want = sum(p.numel() for p in layer.parameters()), sum(p.numel() for p in tfm.EncoderLayer(16, 4, 32).parameters())
    check(n == want, f"EncoderLayer(16, 4, 32) has {n} parameters, tfm.EncoderLayer has {want}")


@case(points=1, hidden=False)
def test_shape(EncoderLayer):
    """(B, S, d_model) in, (B, S, d_model) out"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    layer = call(EncoderLayer, 16, 4, 32, name="EncoderLayer").eval()
    out = tensor(call(layer, torch.randn(2, 5, 16), name="EncoderLayer.forward"), "the output")
    check(tuple(out.shape) == (2, 5, 16), f"expected shape (2, 5, 16), got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_values(EncoderLayer):
    """equals tfm.EncoderLayer (post-LN) with the same weights"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, copy_weights
    reference = tfm.EncoderLayer(16, 4, 32, dropout=0.0).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.1 * torch.randn_like(p))  # random LayerNorm scales and shifts too
    layer = call(EncoderLayer, 16, 4, 32, name="EncoderLayer").eval()
    copy_weights(layer, reference, {"norm1.": "res_attn.norm.", "norm2.": "res_ff.norm."})
    x = torch.randn(2, 5, 16)
    attn, ff = lambda h: reference.self_attn(h, h, h), reference.ff
    n1, n2 = reference.res_attn.norm, reference.res_ff.norm
    def pre_ln():
        h = x + attn(n1(x))
        return h + ff(n2(h))
    def no_residual():
        return n2(ff(n1(attn(x))))
    def swapped():
        h = n2(x + attn(x))
        return n1(h + ff(h))
    with torch.no_grad():
        mistakes = [
            ("you wrote pre-LN (x + sublayer(norm(x))); the paper's layer is post-LN: norm(x + sublayer(x))",
             pre_ln),
            ("the residual connections are missing: add each sub-layer's input to its output before the "
             "norm, norm(x + sublayer(x))", no_residual),
            ("norm1 and norm2 are swapped: norm1 follows the attention, norm2 the feed-forward block", swapped),
        ]
        compare(call(layer, x, name="EncoderLayer.forward"), reference(x), "your layer's output", mistakes=mistakes)


@case(points=2, hidden=False)
def test_padding_mask(EncoderLayer):
    """with a padding mask it equals tfm.EncoderLayer: no token attends to padding"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, copy_weights
    reference = tfm.EncoderLayer(16, 4, 32, dropout=0.0).eval()
    layer = call(EncoderLayer, 16, 4, 32, name="EncoderLayer").eval()
    copy_weights(layer, reference, {"norm1.": "res_attn.norm.", "norm2.": "res_ff.norm."})
    src = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 0, 0, 0]])
    mask = tfm.padding_mask(src, 0)  # (2, 1, 1, 5)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        compare(call(layer, x, mask, name="EncoderLayer.forward"), reference(x, mask), "your output with a padding mask",
                mistakes=[("the mask is ignored: pass it to the self-attention, self.self_attn(x, x, x, mask)",
                           lambda: reference(x))])


@case(points=1, hidden=True)
def test_other_sizes(EncoderLayer):
    """another width, head count and batch, with a mask"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, copy_weights, rng
    H = rng().randint(1, 4)
    d, d_ff = H * rng().randint(4, 8), rng().randint(8, 40)  # d >= 4: at d = 2 layer norm leaves only a sign
    reference = tfm.EncoderLayer(d, H, d_ff, dropout=0.0).eval()
    layer = call(EncoderLayer, d, H, d_ff, name="EncoderLayer").eval()
    copy_weights(layer, reference, {"norm1.": "res_attn.norm.", "norm2.": "res_ff.norm."})
    src = torch.tensor([[4, 4, 4, 0], [4, 4, 0, 0], [4, 4, 4, 4]])
    x = torch.randn(3, 4, d)
    with torch.no_grad():
        compare(call(layer, x, tfm.padding_mask(src, 0), name="EncoderLayer.forward"),
                reference(x, tfm.padding_mask(src, 0)), f"EncoderLayer({d}, {H}, {d_ff})")

"""The tests of `decoder_layer` (exercise 11_decoder_layer): generated from exercises/source/11_decoder_layer.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_parts(DecoderLayer):
    """self_attn, cross_attn, ff, norm1-3, and as many parameters as tfm.DecoderLayer"""
    import tfm
    from tfm_exercises.checks import NotDefined, call, check
    layer = call(DecoderLayer, 16, 4, 32, name="DecoderLayer")
    for name in ("self_attn", "cross_attn", "ff", "norm1", "norm2", "norm3"):
        check(getattr(layer, name, None) is not None, f"DecoderLayer has no attribute `{name}`", NotDefined)
    n, want = sum(p.numel() for p in layer.parameters()), sum(p.numel() for p in tfm.DecoderLayer(16, 4, 32).parameters())
    check(n == want, f"DecoderLayer(16, 4, 32) has {n} parameters, tfm.DecoderLayer has {want}")


@case(points=1, hidden=False)
def test_shape(DecoderLayer):
    """(B, T, d_model) target and (B, S, d_model) memory give (B, T, d_model)"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    layer = call(DecoderLayer, 16, 4, 32, name="DecoderLayer").eval()
    with torch.no_grad():
        out = tensor(call(layer, torch.randn(2, 3, 16), torch.randn(2, 6, 16), name="DecoderLayer.forward"), "the output")
    check(tuple(out.shape) == (2, 3, 16), f"expected shape (2, 3, 16), got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_no_peeking(DecoderLayer):
    """changing the last target token does not change the outputs at earlier positions"""
    import torch
    from tfm_exercises.checks import Mistake, call, check
    layer = call(DecoderLayer, 16, 4, 32, name="DecoderLayer").eval()
    y, memory = torch.randn(1, 5, 16), torch.randn(1, 4, 16)
    y2 = y.clone()
    y2[0, -1] = torch.randn(16)
    with torch.no_grad():
        a = call(layer, y, memory, name="DecoderLayer.forward")
        b = call(layer, y2, memory, name="DecoderLayer.forward")
    moved = (a[0, :-1] - b[0, :-1]).abs().max().item()
    check(moved < 1e-5, f"changing the last target token changed earlier outputs (by up to {moved:.3g}): "
          "the self-attention sees the future. Give it the causal mask, self.self_attn(y, y, y, "
          "tfm.causal_mask(T)).", Mistake)


@case(points=2, hidden=False)
def test_values(DecoderLayer):
    """equals tfm.DecoderLayer with the same weights"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, copy_weights
    names = {"norm1.": "res_self.norm.", "norm2.": "res_cross.norm.", "norm3.": "res_ff.norm."}
    reference = tfm.DecoderLayer(16, 4, 32, dropout=0.0).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.1 * torch.randn_like(p))
    layer = call(DecoderLayer, 16, 4, 32, name="DecoderLayer").eval()
    copy_weights(layer, reference, names)
    y, memory = torch.randn(2, 5, 16), torch.randn(2, 5, 16)  # T == S, so a swap does not crash
    r = reference
    n1, n2, n3 = r.res_self.norm, r.res_cross.norm, r.res_ff.norm
    causal = tfm.causal_mask(5)
    def layer_with(self_mask, cross_kv, pre_ln=False):
        h = y
        if pre_ln:
            h = h + r.self_attn(n1(h), n1(h), n1(h), self_mask)
            kv = memory if cross_kv == "memory" else n2(h)
            h = h + r.cross_attn(n2(h), kv, kv)
            return h + r.ff(n3(h))
        h = n1(h + r.self_attn(h, h, h, self_mask))
        kv = memory if cross_kv == "memory" else h
        h = n2(h + r.cross_attn(h, kv, kv))
        return n3(h + r.ff(h))
    with torch.no_grad():
        mistakes = [
            ("the self-attention has no causal mask: position t may not see later target tokens",
             lambda: layer_with(None, "memory")),
            ("the cross-attention reads the decoder instead of the encoder: its keys and values are the "
             "memory, cross_attn(y, memory, memory, memory_mask)", lambda: layer_with(causal, "y")),
            ("you wrote pre-LN (y + sublayer(norm(y))); this layer is post-LN: norm(y + sublayer(y))",
             lambda: layer_with(causal, "memory", pre_ln=True)),
        ]
        compare(call(layer, y, memory, name="DecoderLayer.forward"), reference(y, memory, is_causal=True),
                "your layer's output", mistakes=mistakes)


@case(points=1, hidden=True)
def test_memory_mask(DecoderLayer):
    """with the source's padding mask it equals tfm.DecoderLayer"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, copy_weights, rng
    names = {"norm1.": "res_self.norm.", "norm2.": "res_cross.norm.", "norm3.": "res_ff.norm."}
    H = rng().randint(1, 4)
    d, d_ff = H * rng().randint(4, 8), rng().randint(8, 40)  # d >= 4: at d = 2 layer norm leaves only a sign
    reference = tfm.DecoderLayer(d, H, d_ff, dropout=0.0).eval()
    layer = call(DecoderLayer, d, H, d_ff, name="DecoderLayer").eval()
    copy_weights(layer, reference, names)
    src = torch.tensor([[5, 6, 7, 0], [5, 6, 7, 8], [5, 0, 0, 0]])
    mask = tfm.padding_mask(src, 0)
    y, memory = torch.randn(3, rng().randint(2, 8), d), torch.randn(3, 4, d)  # T > 1: a causal mask matters
    with torch.no_grad():
        compare(call(layer, y, memory, mask, name="DecoderLayer.forward"),
                reference(y, memory, memory_mask=mask, is_causal=True), "your output with a memory mask",
                mistakes=[("the memory mask is ignored: pass it to the cross-attention",
                           lambda: reference(y, memory, is_causal=True))])

"""The tests of `layer_norm` (exercise 05_layer_norm): generated from exercises/source/05_layer_norm.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shape(layer_norm):
    """the output has the shape of the input"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    out = tensor(call(layer_norm, torch.randn(2, 3, 8), torch.ones(8), torch.zeros(8)), "layer_norm(x, ...)")
    check(tuple(out.shape) == (2, 3, 8), f"expected shape (2, 3, 8), got {tuple(out.shape)}", WrongShape)


@case(points=1, hidden=False)
def test_each_vector_normalised(layer_norm):
    """with weight 1 and bias 0, every vector has mean 0 and variance 1 over its features"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    x = torch.randn(4, 3, 8) * 3 + 2
    out = tensor(call(layer_norm, x, torch.ones(8), torch.zeros(8)), "layer_norm(x, 1, 0)")
    mean, var = out.mean(dim=-1), out.var(dim=-1, unbiased=False)
    ok = torch.allclose(mean, torch.zeros_like(mean), atol=1e-4) and torch.allclose(var, torch.ones_like(var), atol=1e-2)
    if not ok and torch.allclose(out.mean(dim=0), torch.zeros(3, 8), atol=1e-4):
        raise Mistake("you normalised over the wrong axis: each column over the batch (dim 0) has mean 0. "
                      "Layer norm normalises each token's vector over its own features: dim=-1.")
    if not ok and torch.allclose(out.mean(dim=1), torch.zeros(4, 8), atol=1e-4):
        raise Mistake("you normalised over the wrong axis: over the sequence (dim 1). Layer norm normalises "
                      "each token's vector over its own features: dim=-1.")
    if not ok and torch.allclose(out.mean(dim=(1, 2)), torch.zeros(4), atol=1e-4):
        raise Mistake("you normalised over the whole (T, C) block of each sequence; layer norm normalises "
                      "each token's vector on its own, over the last dimension only.")
    check(ok, f"the vectors should have mean 0 and variance 1 over the last dimension; got means up to "
          f"{mean.abs().max().item():.3g} and variances {var.min().item():.3g} ... {var.max().item():.3g}")


@case(points=3, hidden=False)
def test_values(layer_norm):
    """equals tfm.layer_norm and torch's F.layer_norm with a learned scale and shift"""
    import torch
    import torch.nn.functional as F
    import tfm
    from tfm_exercises.checks import call, compare
    x = torch.randn(2, 5, 8) * 2 + 1
    w, b = torch.randn(8), torch.randn(8)
    want = F.layer_norm(x, (8,), w, b, 1e-5)
    torch.testing.assert_close(tfm.layer_norm(x, w, b, 1e-5), want)
    def normed(dims, unbiased=False):
        mu = x.mean(dim=dims, keepdim=True)
        return (x - mu) / torch.sqrt(x.var(dim=dims, keepdim=True, unbiased=unbiased) + 1e-5) * w + b
    mistakes = [
        ("you normalised over the wrong axis (the batch, dim 0): layer norm uses each token's own features, dim=-1",
         lambda: normed(0)),
        ("you normalised over the wrong axis (the sequence, dim 1): layer norm uses each token's own features, dim=-1",
         lambda: normed(1)),
        ("you normalised over the whole (T, C) block of each sequence; use the last dimension only",
         lambda: normed((1, 2))),
        ("you used the unbiased variance (divide by C - 1); layer norm divides by C: var(..., unbiased=False)",
         lambda: normed(-1, unbiased=True)),
        ("the scale and shift are missing or swapped: multiply by weight (gamma), then add bias (beta)",
         lambda: (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)),
        ("the scale and shift are swapped: multiply by weight (gamma), then add bias (beta)",
         lambda: (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5) * b + w),
    ]
    compare(call(layer_norm, x, w, b, 1e-5), want, "layer_norm(x, weight, bias)", mistakes=mistakes)


@case(points=1, hidden=True)
def test_eps_and_more_dimensions(layer_norm):
    """4-d input (sizes drawn at grading time) and a large eps, which must go inside the square root"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import call, compare, rng
    d = rng().randint(3, 12)
    x = torch.randn(2, rng().randint(1, 4), rng().randint(2, 5), d)
    w, b = torch.randn(d), torch.randn(d)
    mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
    compare(call(layer_norm, x, w, b, 0.5), F.layer_norm(x, (d,), w, b, 0.5), "layer_norm with eps=0.5",
            mistakes=[("eps belongs inside the square root: sqrt(var + eps), not sqrt(var) + eps",
                       (x - mu) / (torch.sqrt(var) + 0.5) * w + b),
                      ("eps is ignored: divide by sqrt(var + eps)", (x - mu) / torch.sqrt(var) * w + b)])

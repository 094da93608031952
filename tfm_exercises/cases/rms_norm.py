"""The tests of `rms_norm` (exercise 15_rms_norm): generated from exercises/source/15_rms_norm.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shape(rms_norm):
    """the output has the shape of the input"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    out = tensor(call(rms_norm, torch.randn(2, 3, 8), torch.ones(8)), "rms_norm(x, weight)")
    check(tuple(out.shape) == (2, 3, 8), f"expected shape (2, 3, 8), got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_values(rms_norm):
    """equals torch.nn.functional.rms_norm"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import call, compare
    x, w = torch.randn(2, 5, 8) + 0.5, torch.randn(8)
    want = F.rms_norm(x, (8,), w, 1e-6)
    ms = x.pow(2).mean(-1, keepdim=True)
    mistakes = [
        ("you subtracted the mean: that is layer norm. RMSNorm only divides by the root mean square",
         lambda: (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-6) * w),
        ("you divided by the standard deviation; RMSNorm divides by the root mean square sqrt(mean(x^2))",
         lambda: x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-6) * w),
        ("the scale gamma (weight) is missing: multiply by weight at the end", lambda: x * torch.rsqrt(ms + 1e-6)),
        ("you normalised over the wrong axis: use each vector's own features, the last dimension",
         lambda: x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-6) * w),
        ("you divided by the mean square; divide by its square root", lambda: x / (ms + 1e-6) * w),
    ]
    compare(call(rms_norm, x, w, 1e-6), want, "rms_norm(x, weight)", mistakes=mistakes)


@case(points=1, hidden=True)
def test_eps_and_more_dimensions(rms_norm):
    """4-d input and a large eps, which goes inside the square root"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import call, compare, rng
    d = rng().randint(3, 12)
    x, w = torch.randn(2, rng().randint(1, 4), rng().randint(2, 5), d), torch.randn(d)
    ms = x.pow(2).mean(-1, keepdim=True)
    compare(call(rms_norm, x, w, 0.5), F.rms_norm(x, (d,), w, 0.5), "rms_norm with eps=0.5",
            mistakes=[("eps belongs inside the square root: sqrt(mean(x^2) + eps)", x / (torch.sqrt(ms) + 0.5) * w)])

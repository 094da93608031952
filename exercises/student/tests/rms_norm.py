from otter.test_files import test_case

OK_FORMAT = False

name = "rms_norm"
points = None

@test_case(points=1, hidden=False)
def test_shape(rms_norm):
    """the output has the shape of the input"""
    import torch
    from exercises.checks import WrongShape, call, check, tensor
    out = tensor(call(rms_norm, torch.randn(2, 3, 8), torch.ones(8)), 'rms_norm(x, weight)')
    check(tuple(out.shape) == (2, 3, 8), f'expected shape (2, 3, 8), got {tuple(out.shape)}', WrongShape)

@test_case(points=2, hidden=False)
def test_values(rms_norm):
    """equals torch.nn.functional.rms_norm"""
    import torch
    import torch.nn.functional as F
    from exercises.checks import call, compare
    x, w = (torch.randn(2, 5, 8) + 0.5, torch.randn(8))
    want = F.rms_norm(x, (8,), w, 1e-06)
    ms = x.pow(2).mean(-1, keepdim=True)
    mistakes = [('you subtracted the mean: that is layer norm. RMSNorm only divides by the root mean square', lambda: (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-06) * w), ('you divided by the standard deviation; RMSNorm divides by the root mean square sqrt(mean(x^2))', lambda: x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-06) * w), ('the scale gamma (weight) is missing: multiply by weight at the end', lambda: x * torch.rsqrt(ms + 1e-06)), ("you normalised over the wrong axis: use each vector's own features, the last dimension", lambda: x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-06) * w), ('you divided by the mean square; divide by its square root', lambda: x / (ms + 1e-06) * w)]
    compare(call(rms_norm, x, w, 1e-06), want, 'rms_norm(x, weight)', mistakes=mistakes)


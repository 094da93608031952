# expect: 3/8
# message: the placement bug is still there
def residual_norm(x, f, gamma, beta, eps=1e-5):
    """buggy_sublayer with the layer norm fixed (biased variance, eps inside), still x + LN(f(x))."""
    h = f(x)
    mean = h.mean(dim=-1, keepdim=True)
    var = h.var(dim=-1, keepdim=True, unbiased=False)
    return x + gamma * (h - mean) / torch.sqrt(var + eps) + beta

# expect: 7/8
# message: eps is still outside the square root
def residual_norm(x, f, gamma, beta, eps=1e-5):
    """Both bugs fixed but half of the second one: the biased std, with eps still added outside the root."""
    s = x + f(x)
    mean = s.mean(dim=-1, keepdim=True)
    std = s.std(dim=-1, keepdim=True, unbiased=False)
    return gamma * (s - mean) / (std + eps) + beta

# expect: 3/8
# message: the statistics bug is still there
def residual_norm(x, f, gamma, beta, eps=1e-5):
    """buggy_sublayer with the placement fixed: the sum is normalised, but with torch's default std."""
    s = x + f(x)                                              # add first, then normalise
    mean = s.mean(dim=-1, keepdim=True)
    std = s.std(dim=-1, keepdim=True)
    return gamma * (s - mean) / (std + eps) + beta

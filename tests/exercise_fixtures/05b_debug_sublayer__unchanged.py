# expect: 1/8
# message: both bugs are still there
def residual_norm(x, f, gamma, beta, eps=1e-5):
    """The colleague's function, copied without a change."""
    h = f(x)
    mean = h.mean(dim=-1, keepdim=True)
    std = h.std(dim=-1, keepdim=True)
    return x + gamma * (h - mean) / (std + eps) + beta

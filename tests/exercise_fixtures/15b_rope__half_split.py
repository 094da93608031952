# expect: 2/7
# message: you paired channel i with channel i + d_head/2
def rope(x, base=10000.0):
    T, d_head = x.shape[-2:]
    theta = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
    cos, sin = angle.cos().float(), angle.sin().float()
    x1, x2 = x[..., : d_head // 2], x[..., d_head // 2 :]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)

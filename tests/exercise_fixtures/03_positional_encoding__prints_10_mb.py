# expect: 6/6
print("x" * 10_000_000)


def sinusoidal_encoding(max_len, d_model):
    print("y" * 10_000_000)
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    angles = pos / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe

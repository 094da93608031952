# expect: 3/7
# message: the mask hides padded *queries* instead of padded *keys*
def padding_mask(lengths, T):
    """True = may attend fixed, but the sentence's row still lies along the queries."""
    position = torch.arange(T)
    real = position[None, :] < lengths[:, None]
    return real[:, None, :, None].expand(-1, 1, T, T)

# expect: 3/7
# message: the mask is inverted
def padding_mask(lengths, T):
    """The axis fixed (one row per sentence, over the keys), but still True at the padding."""
    position = torch.arange(T)
    is_pad = position[None, :] >= lengths[:, None]
    return is_pad[:, None, None, :]

# expect: 1/7
# message: both bugs are still there
# message: the mask is inverted
def padding_mask(lengths, T):
    """The colleague's function, copied without a change."""
    position = torch.arange(T)
    is_pad = position[None, :] >= lengths[:, None]
    return is_pad[:, None, :, None].expand(-1, 1, T, T)

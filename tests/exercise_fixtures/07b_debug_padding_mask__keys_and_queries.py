# expect: 5/7
# message: you also hid the padded queries
def padding_mask(lengths, T):
    """Both bugs fixed for the keys, and the padded queries hidden as well, to be safe."""
    real = torch.arange(T)[None, :] < lengths[:, None]          # (B, T)
    return real[:, None, :, None] & real[:, None, None, :]      # (B, 1, T, T)

# expect: 2/7
# message: you paired dimension i with dimension i + d_model/2
def shift_matrix(k, d_model):
    half = d_model // 2
    omega = 1 / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    c, s = torch.diag(torch.cos(omega * k)), torch.diag(torch.sin(omega * k))
    m = torch.zeros(d_model, d_model)
    m[:half, :half], m[:half, half:] = c, s                 # sines in the first half
    m[half:, :half], m[half:, half:] = -s, c                # cosines in the second
    return m

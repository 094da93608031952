# expect: 3/7
# message: wrong frequency per pair: you used 10000^(-i/d_model) with the pair index i
def shift_matrix(k, d_model):
    omega = 1 / 10000 ** (torch.arange(d_model // 2) / d_model)   # i = 0, 1, 2, ...
    c, s = torch.cos(omega * k), torch.sin(omega * k)
    m = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        m[2 * i, 2 * i], m[2 * i, 2 * i + 1] = c[i], s[i]
        m[2 * i + 1, 2 * i], m[2 * i + 1, 2 * i + 1] = -s[i], c[i]
    return m

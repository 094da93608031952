# expect: 2/7
# message: the rotation turns the wrong way
def shift_matrix(k, d_model):
    omega = 1 / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    blocks = []
    for w in omega:
        c, s = math.cos(w * k), math.sin(w * k)
        blocks.append(torch.tensor([[c, -s], [s, c]]))   # the rotation by +angle, as in a textbook
    return torch.block_diag(*blocks)

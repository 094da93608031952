# expect: 0/6
# message: `sinusoidal_encoding` is not defined
# note: the cell ran too long and was stopped by the grader
while True:
    pass


def sinusoidal_encoding(max_len, d_model):
    return torch.zeros(max_len, d_model)

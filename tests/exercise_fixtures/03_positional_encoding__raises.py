# expect: 0/6
# message: raised ZeroDivisionError: division by zero
def sinusoidal_encoding(max_len, d_model):
    scale = 1 / 0
    return torch.zeros(max_len, d_model) * scale

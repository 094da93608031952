# expect: 1/6
# message: off by one: the diagonal is False
def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)

# expect: 2/6
# message: off by one: position i also sees position i + 1
def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=1)

# expect: 3/8
# message: the positions whose token never occurred before are in your mean (as 0)
def induction_targets(tokens):
    last_seen = {}
    targets = []
    for t, token in enumerate(tokens.tolist()):
        targets.append(last_seen[token] + 1 if token in last_seen else -1)
        last_seen[token] = t
    return torch.tensor(targets)


def induction_score(weights, tokens):
    targets = induction_targets(tokens)
    T = weights.shape[-1]
    total = torch.zeros(weights.shape[:-2])
    for t in range(T):
        if targets[t] >= 0:
            total = total + weights[..., t, targets[t]]
    return total / T

# expect: 3/8
# message: you took the first occurrence of the token
def induction_targets(tokens):
    first_seen = {}
    targets = []
    for t, token in enumerate(tokens.tolist()):
        if token in first_seen:
            targets.append(first_seen[token] + 1)
        else:
            targets.append(-1)
            first_seen[token] = t
    return torch.tensor(targets)


def induction_score(weights, tokens):
    targets = induction_targets(tokens)
    queries = (targets >= 0).nonzero().squeeze(-1)
    return weights[..., queries, targets[queries]].mean(-1)

# expect: 1/8
# message: off by one: your target is the earlier occurrence itself
# message: off by one: you measured the attention to the earlier occurrence itself
def induction_targets(tokens):
    last_seen = {}
    targets = []
    for t, token in enumerate(tokens.tolist()):
        targets.append(last_seen.get(token, -1))   # where the token was last time
        last_seen[token] = t
    return torch.tensor(targets)


def induction_score(weights, tokens):
    targets = induction_targets(tokens)
    queries = (targets >= 0).nonzero().squeeze(-1)
    return weights[..., queries, targets[queries]].mean(-1)

"""The tests of `induction_detector` (exercise 14b_induction_detector): generated from exercises/source/14b_induction_detector.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def wrong_targets(tokens):
    """The targets of the usual mistakes: the occurrence itself, and the first occurrence instead of the last."""
    import torch
    first, last, itself, from_first = {}, {}, [], []
    for t, token in enumerate(tokens.tolist()):
        itself.append(last.get(token, -1))
        from_first.append(first[token] + 1 if token in first else -1)
        first.setdefault(token, t)
        last[token] = t
    return [
        ("off by one: your target is the earlier occurrence itself; an induction head attends to the position "
         "right AFTER it (s + 1), the token that came next last time", torch.tensor(itself)),
        ("you took the first occurrence of the token; the target follows its most recent earlier occurrence "
         "(the largest s < t), as tfm.interpret's t - r + 1", torch.tensor(from_first)),
    ]


def wrong_scores(weights, tokens):
    """What the usual mistakes give, each as (message, score of shape weights.shape[:-2])."""
    import torch
    ids = tokens.tolist()
    T = len(ids)
    rows, last, itself, first, every = [], [], [], [], []
    for t in range(T):
        earlier = [s for s in range(t) if ids[s] == ids[t]]
        if earlier:
            rows.append(t)
            last.append(earlier[-1] + 1)
            itself.append(earlier[-1])
            first.append(earlier[0] + 1)
            every.append([s + 1 for s in earlier])
    rows_t = torch.tensor(rows)
    pick = lambda cols: weights[..., rows_t, torch.tensor(cols)]            # (..., n)
    all_occurrences = torch.stack([weights[..., t, cols].sum(-1) for t, cols in zip(rows, every)], -1)
    return [
        ("off by one: you measured the attention to the earlier occurrence itself; an induction head attends to "
         "the position right AFTER it (s + 1)", pick(itself).mean(-1)),
        ("the positions whose token never occurred before are in your mean (as 0): average only over the "
         f"positions that have a target ({len(rows)} of {T} here)", pick(last).sum(-1) / T),
        ("you took the first occurrence of the token; the target follows its most recent earlier occurrence "
         "(the largest s < t), as tfm.interpret's t - r + 1", pick(first).mean(-1)),
        ("you added the attention to the positions after every earlier occurrence; the target is only the one "
         "after the most recent occurrence", all_occurrences.mean(-1)),
    ]


@case(points=2, hidden=False)
def test_targets_of_a_repeat(induction_targets):
    """three repeats of 4 distinct tokens and 2 more: the targets are t - r + 1 (tfm.interpret's positions)"""
    import torch
    from tfm_exercises.checks import call, compare, tensor
    r, T = 4, 14
    tokens = torch.randperm(20)[:r].repeat(4)[:T]                      # a b c d a b c d a b c d a b
    want = torch.tensor([-1] * r + [t - r + 1 for t in range(r, T)])    # the position after t's previous occurrence
    got = tensor(call(induction_targets, tokens), f"induction_targets({tokens.tolist()})")
    compare(got, want, f"induction_targets({tokens.tolist()})", mistakes=wrong_targets(tokens))


@case(points=1, hidden=True)
def test_targets_of_random_tokens(induction_targets):
    """random tokens from a small vocabulary (irregular repeats): equals a brute-force search"""
    import torch
    from tfm_exercises.checks import call, compare, rng, tensor
    V = rng().randint(3, 5)
    T = rng().randint(2 * V + 1, 4 * V)            # > 2 V: some token occurs at least three times
    tokens = torch.randint(V, (T,))
    ids = tokens.tolist()
    want = torch.tensor([max((s + 1 for s in range(t) if ids[s] == ids[t]), default=-1) for t in range(T)])
    got = tensor(call(induction_targets, tokens), f"induction_targets({ids})")
    compare(got, want, f"induction_targets({ids})", mistakes=wrong_targets(tokens))


@case(points=2, hidden=False)
def test_constructed_heads(induction_score):
    """a perfect induction head scores 1, a previous-token head and a first-token head 0 (as tfm.interpret)"""
    import torch
    from tfm.interpret import induction_score as reference
    from tfm_exercises.checks import call, compare
    r = 5
    tokens = torch.randperm(50)[:r].repeat(2)                            # r distinct tokens, twice: T = 10
    T = 2 * r
    induction, previous, first = torch.zeros(3, T, T)
    for t in range(T):
        induction[t, t - r + 1 if t >= r else t] = 1.0                   # before the repeat: itself
        previous[t, max(t - 1, 0)] = 1.0
        first[t, 0] = 1.0
    weights = torch.stack([induction, previous, first])                  # (3 heads, T, T)
    want = reference(weights, r)
    assert torch.equal(want, torch.tensor([1.0, 0.0, 0.0]))
    compare(call(induction_score, weights, tokens), want,
            "induction_score of (a perfect induction head, a previous-token head, a first-token head)",
            mistakes=wrong_scores(weights, tokens))


@case(points=1, hidden=False)
def test_uniform_head(induction_score):
    """a head that spreads evenly over the causal past: the mean of 1 / (t + 1) over the positions with a target"""
    import torch
    from tfm.interpret import induction_score as reference
    from tfm_exercises.checks import call, compare
    r, T = 4, 12
    tokens = torch.randperm(30)[:r].repeat(3)                            # three repeats
    weights = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]   # row t: 1 / (t + 1) on keys 0..t
    want = reference(weights, r)
    assert abs(want.item() - sum(1 / (t + 1) for t in range(r, T)) / (T - r)) < 1e-6
    compare(call(induction_score, weights, tokens), want, "induction_score of a uniform causal head",
            mistakes=wrong_scores(weights, tokens))


@case(points=2, hidden=True)
def test_random_heads_drawn_sizes(induction_score):
    """random causal heads, a period, a number of repeats and head layout drawn at grading time: equals tfm.interpret"""
    import torch
    from tfm.interpret import induction_score as reference
    from tfm_exercises.checks import call, compare, rng
    r, repeats = rng().randint(3, 8), rng().randint(3, 4)
    T = r * repeats + rng().randint(0, r - 1)                            # the last repeat may be cut short
    lead = rng().choice([(), (3,), (2, 4)])                               # one head, H heads, (layers, heads)
    tokens = torch.randperm(100)[:r].repeat(repeats + 1)[:T]
    scores = torch.randn(*lead, T, T) * 2
    weights = scores.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf")).softmax(-1)
    compare(call(induction_score, weights, tokens), reference(weights, r),
            f"induction_score of weights {tuple(weights.shape)} (period {r}, T = {T})",
            mistakes=wrong_scores(weights, tokens))

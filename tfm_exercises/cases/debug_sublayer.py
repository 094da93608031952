"""The tests of `debug_sublayer` (exercise 05b_debug_sublayer): generated from exercises/source/05b_debug_sublayer.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shape(residual_norm):
    """returns one vector per token: (B, T, C)"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    x = torch.randn(2, 5, 8)
    out = tensor(call(residual_norm, x, torch.tanh, torch.ones(8), torch.zeros(8)), "residual_norm(x, f, ...)")
    check(tuple(out.shape) == (2, 5, 8), f"expected shape (2, 5, 8), got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_add_then_norm(residual_norm):
    """the norm is applied to the sum x + f(x): each output vector points like LayerNorm(x + f(x)) (the placement bug)"""
    import torch
    import torch.nn.functional as F
    import tfm
    from tfm_exercises.checks import Mistake, WrongShape, WrongValues, call, check, tensor
    C = 8
    x = torch.randn(3, 5, C) * 2 + 0.5
    ffn = tfm.PositionwiseFeedForward(C, 4 * C).eval()
    with torch.no_grad():
        for p in ffn.parameters():
            p.mul_(3.0)                                     # a sub-layer whose output is as large as x

    def f(h):
        with torch.no_grad():
            return ffn(h)

    gamma, beta = 0.5 + torch.rand(C), torch.zeros(C)       # positive scales, no shift: only the direction counts
    out = tensor(call(residual_norm, x, f, gamma, beta), "residual_norm(x, f, gamma, 0)")
    check(tuple(out.shape) == (3, 5, C), f"expected shape (3, 5, {C}), got {tuple(out.shape)}", WrongShape)
    want = F.layer_norm(x + f(x), (C,), gamma, beta)

    def parallel(a, b):
        """Each vector of a is a positive multiple of the same vector of b (the norm's statistics aside)."""
        return bool((F.cosine_similarity(a, b, dim=-1) > 1 - 1e-5).all())

    if parallel(out, want):
        return
    h = f(x)
    mistakes = [
        ("the placement bug is still there: the norm is applied to the sub-layer's output f(x) and x is added "
         "after it, x + LayerNorm(f(x)). Post-LN adds first and normalises the sum: LayerNorm(x + f(x)), so "
         "the output has a standard size whatever the size of x", x + F.layer_norm(h, (C,), gamma, beta)),
        ("the placement bug is still there (and the statistics bug too): the norm is applied to f(x) and x is "
         "added after it. Post-LN adds first and normalises the sum: LayerNorm(x + f(x))",
         x + gamma * (h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + 1e-5) + beta),
        ("you wrote pre-LN, x + f(LayerNorm(x)): the paper's add & norm (and this task) is post-LN, "
         "LayerNorm(x + f(x))", x + f(F.layer_norm(x, (C,), gamma, beta))),
        ("the residual is missing: you normalised f(x) alone. Add the input first: LayerNorm(x + f(x))",
         F.layer_norm(h, (C,), gamma, beta)),
        ("the sub-layer is missing: you normalised x alone. Add f(x) first: LayerNorm(x + f(x))",
         F.layer_norm(x, (C,), gamma, beta)),
    ]
    for message, value in mistakes:
        if parallel(out, value) and not parallel(value, want):
            raise Mistake(message)
    check(False, "with gamma > 0 and beta = 0, each of your output vectors should point like LayerNorm(x + f(x)) "
          "(the same direction, whatever the norm's statistics); they do not", WrongValues)


@case(points=2, hidden=False)
def test_norm_statistics(residual_norm):
    """x = 0, where the placement does not matter: the output equals LayerNorm(f(0)) (the statistics bug)"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import call, compare
    C = 8
    x = torch.zeros(2, 4, C)                                # x = 0: x + LN(f(x)) and LN(x + f(x)) agree
    shift = torch.randn(2, 4, C) * 3 + 1

    def f(h):
        return h + shift                                    # f(0) = shift

    gamma, beta = torch.randn(C), torch.randn(C)
    want = F.layer_norm(shift, (C,), gamma, beta, 1e-5)
    mu = shift.mean(-1, keepdim=True)
    unbiased_std = shift.std(-1, keepdim=True)              # divides by C - 1
    mistakes = [
        ("the statistics bug is still there: `h.std()` divides by C - 1 (the unbiased estimate of a "
         "population's spread), and eps is added outside the square root. Layer norm uses the variance of the "
         "token's own C numbers, the mean of the squared deviations (divide by C), and divides by "
         "sqrt(var + eps)", gamma * (shift - mu) / (unbiased_std + 1e-5) + beta),
        ("the variance is still the unbiased one (divided by C - 1): layer norm divides the sum of squared "
         "deviations by C (std(unbiased=False), or the mean of (s - mu) ** 2)",
         gamma * (shift - mu) / torch.sqrt(unbiased_std ** 2 + 1e-5) + beta),
    ]
    compare(call(residual_norm, x, f, gamma, beta), want, "your output for x = 0 (LayerNorm(f(0)))",
            mistakes=mistakes)


@case(points=1, hidden=True)
def test_large_eps(residual_norm):
    """sizes and a large eps drawn at grading time, small token vectors: eps must go inside the square root"""
    import torch
    import torch.nn.functional as F
    import tfm
    from tfm_exercises.checks import call, compare, rng
    C, T = rng().randint(4, 12), rng().randint(3, 7)
    eps = rng().choice([0.5, 1.0, 2.0])
    x = torch.randn(2, T, C) * 0.3                          # a spread comparable with sqrt(eps)
    lin = torch.nn.Linear(C, C)
    with torch.no_grad():
        lin.weight.mul_(0.5)

    def f(h):
        with torch.no_grad():
            return lin(h)

    gamma, beta = torch.randn(C), torch.randn(C)
    ref = tfm.ResidualNorm(C, dropout=0.0, norm_first=False, eps=eps).eval()
    with torch.no_grad():
        ref.norm.weight.copy_(gamma)
        ref.norm.bias.copy_(beta)
        want = ref(x, f)
    s = x + f(x)
    mu, var_b, var_u = s.mean(-1, keepdim=True), s.var(-1, keepdim=True, unbiased=False), s.var(-1, keepdim=True)
    h = f(x)
    mistakes = [
        ("both bugs are still there: the norm is applied to f(x) before adding x, and it divides by the "
         "unbiased std plus eps", x + gamma * (h - h.mean(-1, keepdim=True)) / (h.std(-1, keepdim=True) + eps) + beta),
        ("eps is still outside the square root: the norm divides by sqrt(var + eps), not sqrt(var) + eps "
         "(with a large eps and small vectors the two differ a lot)",
         gamma * (s - mu) / (var_b.sqrt() + eps) + beta),
        ("eps is ignored: the norm divides by sqrt(var + eps)", gamma * (s - mu) / var_b.sqrt() + beta),
        ("the variance is still the unbiased one (divided by C - 1), and eps sits outside the square root",
         gamma * (s - mu) / (var_u.sqrt() + eps) + beta),
        ("the variance is still the unbiased one (divided by C - 1): divide by C",
         gamma * (s - mu) / torch.sqrt(var_u + eps) + beta),
        ("the placement bug is still there: normalise the sum x + f(x), not f(x) alone",
         lambda: x + F.layer_norm(f(x), (C,), gamma, beta, eps)),
    ]
    compare(call(residual_norm, x, f, gamma, beta, eps), want, f"your output with eps={eps} (C={C})",
            mistakes=mistakes)


@case(points=2, hidden=True)
def test_around_attention(residual_norm):
    """around a self-attention of sizes drawn at grading time: equals tfm.ResidualNorm (post-LN)"""
    import torch
    import torch.nn.functional as F
    import tfm
    from tfm_exercises.checks import call, compare, rng
    H = rng().randint(1, 3)
    C = H * rng().randint(-(-4 // H), 6)                    # C >= 4: at C = 2 layer norm leaves only a sign
    B, T = rng().randint(1, 3), rng().randint(3, 8)
    attn = tfm.MultiHeadAttention(C, H).eval()

    def f(h):
        with torch.no_grad():
            return attn(h, h, h)

    for _ in range(100):                                    # token sums of a normal spread (std > 0.5), where
        x = torch.randn(B, T, C) * 3                        # eps = 1e-5 changes nothing visible: this test is
        if (x + f(x)).std(-1, unbiased=False).min() > 0.5:  # about the two bugs, test_large_eps about eps
            break

    ref = tfm.ResidualNorm(C, dropout=0.0, norm_first=False).eval()
    with torch.no_grad():
        ref.norm.weight.normal_(1.0, 0.3)
        ref.norm.bias.normal_(0.0, 0.3)
        want = ref(x, f)
    gamma, beta = ref.norm.weight.detach().clone(), ref.norm.bias.detach().clone()
    h = f(x)
    mu_h, std_h = h.mean(-1, keepdim=True), h.std(-1, keepdim=True)
    s = x + h
    mu_s, std_s = s.mean(-1, keepdim=True), s.std(-1, keepdim=True)
    mistakes = [
        ("both bugs are still there: the norm is applied to f(x) before adding x, and it divides by the "
         "unbiased std plus eps", x + gamma * (h - mu_h) / (std_h + 1e-5) + beta),
        ("the placement bug is still there: normalise the sum, LayerNorm(x + f(x)), not x + LayerNorm(f(x))",
         x + F.layer_norm(h, (C,), gamma, beta)),
        ("the statistics bug is still there: the variance divides by C (not C - 1), and eps goes inside the "
         "square root", gamma * (s - mu_s) / (std_s + 1e-5) + beta),
        ("you wrote pre-LN, x + f(LayerNorm(x)); the paper's add & norm is post-LN, LayerNorm(x + f(x))",
         lambda: x + f(F.layer_norm(x, (C,), gamma, beta))),
    ]
    compare(call(residual_norm, x, f, gamma, beta), want, f"your add & norm around attention (C={C}, {H} heads)",
            mistakes=mistakes)

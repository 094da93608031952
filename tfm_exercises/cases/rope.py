"""The tests of `rope` (exercise 15b_rope): generated from exercises/source/15b_rope.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def rope_mistakes(x, base):
    """What the usual wrong versions of RoPE give (x: (B, H, T, d_head), positions 0 .. T-1)."""
    import torch
    T, dh = x.shape[-2:]
    half = dh // 2
    def angles(pos, exponent):
        theta = base ** (-exponent / dh)                                   # (dh // 2,)
        a = pos.double()[:, None] * theta[None, :]
        return a.cos().float(), a.sin().float()
    even = torch.arange(0, dh, 2, dtype=torch.float64)
    def pairs(cos, sin, sign=1.0):
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - sign * x2 * sin, sign * x1 * sin + x2 * cos), dim=-1).flatten(-2)
    def halves(cos, sin):
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    pos = torch.arange(T)
    cos, sin = angles(pos, even)
    return [
        ("you paired channel i with channel i + d_head/2 (the layout of Hugging Face's Llama): the task pairs "
         "neighbours, (0, 1), (2, 3), ... (the paper's layout, and tfm's)", lambda: halves(cos, sin)),
        ("the rotation turns the wrong way: rotating (x1, x2) by +angle gives (x1 cos - x2 sin, x1 sin + x2 cos)",
         lambda: pairs(cos, sin, -1.0)),
        ("the frequencies use base ** (-i / d_head) with i = 0, 1, 2, ...: the exponent is -2i / d_head, i.e. the "
         "even channel index over d_head, so the last pair turns about base times slower than the first",
         lambda: pairs(*angles(pos, torch.arange(half, dtype=torch.float64)))),
        ("the positions start at 1: the first token is at position 0, which is not rotated at all",
         lambda: pairs(*angles(pos + 1, even))),
        ("the frequencies grow with the pair index (base ** (+2i / d_head)): the first pair must turn fastest "
         "(theta_0 = 1 radian per position), the last ones slowest", lambda: pairs(*angles(pos, -even))),
    ]


@case(points=1, hidden=False)
def test_shape_and_norms(rope):
    """same shape; position 0 unchanged; every vector keeps its norm (a rotation)"""
    import torch
    from tfm_exercises.checks import Mistake, WrongShape, call, check, tensor
    x = torch.randn(2, 3, 6, 8)
    out = tensor(call(rope, x), "rope(x)")
    check(tuple(out.shape) == (2, 3, 6, 8), f"expected shape (2, 3, 6, 8), got {tuple(out.shape)}", WrongShape)
    check(bool(torch.allclose(out[:, :, 0], x[:, :, 0], atol=1e-5)), "position 0 changed: the first token is at "
          "position 0, and a rotation by the angle 0 leaves it as it is (do your positions start at 1?)", Mistake)
    check(bool(torch.allclose(out.norm(dim=-1), x.norm(dim=-1), rtol=1e-4, atol=1e-5)), "the norms of the vectors "
          "changed: a rotation keeps lengths. Does each pair get cos on its own channel and -sin/+sin from its partner?",
          Mistake)


@case(points=3, hidden=False)
def test_values(rope):
    """equals tfm.rope.apply_rope (base 10000)"""
    import torch
    from tfm.rope import apply_rope
    from tfm_exercises.checks import call, compare
    x = torch.randn(2, 2, 9, 16)
    compare(call(rope, x), apply_rope(x), "rope(x)", mistakes=rope_mistakes(x, 10000.0))


@case(points=1, hidden=False)
def test_scores_depend_on_distance_only(rope):
    """after your rotation, the score of query m and key n depends on m - n only (an independent check)"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    q, k = torch.randn(2, 1, 1, 1, 8).unbind(0)
    T = 12
    qs = tensor(call(rope, q.expand(1, 1, T, 8).contiguous()), "rope(q repeated at every position)")
    ks = tensor(call(rope, k.expand(1, 1, T, 8).contiguous()), "rope(k repeated at every position)")
    scores = (qs @ ks.transpose(-2, -1))[0, 0]                                  # (T, T): the same q and k everywhere
    for r in (-3, 0, 2, 5):
        diagonal = torch.diagonal(scores, offset=-r)                             # entries with m - n = r
        check(bool(torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4)),
              f"the score of the same query and key at distance m - n = {r} changes with the position "
              f"({diagonal.min().item():.3f} ... {diagonal.max().item():.3f}): rotate each pair by position * "
              "theta_i, the same angle for the query and the key at the same position", Mistake)
    check(bool((scores[0] - scores[0, 0]).abs().max() > 1e-3), "the scores do not change with the distance at all: "
          "is anything rotated?", Mistake)


@case(points=2, hidden=True)
def test_drawn_sizes_and_base(rope):
    """sizes and a base drawn at grading time: equals tfm.rope.apply_rope"""
    import torch
    from tfm.rope import apply_rope
    from tfm_exercises.checks import call, compare, rng
    B, H, T, d_head = rng().randint(1, 3), rng().randint(1, 4), rng().randint(2, 40), 2 * rng().randint(2, 12)
    base = rng().choice([100.0, 500.0, 10000.0, 500000.0])
    x = torch.randn(B, H, T, d_head)
    compare(call(rope, x, base), apply_rope(x, base=base), f"rope(<{B}, {H}, {T}, {d_head}>, base={base:g})",
            mistakes=rope_mistakes(x, base), rtol=1e-4, atol=1e-4)

"""The tests of `clip_grad_norm` (exercise 13b_clip_grad_norm): generated from exercises/source/13b_clip_grad_norm.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def clip_mistakes(grads, max_norm):
    """What the usual wrong versions compute: (message, (clipped list, total norm)) pairs."""
    import torch
    norms = torch.stack([g.norm() for g in grads])
    right = norms.pow(2).sum().sqrt()
    scale = lambda n: min(1.0, max_norm / (float(n) + 1e-6))
    return {
        "per_tensor": ("you clipped each tensor by its own norm: the norm that is clipped is the global one, over "
                       "every gradient entry of the model at once, and every tensor is scaled by the same factor "
                       "(so the update keeps its direction)", [g * scale(n) for g, n in zip(grads, norms)]),
        "sum_of_norms": ("you added the tensors' norms: the global norm is the square root of the sum of every "
                         "entry's square, i.e. sqrt(sum of the squared tensor norms)", norms.sum()),
        "no_sqrt": ("the square root is missing: the norm is sqrt(sum of squares)", norms.pow(2).sum()),
        "largest": ("you took the largest tensor norm: the global norm combines all of them, "
                    "sqrt(sum of the squared tensor norms)", norms.max()),
        "always": ("you rescaled the gradient to max_norm even though its norm was already below it: clipping "
                   "only ever shrinks, the factor is min(1, max_norm / norm)",
                   [g * (max_norm / (float(right) + 1e-6)) for g in grads]),
        "none": ("the gradients were not clipped: when the global norm is above max_norm, multiply every gradient "
                 "by max_norm / norm", list(grads)),
    }


def reference(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on parameters holding these gradients: (clipped, total norm)."""
    import torch
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params], total


def clipped_list(out, grads, what):
    from tfm_exercises.checks import WrongShape, WrongType, check, tensor
    check(isinstance(out, tuple) and len(out) == 2, f"{what} should return a tuple (clipped gradients, total norm)",
          WrongType)
    clipped, total = out
    check(isinstance(clipped, (list, tuple)) and len(clipped) == len(grads),
          f"the clipped gradients should be a list of {len(grads)} tensors, one per gradient", WrongType)
    for i, (c, g) in enumerate(zip(clipped, grads)):
        tensor(c, f"clipped gradient {i}")
        check(c.shape == g.shape, f"clipped gradient {i} has shape {tuple(c.shape)}, expected {tuple(g.shape)}",
              WrongShape)
    return list(clipped), tensor(total, "the total norm")


def same(a, b):
    from tfm_exercises.checks import close
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))


@case(points=1, hidden=False)
def test_returns_list_and_norm(clip_grad_norm):
    """returns (a list of tensors of the gradients' shapes, the total norm)"""
    import torch
    from tfm_exercises.checks import call
    grads = [torch.randn(3, 4), torch.randn(4)]
    clipped_list(call(clip_grad_norm, grads, 1.0), grads, "clip_grad_norm(grads, 1.0)")


@case(points=2, hidden=False)
def test_total_norm(clip_grad_norm):
    """the total norm equals torch.nn.utils.clip_grad_norm_'s"""
    import torch
    from tfm_exercises.checks import call, compare
    grads = [torch.randn(5, 3), torch.randn(3) * 4, torch.randn(2, 2, 2)]
    _, total = clipped_list(call(clip_grad_norm, grads, 0.5), grads, "clip_grad_norm(grads, 0.5)")
    known = clip_mistakes(grads, 0.5)
    compare(total, reference(grads, 0.5)[1], "your total norm",
            mistakes=[known[k] for k in ("sum_of_norms", "no_sqrt", "largest")])


@case(points=2, hidden=False)
def test_clips_a_large_gradient(clip_grad_norm):
    """a gradient above max_norm: every tensor equals torch.nn.utils.clip_grad_norm_'s result"""
    import torch
    from tfm_exercises.checks import Mistake, WrongValues, call, check, close
    grads = [torch.randn(4, 6) * 3, torch.randn(6) * 0.1, torch.randn(2, 3)]
    clipped, _ = clipped_list(call(clip_grad_norm, grads, 1.0), grads, "clip_grad_norm(grads, 1.0)")
    want = reference(grads, 1.0)[0]
    if not same(clipped, want):
        for message, value in (clip_mistakes(grads, 1.0)[k] for k in ("per_tensor", "none")):
            check(not same(clipped, value), message, Mistake)
        bad = [i for i, (c, w) in enumerate(zip(clipped, want)) if not close(c, w)]
        check(False, f"clipped gradients {bad} differ from the reference: multiply every gradient by "
              "max_norm / (total_norm + 1e-6) when total_norm > max_norm", WrongValues)


@case(points=1, hidden=False)
def test_leaves_a_small_gradient(clip_grad_norm):
    """a gradient below max_norm comes back unchanged"""
    import torch
    from tfm_exercises.checks import Mistake, WrongValues, call, check, close
    grads = [torch.randn(3, 3) * 0.1, torch.randn(5) * 0.1]
    clipped, _ = clipped_list(call(clip_grad_norm, grads, 10.0), grads, "clip_grad_norm(grads, 10.0)")
    if not same(clipped, grads):
        message, value = clip_mistakes(grads, 10.0)["always"]
        check(not same(clipped, value), message, Mistake)
        check(False, "a gradient whose global norm is below max_norm must come back unchanged", WrongValues)


@case(points=2, hidden=True)
def test_drawn_gradients(clip_grad_norm):
    """a number of tensors, their shapes and max_norm drawn at grading time"""
    import torch
    from tfm_exercises.checks import Mistake, WrongValues, call, check, close, compare, rng
    n = rng().randint(2, 6)
    grads = [torch.randn(*[rng().randint(1, 5) for _ in range(rng().randint(1, 3))]) * rng().choice([0.1, 1.0, 5.0])
             for _ in range(n)]
    max_norm = rng().choice([0.25, 1.0, 2.0])
    size = torch.stack([g.norm() for g in grads]).pow(2).sum().sqrt()
    grads = [g * (max_norm * rng().choice([1.5, 4.0, 20.0]) / size) for g in grads]  # above max_norm: clipping acts
    clipped, total = clipped_list(call(clip_grad_norm, grads, max_norm), grads, f"clip_grad_norm(<{n} tensors>, {max_norm})")
    want, want_total = reference(grads, max_norm)
    known = clip_mistakes(grads, max_norm)
    compare(total, want_total, "your total norm", mistakes=[known[k] for k in ("sum_of_norms", "no_sqrt", "largest")])
    if not same(clipped, want):
        for message, value in (known[k] for k in ("per_tensor", "always", "none")):
            check(not same(clipped, value), message, Mistake)
        check(False, f"with {n} tensors and max_norm={max_norm}, your clipped gradients differ from the reference", WrongValues)

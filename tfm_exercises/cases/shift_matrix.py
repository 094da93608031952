"""The tests of `shift_matrix` (exercise 03b_shift_matrix): generated from exercises/source/03b_shift_matrix.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def wrong_shift(k, d, transposed=False, exponent=2.0, grow=False, half=False, no_frequency=False):
    """What the usual wrong versions of the shift matrix give (float64, (d, d))."""
    import torch
    n = d // 2
    e = exponent * torch.arange(n, dtype=torch.float64) / d
    omega = torch.ones(n, dtype=torch.float64) if no_frequency else 10000.0 ** (e if grow else -e)
    c, s = torch.cos(omega * k), torch.sin(omega * k)
    if transposed:
        s = -s
    a, b = (torch.arange(n), torch.arange(n) + n) if half else (torch.arange(0, d, 2), torch.arange(1, d, 2))
    m = torch.zeros(d, d, dtype=torch.float64)
    m[a, a], m[a, b], m[b, a], m[b, b] = c, s, -s, c
    return m


def shift_mistakes(k, d, apply):
    """(message, what the mistake gives after `apply`) for each usual mistake."""
    return [
        ("the rotation turns the wrong way: your matrix maps PE[pos] to PE[pos - k] (it is the transpose, the "
         "shift by -k; or you took each pair as (cos, sin), but tfm's table has the sine first). With row vectors "
         "PE[pos + k] = PE[pos] @ M.T, so row 2i of M says how the new sine is made: sin(a + b) = sin a cos b + "
         "cos a sin b", lambda: apply(wrong_shift(k, d, transposed=True))),
        ("you paired dimension i with dimension i + d_model/2 (sines in the first half, cosines in the second, a "
         "layout some libraries use): tfm interleaves them, sine in dimension 2i and cosine in 2i + 1",
         lambda: apply(wrong_shift(k, d, half=True))),
        ("wrong frequency per pair: you used 10000^(-i/d_model) with the pair index i; tfm's table uses the even "
         "dimension 2i, omega_i = 1 / 10000^(2i/d_model)", lambda: apply(wrong_shift(k, d, exponent=1.0))),
        ("wrong frequency per pair: yours grow with the pair index (10000^(+2i/d_model)); the first pair turns "
         "fastest, omega_0 = 1, the last ones slowest", lambda: apply(wrong_shift(k, d, grow=True))),
        ("every pair turns by the same angle k: a pair turns by the angle omega_i * k, each at its own frequency "
         "omega_i = 1 / 10000^(2i/d_model)", lambda: apply(wrong_shift(k, d, no_frequency=True))),
    ]


@case(points=1, hidden=False)
def test_shape_and_rotation(shift_matrix):
    """a (d_model, d_model) matrix that keeps lengths (M.T @ M = I), and M_0 = I"""
    import torch
    from tfm_exercises.checks import Mistake, WrongShape, call, check, tensor
    m = tensor(call(shift_matrix, 3, 16), "shift_matrix(3, 16)")
    check(tuple(m.shape) == (16, 16), f"shift_matrix(3, 16) should have shape (16, 16), got {tuple(m.shape)}",
          WrongShape)
    m = m.double()
    check(bool(torch.allclose(m.T @ m, torch.eye(16, dtype=torch.float64), atol=1e-5)), "M.T @ M is not the "
          "identity: a shift of every pair's angle is a rotation, which keeps lengths. Each 2x2 block holds cos and "
          "sin of ONE angle, with a minus sign on one of the two sines", Mistake)
    m0 = tensor(call(shift_matrix, 0, 16), "shift_matrix(0, 16)").double()
    check(bool(torch.allclose(m0, torch.eye(16, dtype=torch.float64), atol=1e-6)), "shift_matrix(0, 16) is not the "
          "identity: shifting by 0 positions must change nothing (is the angle k * omega_i?)", Mistake)


@case(points=1, hidden=False)
def test_fastest_pair(shift_matrix):
    """dimensions 0 and 1 (the pair with omega_0 = 1) move k positions forward, on their own"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongShape, call, check, compare, tensor
    k, d = 3, 16
    m = tensor(call(shift_matrix, k, d), f"shift_matrix({k}, {d})")
    check(tuple(m.shape) == (d, d), f"shift_matrix({k}, {d}) should have shape ({d}, {d}), got {tuple(m.shape)}",
          WrongShape)
    m = m.double()
    codes = tfm.sinusoidal_encoding(40, d).double()                      # (40, d): positions 0 .. 39
    mixed = m[:2, 2:].abs().max().item()
    half_message = [message for message, _ in shift_mistakes(k, d, None) if "paired dimension i" in message][0]
    check(mixed < 1e-6 or not torch.allclose(m, wrong_shift(k, d, half=True), atol=1e-6), half_message, Mistake)
    check(mixed < 1e-6, f"the new dimensions 0 and 1 depend on other dimensions (up to {mixed:.3g}): pair 0 is "
          "(sin p, cos p), and the angle-sum formulas give (sin(p + k), cos(p + k)) from those two alone", Mistake)
    first = lambda w: codes[:-k, :2] @ w[:2, :2].T                     # pair 0 of every position, shifted
    compare(first(m), codes[k:, :2], f"PE[pos, :2] @ M[:2, :2].T for k = {k}",
            mistakes=shift_mistakes(k, d, first), rtol=1e-4, atol=1e-4)


@case(points=2, hidden=False)
def test_moves_the_table_forward(shift_matrix):
    """PE[pos] @ M.T equals PE[pos + k] for every position of tfm.sinusoidal_encoding (several k)"""
    import tfm
    from tfm_exercises.checks import WrongShape, call, check, compare, tensor
    d = 16
    codes = tfm.sinusoidal_encoding(100, d).double()                     # (100, d): positions 0 .. 99
    for k in (1, 3, 10, 40):
        m = tensor(call(shift_matrix, k, d), f"shift_matrix({k}, {d})")
        check(tuple(m.shape) == (d, d), f"shift_matrix({k}, {d}) should have shape ({d}, {d}), got {tuple(m.shape)}",
              WrongShape)
        apply = lambda w: codes[:-k] @ w.T
        compare(apply(m.double()), codes[k:], f"PE[pos] @ shift_matrix({k}, {d}).T (every pos)",
                mistakes=shift_mistakes(k, d, apply), rtol=1e-4, atol=1e-4)


@case(points=1, hidden=False)
def test_shifts_add_up(shift_matrix):
    """a shift by 3 then by 7 is a shift by 10, and a shift by -k undoes one by k"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    d = 12
    m = {k: tensor(call(shift_matrix, k, d), f"shift_matrix({k}, {d})").double() for k in (3, 7, 10, -7)}
    check(all(tuple(x.shape) == (d, d) for x in m.values()), f"shift_matrix(k, {d}) should have shape ({d}, {d})")
    check(bool(torch.allclose(m[3] @ m[7], m[10], atol=1e-5)), "M_3 @ M_7 is not M_10: moving 3 positions and then 7 "
          "must be moving 10. Each pair's angle must be proportional to k (omega_i * k), the same omega_i for every k",
          Mistake)
    check(bool(torch.allclose(m[-7] @ m[7], torch.eye(d, dtype=torch.float64), atol=1e-5)), "M_-7 @ M_7 is not the "
          "identity: moving back 7 positions must undo moving forward 7 (does your function work for negative k?)",
          Mistake)


@case(points=2, hidden=True)
def test_drawn_width_shift_and_positions(shift_matrix):
    """d_model, k (either sign) and positions drawn at grading time: PE[pos] @ M.T equals PE[pos + k]"""
    import torch
    import tfm
    from tfm_exercises.checks import WrongShape, call, check, compare, rng, tensor
    d = 2 * rng().randint(2, 32)                                          # 4 .. 64: every layout mistake shows
    k = rng().choice([-1, 1]) * rng().randint(1, 60)
    codes = tfm.sinusoidal_encoding(200, d).double()                     # (200, d)
    pos = torch.randint(max(0, -k), min(200, 200 - k), (rng().randint(3, 30),))   # pos and pos + k in the table
    m = tensor(call(shift_matrix, k, d), f"shift_matrix({k}, {d})")
    check(tuple(m.shape) == (d, d), f"shift_matrix({k}, {d}) should have shape ({d}, {d}), got {tuple(m.shape)}",
          WrongShape)
    apply = lambda w: codes[pos] @ w.T
    compare(apply(m.double()), codes[pos + k], f"PE[pos] @ shift_matrix({k}, {d}).T at {len(pos)} drawn positions",
            mistakes=shift_mistakes(k, d, apply), rtol=1e-4, atol=1e-4)

"""The tests of `sinusoidal_encoding` (exercise 03_positional_encoding): generated from exercises/source/03_positional_encoding.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shape(sinusoidal_encoding):
    """a float tensor of shape (max_len, d_model)"""
    import torch
    from tfm_exercises.checks import WrongShape, WrongType, call, check, tensor
    pe = tensor(call(sinusoidal_encoding, 10, 8), "sinusoidal_encoding(10, 8)")
    check(tuple(pe.shape) == (10, 8), f"sinusoidal_encoding(10, 8) has shape {tuple(pe.shape)}, expected (10, 8)",
          WrongShape)
    check(pe.is_floating_point(), f"the table should hold floats, got dtype {pe.dtype}", WrongType)


@case(points=1, hidden=False)
def test_position_zero(sinusoidal_encoding):
    """position 0 is sin(0) = 0 in the even columns and cos(0) = 1 in the odd ones"""
    import torch
    from tfm_exercises.checks import Mistake, call, compare, tensor
    pe = tensor(call(sinusoidal_encoding, 4, 8), "sinusoidal_encoding(4, 8)")
    want = torch.tensor([0.0, 1.0] * 4)
    mistakes = [
        ("row 0 is [1, 0, 1, 0, ...]: sin and cos are swapped. Even columns (0, 2, ...) get the sine, "
         "odd columns (1, 3, ...) the cosine.", torch.tensor([1.0, 0.0] * 4)),
        ("row 0 is [0, 0, 0, 0, 1, 1, 1, 1]: you put all sines first and all cosines after. The paper "
         "interleaves them: column 2i is a sine, column 2i + 1 the cosine of the same angle.",
         torch.tensor([0.0] * 4 + [1.0] * 4)),
    ]
    compare(pe[0], want, "row 0 of your table", mistakes=mistakes)


@case(points=3, hidden=False)
def test_values(sinusoidal_encoding):
    """equals tfm.sinusoidal_encoding(10, 8)"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    got = call(sinusoidal_encoding, 10, 8)
    want = tfm.sinusoidal_encoding(10, 8)
    pos = torch.arange(10.0)[:, None]
    i2 = torch.arange(0, 8, 2).float()
    def table(first, second, exponent):
        pe = torch.zeros(10, 8)
        pe[:, 0::2], pe[:, 1::2] = first(pos / 10000 ** exponent), second(pos / 10000 ** exponent)
        return pe
    mistakes = [
        ("sin and cos are swapped: even columns (0, 2, ...) get the sine, odd columns the cosine.",
         lambda: table(torch.cos, torch.sin, i2 / 8)),
        ("the frequencies are off: the exponent is 2i / d_model where 2i is the even column index "
         "(0, 2, 4, ...); you used i (0, 1, 2, ...) instead.", lambda: table(torch.sin, torch.cos, (i2 / 2) / 8)),
        ("the frequencies are off: 10000 is raised to 2i / d_model, and the position is divided by "
         "that; you multiplied instead of dividing.", lambda: table(torch.sin, torch.cos, -i2 / 8)),
        ("sines and cosines are not interleaved: column 2i is a sine and column 2i + 1 the cosine of "
         "the same angle; you put all sines first.",
         lambda: torch.cat([torch.sin(pos / 10000 ** (i2 / 8)), torch.cos(pos / 10000 ** (i2 / 8))], dim=1)),
    ]
    compare(got, want, "your table", mistakes=mistakes)


@case(points=1, hidden=True)
def test_other_sizes(sinusoidal_encoding):
    """equals tfm.sinusoidal_encoding for sizes drawn at grading time, and for one position"""
    import tfm
    from tfm_exercises.checks import call, compare, rng
    L, d = rng().randint(20, 80), 2 * rng().randint(4, 40)
    compare(call(sinusoidal_encoding, L, d), tfm.sinusoidal_encoding(L, d), f"sinusoidal_encoding({L}, {d})")
    compare(call(sinusoidal_encoding, 1, 2), tfm.sinusoidal_encoding(1, 2), "sinusoidal_encoding(1, 2)")

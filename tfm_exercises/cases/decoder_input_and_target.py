"""The tests of `decoder_input_and_target` (exercise 08_decoder_input): generated from exercises/source/08_decoder_input.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shapes(decoder_input_and_target):
    """two long tensors of shape (B, longest target + 1)"""
    import torch
    from tfm_exercises.checks import WrongShape, WrongType, call, check, tensor
    out = call(decoder_input_and_target, [[7, 8, 9], [5]], 1, 2, 0)
    check(isinstance(out, tuple) and len(out) == 2, "return a tuple (tgt_in, tgt_out)", WrongType)
    for name, t in zip(("tgt_in", "tgt_out"), out):
        t = tensor(t, name)
        check(tuple(t.shape) == (2, 4), f"{name} should have shape (2, 4), got {tuple(t.shape)}", WrongShape)
        check(t.dtype == torch.long, f"{name} should hold token ids (torch.long), got {t.dtype}", WrongType)


@case(points=2, hidden=False)
def test_decoder_input(decoder_input_and_target):
    """tgt_in equals tfm.data.collate_seq2seq's: <bos> + target, padded"""
    import torch
    from tfm.data import collate_seq2seq
    from tfm_exercises.checks import call, compare
    targets, (bos, eos, pad) = [[7, 8, 9], [5], [6, 6]], (1, 2, 0)
    _, want_in, want_out = collate_seq2seq([([3], t) for t in targets], pad_id=pad, bos_id=bos, eos_id=eos)
    tgt_in, _ = call(decoder_input_and_target, targets, bos, eos, pad)
    mistakes = [
        ("tgt_in is the target row: tgt_in is the target shifted right behind <bos> ([bos] + target), "
         "and has no <eos>", want_out),
        ("tgt_in has no <bos>: the decoder's first input is the start token, [bos] + target",
         torch.tensor([[7, 8, 9, 0], [5, 0, 0, 0], [6, 6, 0, 0]])),
        ("tgt_in ends with <eos>: the decoder never reads <eos>, it only predicts it (tgt_in = [bos] + target)",
         torch.tensor([[1, 7, 8, 9, 2], [1, 5, 2, 0, 0], [1, 6, 6, 2, 0]])),
    ]
    compare(tgt_in, want_in, "tgt_in", mistakes=mistakes)


@case(points=2, hidden=False)
def test_target(decoder_input_and_target):
    """tgt_out equals tfm.data.collate_seq2seq's: target + <eos>, padded"""
    import torch
    from tfm.data import collate_seq2seq
    from tfm_exercises.checks import call, compare
    targets, (bos, eos, pad) = [[7, 8, 9], [5], [6, 6]], (1, 2, 0)
    _, want_in, want_out = collate_seq2seq([([3], t) for t in targets], pad_id=pad, bos_id=bos, eos_id=eos)
    _, tgt_out = call(decoder_input_and_target, targets, bos, eos, pad)
    mistakes = [
        ("tgt_out is the decoder input: the target row is target + [eos], one step ahead of tgt_in", want_in),
        ("tgt_out has no <eos>: the model must learn to stop, so the target ends with <eos>",
         torch.tensor([[7, 8, 9, 0], [5, 0, 0, 0], [6, 6, 0, 0]])),
        ("tgt_out starts with <bos>: the first prediction is the first target token, tgt_out = target + [eos]",
         torch.tensor([[1, 7, 8, 9, 2], [1, 5, 2, 0, 0], [1, 6, 6, 2, 0]])),
    ]
    compare(tgt_out, want_out, "tgt_out", mistakes=mistakes)


@case(points=1, hidden=True)
def test_other_ids_and_one_sentence(decoder_input_and_target):
    """other special ids, a single sentence and an empty target"""
    from tfm.data import collate_seq2seq
    from tfm_exercises.checks import call, compare, rng
    drawn = [[rng().randint(4, 30) for _ in range(rng().randint(0, 7))] for _ in range(rng().randint(1, 4))]
    for targets, (bos, eos, pad) in (([[4, 5, 6, 7]], (10, 11, 3)), ([[], [9]], (1, 2, 0)), (drawn, (1, 2, 0))):
        _, want_in, want_out = collate_seq2seq([([3], t) for t in targets], pad_id=pad, bos_id=bos, eos_id=eos)
        tgt_in, tgt_out = call(decoder_input_and_target, targets, bos, eos, pad)
        compare(tgt_in, want_in, f"tgt_in for {targets}")
        compare(tgt_out, want_out, f"tgt_out for {targets}")

from otter.test_files import test_case

OK_FORMAT = False

name = "decoder_input_and_target"
points = None

@test_case(points=1, hidden=False)
def test_shapes(decoder_input_and_target):
    """two long tensors of shape (B, longest target + 1)"""
    import torch
    from exercises.checks import WrongShape, WrongType, call, check, tensor
    out = call(decoder_input_and_target, [[7, 8, 9], [5]], 1, 2, 0)
    check(isinstance(out, tuple) and len(out) == 2, 'return a tuple (tgt_in, tgt_out)', WrongType)
    for name, t in zip(('tgt_in', 'tgt_out'), out):
        t = tensor(t, name)
        check(tuple(t.shape) == (2, 4), f'{name} should have shape (2, 4), got {tuple(t.shape)}', WrongShape)
        check(t.dtype == torch.long, f'{name} should hold token ids (torch.long), got {t.dtype}', WrongType)

@test_case(points=2, hidden=False)
def test_decoder_input(decoder_input_and_target):
    """tgt_in equals tfm.data.collate_seq2seq's: <bos> + target, padded"""
    import torch
    from tfm.data import collate_seq2seq
    from exercises.checks import call, compare
    targets, (bos, eos, pad) = ([[7, 8, 9], [5], [6, 6]], (1, 2, 0))
    _, want_in, want_out = collate_seq2seq([([3], t) for t in targets], pad_id=pad, bos_id=bos, eos_id=eos)
    tgt_in, _ = call(decoder_input_and_target, targets, bos, eos, pad)
    mistakes = [('tgt_in is the target row: tgt_in is the target shifted right behind <bos> ([bos] + target), and has no <eos>', want_out), ("tgt_in has no <bos>: the decoder's first input is the start token, [bos] + target", torch.tensor([[7, 8, 9, 0], [5, 0, 0, 0], [6, 6, 0, 0]])), ('tgt_in ends with <eos>: the decoder never reads <eos>, it only predicts it (tgt_in = [bos] + target)', torch.tensor([[1, 7, 8, 9, 2], [1, 5, 2, 0, 0], [1, 6, 6, 2, 0]]))]
    compare(tgt_in, want_in, 'tgt_in', mistakes=mistakes)

@test_case(points=2, hidden=False)
def test_target(decoder_input_and_target):
    """tgt_out equals tfm.data.collate_seq2seq's: target + <eos>, padded"""
    import torch
    from tfm.data import collate_seq2seq
    from exercises.checks import call, compare
    targets, (bos, eos, pad) = ([[7, 8, 9], [5], [6, 6]], (1, 2, 0))
    _, want_in, want_out = collate_seq2seq([([3], t) for t in targets], pad_id=pad, bos_id=bos, eos_id=eos)
    _, tgt_out = call(decoder_input_and_target, targets, bos, eos, pad)
    mistakes = [('tgt_out is the decoder input: the target row is target + [eos], one step ahead of tgt_in', want_in), ('tgt_out has no <eos>: the model must learn to stop, so the target ends with <eos>', torch.tensor([[7, 8, 9, 0], [5, 0, 0, 0], [6, 6, 0, 0]])), ('tgt_out starts with <bos>: the first prediction is the first target token, tgt_out = target + [eos]', torch.tensor([[1, 7, 8, 9, 2], [1, 5, 2, 0, 0], [1, 6, 6, 2, 0]]))]
    compare(tgt_out, want_out, 'tgt_out', mistakes=mistakes)


from otter.test_files import test_case

OK_FORMAT = False

name = "greedy_decode"
points = None

@test_case(points=1, hidden=False)
def test_returns_tokens(greedy_decode):
    """a (1, 1 + n) long tensor that starts with <bos>"""
    import torch
    from exercises.checks import Mistake, WrongShape, WrongType, call, check, tensor

    def step(tokens):
        logits = torch.zeros(1, 8)
        logits[0, 5] = 1.0
        return logits
    out = tensor(call(greedy_decode, step, 1, 2, 3), 'greedy_decode(...)')
    check(out.dim() == 2 and out.shape[0] == 1, f'expected shape (1, 1 + n), got {tuple(out.shape)}', WrongShape)
    check(out.dtype == torch.long, f'the tokens should be torch.long ids, got {out.dtype}', WrongType)
    check(out[0, 0].item() == 1, f'the output should start with <bos> (id 1), got {out[0].tolist()}', Mistake)

@test_case(points=2, hidden=False)
def test_stops_at_eos(greedy_decode):
    """stops right after the end token, like tfm.generate.decode_loop"""
    import torch
    from tfm.generate import decode_loop
    from exercises.checks import call, compare
    script = [5, 3, 7, 2, 4, 4, 4, 4, 4]

    def step(tokens):
        logits = torch.zeros(tokens.shape[0], 8)
        logits[:, script[tokens.shape[1] - 1]] = 3.0
        return logits
    bos, eos, n = (1, 2, 8)
    start = torch.tensor([[bos]])
    want = decode_loop(step, start, n, lambda z: z.argmax(dim=-1), eos, eos)
    never_stops = decode_loop(step, start, n, lambda z: z.argmax(dim=-1), None, None)
    mistakes = [('decoding does not stop at the end token: after appending <eos> the output is finished, break out of the loop', never_stops), ('the output lost its <eos>: append the token first, then stop if it was <eos>', want[:, :-1]), ('decoding stopped one token late: stop right after appending <eos>', never_stops[:, :want.shape[1] + 1])]
    compare(call(greedy_decode, step, bos, eos, n), want, 'your output', mistakes=mistakes)

@test_case(points=1, hidden=False)
def test_length_limit(greedy_decode):
    """without <eos> it appends exactly max_new_tokens tokens"""
    import torch
    from exercises.checks import WrongShape, call, check, tensor

    def step(tokens):
        logits = torch.zeros(tokens.shape[0], 8)
        logits[:, 3 + tokens.shape[1] % 4] = 1.0
        return logits
    for n in (1, 5):
        out = tensor(call(greedy_decode, step, 1, 2, n), f'greedy_decode(..., max_new_tokens={n})')
        check(tuple(out.shape) == (1, 1 + n), f'with max_new_tokens={n} and no <eos>, the output should have <bos> + {n} tokens, shape (1, {1 + n}); got {tuple(out.shape)}', WrongShape)

@test_case(points=2, hidden=False)
def test_matches_tfm_on_a_transformer(greedy_decode):
    """on a small tfm.Transformer it equals tfm.generate.greedy_decode"""
    import torch
    import tfm
    from tfm.generate import decode_loop, greedy_decode as tfm_greedy
    from exercises.checks import call, compare
    torch.manual_seed(1)
    config = tfm.TransformerConfig(src_vocab_size=10, tgt_vocab_size=10, d_model=16, n_heads=2, d_ff=32, n_encoder_layers=1, n_decoder_layers=1, dropout=0.0, max_len=16)
    model = tfm.Transformer(config).eval()
    with torch.no_grad():
        for i in range(3):
            src = torch.randint(3, 10, (1, 5))
            memory = model.encode(src)
            step = lambda tokens: model.decode(tokens, memory)[:, -1]
            compare(call(greedy_decode, step, config.bos_id, config.eos_id, 10), tfm_greedy(model, src, 10, use_cache=False), f'your output for source {i}')
            eager = lambda tokens: step(tokens) + torch.eye(10)[config.eos_id] * 2.0 * (tokens.shape[1] - 1)
            want = decode_loop(eager, torch.tensor([[config.bos_id]]), 10, lambda z: z.argmax(-1), config.eos_id, config.pad_id)
            compare(call(greedy_decode, eager, config.bos_id, config.eos_id, 10), want, f'your output for source {i} when <eos> comes early')


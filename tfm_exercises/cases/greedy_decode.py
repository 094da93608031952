"""The tests of `greedy_decode` (exercise 12_greedy_decoding): generated from exercises/source/12_greedy_decoding.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_returns_tokens(greedy_decode):
    """a (1, 1 + n) long tensor that starts with <bos>"""
    import torch
    from tfm_exercises.checks import Mistake, WrongShape, WrongType, call, check, tensor
    def step(tokens):
        logits = torch.zeros(1, 8)
        logits[0, 5] = 1.0
        return logits
    out = tensor(call(greedy_decode, step, 1, 2, 3), "greedy_decode(...)")
    check(out.dim() == 2 and out.shape[0] == 1, f"expected shape (1, 1 + n), got {tuple(out.shape)}", WrongShape)
    check(out.dtype == torch.long, f"the tokens should be torch.long ids, got {out.dtype}", WrongType)
    check(out[0, 0].item() == 1, f"the output should start with <bos> (id 1), got {out[0].tolist()}", Mistake)


@case(points=2, hidden=False)
def test_stops_at_eos(greedy_decode):
    """stops right after the end token, like tfm.generate.decode_loop"""
    import torch
    from tfm.generate import decode_loop
    from tfm_exercises.checks import call, compare
    script = [5, 3, 7, 2, 4, 4, 4, 4, 4]  # the model's favourite next token at each step; 2 is <eos>
    def step(tokens):
        logits = torch.zeros(tokens.shape[0], 8)
        logits[:, script[tokens.shape[1] - 1]] = 3.0
        return logits
    bos, eos, n = 1, 2, 8
    start = torch.tensor([[bos]])
    want = decode_loop(step, start, n, lambda z: z.argmax(dim=-1), eos, eos)  # [[1, 5, 3, 7, 2]]
    never_stops = decode_loop(step, start, n, lambda z: z.argmax(dim=-1), None, None)
    mistakes = [
        ("decoding does not stop at the end token: after appending <eos> the output is finished, "
         "break out of the loop", never_stops),
        ("the output lost its <eos>: append the token first, then stop if it was <eos>", want[:, :-1]),
        ("decoding stopped one token late: stop right after appending <eos>", never_stops[:, : want.shape[1] + 1]),
    ]
    compare(call(greedy_decode, step, bos, eos, n), want, "your output", mistakes=mistakes)


@case(points=1, hidden=False)
def test_length_limit(greedy_decode):
    """without <eos> it appends exactly max_new_tokens tokens"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    def step(tokens):
        logits = torch.zeros(tokens.shape[0], 8)
        logits[:, 3 + tokens.shape[1] % 4] = 1.0  # never <eos>
        return logits
    for n in (1, 5):
        out = tensor(call(greedy_decode, step, 1, 2, n), f"greedy_decode(..., max_new_tokens={n})")
        check(tuple(out.shape) == (1, 1 + n), f"with max_new_tokens={n} and no <eos>, the output should have "
              f"<bos> + {n} tokens, shape (1, {1 + n}); got {tuple(out.shape)}", WrongShape)


@case(points=2, hidden=False)
def test_matches_tfm_on_a_transformer(greedy_decode):
    """on a small tfm.Transformer it equals tfm.generate.greedy_decode"""
    import torch
    import tfm
    from tfm.generate import decode_loop, greedy_decode as tfm_greedy
    from tfm_exercises.checks import call, compare
    torch.manual_seed(1)
    config = tfm.TransformerConfig(src_vocab_size=10, tgt_vocab_size=10, d_model=16, n_heads=2, d_ff=32,
                                   n_encoder_layers=1, n_decoder_layers=1, dropout=0.0, max_len=16)
    model = tfm.Transformer(config).eval()
    with torch.no_grad():
        for i in range(3):
            src = torch.randint(3, 10, (1, 5))
            memory = model.encode(src)
            step = lambda tokens: model.decode(tokens, memory)[:, -1]
            compare(call(greedy_decode, step, config.bos_id, config.eos_id, 10),
                    tfm_greedy(model, src, 10, use_cache=False), f"your output for source {i}")
            # a model that likes <eos> more and more: the output must end there
            eager = lambda tokens: step(tokens) + torch.eye(10)[config.eos_id] * 2.0 * (tokens.shape[1] - 1)
            want = decode_loop(eager, torch.tensor([[config.bos_id]]), 10, lambda z: z.argmax(-1),
                               config.eos_id, config.pad_id)
            compare(call(greedy_decode, eager, config.bos_id, config.eos_id, 10), want,
                    f"your output for source {i} when <eos> comes early")


@case(points=1, hidden=True)
def test_edge_cases(greedy_decode):
    """<eos> as the first token, max_new_tokens = 0, other special ids"""
    import torch
    from tfm_exercises.checks import call, compare
    def favourite(token):
        def step(tokens):
            logits = torch.zeros(tokens.shape[0], 12)
            logits[:, token] = 1.0
            return logits
        return step
    compare(call(greedy_decode, favourite(2), 1, 2, 5), torch.tensor([[1, 2]]), "output when <eos> comes first")
    compare(call(greedy_decode, favourite(4), 1, 2, 0), torch.tensor([[1]]), "output with max_new_tokens=0")
    compare(call(greedy_decode, favourite(11), 10, 11, 5), torch.tensor([[10, 11]]), "output with bos=10, eos=11")

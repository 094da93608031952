"""The tests of `beam_search` (exercise 13_beam_search): generated from exercises/source/13_beam_search.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_returns_tokens(beam_search):
    """a (1, 1 + L) long tensor that starts with <bos>"""
    import math
    import torch
    from tfm_exercises.checks import Mistake, WrongShape, WrongType, call, check, tensor
    def step(tokens):
        logits = torch.zeros(tokens.shape[0], 6)
        logits[:, 2] = 2.0 * (tokens.shape[1] - 1)  # <eos> becomes likely after a few tokens
        return logits
    out = tensor(call(beam_search, step, 1, 2, 2, 5), "beam_search(...)")
    check(out.dim() == 2 and out.shape[0] == 1, f"expected shape (1, 1 + L), got {tuple(out.shape)}", WrongShape)
    check(out.dtype == torch.long, f"the tokens should be torch.long ids, got {out.dtype}", WrongType)
    check(out[0, 0].item() == 1, f"the output should start with <bos> (id 1), got {out[0].tolist()}", Mistake)


@case(points=2, hidden=False)
def test_finds_better_than_greedy(beam_search):
    """with 2 beams it finds the output greedy decoding misses"""
    import math
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    BOS, EOS, A, B = 1, 2, 3, 4
    table = {(): {A: 0.5, B: 0.4, EOS: 0.1}, (A,): {A: 0.36, B: 0.34, EOS: 0.30}}
    default = {EOS: 0.9, A: 0.05, B: 0.05}
    def step(tokens):
        rows = []
        for row in tokens.tolist():
            p = table.get(tuple(row[1:]), default)
            rows.append([math.log(p.get(v, 1e-9)) for v in range(5)])
        return torch.tensor(rows)
    # greedy: A (0.5), A (0.36), <eos> (0.9): p = 0.162; better: B (0.4), <eos> (0.9): p = 0.36
    out = tensor(call(beam_search, step, BOS, EOS, 2, 5), "beam_search(..., beam_size=2)")
    check(out[0].tolist() != [BOS, A, A, EOS], "your search returned the greedy output [bos, A, A, eos] "
          "(probability 0.162), but [bos, B, eos] has probability 0.36. Keep beam_size live beams at each step, "
          "score each by its total log-probability, and return the best finished hypothesis.", Mistake)
    check(out[0].tolist() == [BOS, B, EOS], f"expected [bos, B, eos] = {[BOS, B, EOS]}, got {out[0].tolist()}")


@case(points=1, hidden=False)
def test_finished_hypotheses_are_not_extended(beam_search):
    """<eos> ends a hypothesis: nothing comes after it"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    def step(tokens):
        t = tokens.shape[1]
        logits = torch.tensor([[0.0, 0.0, 1.0, 0.5, 0.4]]).repeat(tokens.shape[0], 1)
        logits[:, 2] += 0.1 * t
        return logits
    out = tensor(call(beam_search, step, 1, 2, 3, 6), "beam_search(...)")[0].tolist()
    check(2 not in out[:-1], f"your output {out} goes on after <eos>: a hypothesis that ends with <eos> is "
          "finished; set it aside and never extend it", Mistake)


@case(points=1, hidden=False)
def test_one_beam_is_greedy(beam_search):
    """beam_size=1 gives tfm's greedy decoding on a small Transformer"""
    import torch
    import tfm
    from tfm.generate import greedy_decode
    from tfm_exercises.checks import call, compare
    torch.manual_seed(2)
    config = tfm.TransformerConfig(src_vocab_size=8, tgt_vocab_size=8, d_model=16, n_heads=2, d_ff=32,
                                   n_encoder_layers=1, n_decoder_layers=1, dropout=0.0, max_len=12)
    model = tfm.Transformer(config).eval()
    with torch.no_grad():
        model.output.bias[config.eos_id] += 1.0
        for i in range(2):
            src = torch.randint(3, 8, (1, 4))
            memory = model.encode(src)
            step = lambda tokens: model.decode(tokens, memory.expand(tokens.shape[0], -1, -1))[:, -1]
            compare(call(beam_search, step, config.bos_id, config.eos_id, 1, 8),
                    greedy_decode(model, src, 8, use_cache=False), f"beam_size=1 output for source {i}")


@case(points=2, hidden=False)
def test_matches_tfm(beam_search):
    """equals tfm.generate.beam_search (length_penalty=0) on a small Transformer"""
    import torch
    import tfm
    from tfm.generate import beam_search as tfm_beam_search
    from tfm_exercises.checks import call, compare
    torch.manual_seed(3)
    config = tfm.TransformerConfig(src_vocab_size=9, tgt_vocab_size=9, d_model=16, n_heads=2, d_ff=32,
                                   n_encoder_layers=1, n_decoder_layers=1, dropout=0.0, max_len=12)
    model = tfm.Transformer(config).eval()
    with torch.no_grad():
        model.output.bias[config.eos_id] += 1.0
        for i in range(3):
            src = torch.randint(3, 9, (1, 5))
            memory = model.encode(src)
            step = lambda tokens: model.decode(tokens, memory.expand(tokens.shape[0], -1, -1))[:, -1]
            want = tfm_beam_search(model, src, beam_size=3, max_new_tokens=7, length_penalty=0.0)
            compare(call(beam_search, step, config.bos_id, config.eos_id, 3, 7), want,
                    f"beam_size=3 output for source {i}")


@case(points=1, hidden=True)
def test_wide_beam_is_exhaustive(beam_search):
    """a beam wider than every candidate list finds the best of all outputs (brute force), on a model
    drawn at grading time where greedy decoding misses that best output"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    config = tfm.TransformerConfig(src_vocab_size=5, tgt_vocab_size=5, d_model=8, n_heads=2, d_ff=16,
                                   n_encoder_layers=1, n_decoder_layers=1, dropout=0.0, max_len=8)
    bos, eos, L = config.bos_id, config.eos_id, 3

    def outputs(prefix, score):
        """(total log-probability, tokens) of every output that starts with prefix: each ends at its
        first <eos> or at the length limit."""
        logp = torch.log_softmax(model.decode(torch.tensor([prefix]), memory)[0, -1], dim=-1)
        for t in range(config.tgt_vocab_size):
            seq, total = prefix + [t], score + logp[t].item()
            yield from [(total, seq)] if t == eos or len(seq) == L + 1 else outputs(seq, total)

    with torch.no_grad():
        for _ in range(200):  # draw models until greedy is not the best: then one beam cannot pass
            model = tfm.Transformer(config).eval()
            model.output.bias[eos] += 0.5
            memory = model.encode(torch.randint(3, 5, (1, 3)))
            step = lambda tokens: model.decode(tokens, memory.expand(tokens.shape[0], -1, -1))[:, -1]
            _, best = max(outputs([bos], 0.0))
            greedy = [bos]
            while greedy[-1] != eos and len(greedy) < L + 1:
                greedy.append(int(step(torch.tensor([greedy])).argmax()))
            if greedy != best:
                break
        compare(call(beam_search, step, bos, eos, 25, L), torch.tensor([best]), "beam_size=25 output")

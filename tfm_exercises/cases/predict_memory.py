"""The tests of `predict_memory` (exercise 16b_predict_memory): generated from exercises/source/16b_predict_memory.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def named(got, want, known, what):
    """Fail with the mistake's name when got / want is a known ratio, else with the plain difference."""
    from fractions import Fraction
    from tfm_exercises.checks import Mistake, WrongValues, check
    if got != want and got > 0 and Fraction(got, want) in known:
        raise Mistake(f"you predicted {got:,} bytes, {what} is {want:,}: {known[Fraction(got, want)]}")
    check(got == want, f"you predicted {got:,} bytes, {what} is {want:,} (ratio {got / want:.3g})", WrongValues)


@case(points=2, hidden=False)
def test_fp32_training_bytes(predictions):
    """equals the bytes of a real GPT's weights, gradients and AdamW state (m, v) after one float32 step"""
    from fractions import Fraction
    import torch
    import tfm
    from tfm.memory import training_state_bytes
    from tfm.train import lm_loss
    from tfm_exercises.checks import call, prediction
    model = tfm.GPT(tfm.GPTConfig(vocab_size=1000, max_len=256, n_layers=4, d_model=256, n_heads=4))
    ids = torch.randint(1000, (2, 33))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    lm_loss(model(ids[:, :-1]), ids[:, 1:]).backward()
    optimizer.step()
    want = sum(p.nbytes + p.grad.nbytes + optimizer.state[p]["exp_avg"].nbytes + optimizer.state[p]["exp_avg_sq"].nbytes
               for p in model.parameters())
    n = sum(p.numel() for p in model.parameters())
    assert want == training_state_bytes(n, "fp32")["total"]              # the measurement and tfm.memory agree
    got = prediction(call(predictions), "fp32_training_bytes", want="an int (a number of bytes, e.g. 16 * 1_000)")
    named(got, want, {
        Fraction(1, 4): "only the weights: training also keeps a gradient per weight and AdamW's two moving "
                        "averages m and v, 4 bytes each in float32 (16 bytes per parameter)",
        Fraction(1, 2): "weights and gradients only: AdamW keeps two more float32 numbers per parameter, its moving "
                        "averages m and v (16 bytes per parameter in all)",
        Fraction(3, 4): "AdamW keeps TWO moving averages per parameter, m (of the gradient) and v (of its square): "
                        "4 + 4 + 4 + 4 = 16 bytes per parameter",
        Fraction(8): "that is bits, not bytes: a float32 number is 32 bits = 4 bytes",
        Fraction(2): "a float32 number is 4 bytes (32 bits), not 8",
    }, f"the training state of {n:,} parameters in float32")


@case(points=2, hidden=False)
def test_mixed_training_bytes(predictions):
    """equals a real bf16 GPT's weights and gradients plus a float32 master copy and AdamW's state, after one step"""
    from fractions import Fraction
    import copy
    import torch
    import tfm
    from tfm.memory import training_state_bytes
    from tfm.train import lm_loss
    from tfm_exercises.checks import call, prediction
    model = tfm.GPT(tfm.GPTConfig(vocab_size=1000, max_len=256, n_layers=4, d_model=256, n_heads=4))
    master = [p.detach().clone().requires_grad_() for p in model.parameters()]   # float32 copy the optimizer updates
    half = copy.deepcopy(model).to(torch.bfloat16)                                # runs forward and backward
    ids = torch.randint(1000, (2, 33))
    lm_loss(half(ids[:, :-1]).float(), ids[:, 1:]).backward()
    for p, h in zip(master, half.parameters()):
        p.grad = h.grad.float()                                                   # only while stepping
    optimizer = torch.optim.AdamW(master, lr=1e-3)
    optimizer.step()
    want = (sum(h.nbytes + h.grad.nbytes for h in half.parameters())
            + sum(p.nbytes + optimizer.state[p]["exp_avg"].nbytes + optimizer.state[p]["exp_avg_sq"].nbytes
                  for p in master))
    n = sum(p.numel() for p in model.parameters())
    assert want == training_state_bytes(n, "bf16 + fp32 master")["total"]
    got = prediction(call(predictions), "mixed_training_bytes", want="an int (a number of bytes, e.g. 16 * 1_000)")
    named(got, want, {
        Fraction(1, 2): "mixed precision does not halve the training state: only the weights and gradients used in "
                        "the passes are bf16; the master copy and AdamW's m and v stay float32 (2 + 2 + 4 + 8 = 16 "
                        "bytes per parameter, as in float32)",
        Fraction(3, 4): "something is missing: the recipe keeps bf16 weights (2 bytes) and gradients (2), a float32 "
                        "master copy of the weights (4) and AdamW's m and v in float32 (4 + 4): 16 bytes per parameter",
        Fraction(5, 8): "AdamW's m and v stay float32 (4 bytes each) next to the master copy: 2 + 2 + 4 + 8 = 16 "
                        "bytes per parameter",
        Fraction(8): "that is bits, not bytes: a bf16 number is 16 bits = 2 bytes, a float32 one 4 bytes",
    }, f"the mixed-precision training state of {n:,} parameters")


@case(points=2, hidden=True)
def test_kv_cache_bytes(predictions):
    """equals the bytes of the keys and values in a real GPT's KVCaches after 100 tokens (prompt length drawn)"""
    from fractions import Fraction
    import torch
    import tfm
    from tfm.memory import kv_cache_bytes
    from tfm_exercises.checks import call, prediction, rng
    model = tfm.GPT(tfm.GPTConfig(vocab_size=1000, max_len=256, n_layers=4, d_model=256, n_heads=4)).eval()
    ids = torch.randint(1000, (3, 100))
    prompt = rng().randint(1, 99)                                          # the split does not change the cache
    cache = model.decoder.new_cache()
    with torch.no_grad():
        model(ids[:, :prompt], cache=cache)
        for t in range(prompt, 100):
            model(ids[:, t : t + 1], cache=cache)
    want = sum(layer.self_attn.k.nbytes + layer.self_attn.v.nbytes for layer in cache)
    assert want == kv_cache_bytes(4, 4, 64, torch.float32, tokens=100, batch=3)
    got = prediction(call(predictions), "kv_cache_bytes", want="an int (a number of bytes, e.g. 16 * 1_000)")
    named(got, want, {
        Fraction(1, 2): "half the real size: each layer caches TWO vectors per token and head, a key and a value "
                        "(d_head float32 numbers each, 4 bytes apiece)",
        Fraction(8): "that is bits, not bytes: a float32 number is 32 bits = 4 bytes",
        Fraction(1, 4): "one layer's cache, or one quarter of it: every one of the 4 layers keeps its own keys and values",
        Fraction(1, 3): "one sequence only: the batch has 3, and each keeps its own keys and values",
        Fraction(4): "each head caches d_head = d_model / n_heads = 64 numbers per vector, not d_model",
        Fraction(1, 100): "one token only: the cache holds a key and a value for each of the 100 tokens read",
    }, f"the cache after 100 tokens (a prompt of {prompt}, then one at a time)")


@case(points=2, hidden=True)
def test_gqa_kv_cache_bytes(predictions):
    """equals tfm.memory.kv_cache_bytes and the bytes of real bf16 key/value tensors of one token, scaled up"""
    from fractions import Fraction
    import torch
    from tfm.memory import kv_cache_bytes
    from tfm_exercises.checks import call, prediction
    layers, kv_heads, d_head, tokens, batch = 32, 8, 128, 4096, 8
    k, v = torch.randn(2, 1, kv_heads, 1, d_head).to(torch.bfloat16).unbind(0)   # one token's (1, G, 1, d_head)
    want = kv_cache_bytes(layers, kv_heads, d_head, torch.bfloat16, tokens=tokens, batch=batch)
    assert want == (k.nbytes + v.nbytes) * layers * tokens * batch
    got = prediction(call(predictions), "gqa_kv_cache_bytes", want="an int (a number of bytes, e.g. 16 * 1_000)")
    named(got, want, {
        Fraction(4): "you cached the 32 query heads: with grouped-query attention only the 8 key/value heads have "
                     "keys and values, each shared by 4 query heads",
        Fraction(1, 2): "half the real size: the cache holds a key AND a value per token, head and layer",
        Fraction(2): "bf16 takes 2 bytes per number (16 bits), not 4",
        Fraction(8): "that is bits, not bytes: a bf16 number is 16 bits = 2 bytes",
        Fraction(1, 32): "one layer only: each of the 32 layers keeps its own cache",
        Fraction(1, 8): "one sequence only: each of the 8 sequences keeps its own cache",
    }, "the grouped-query cache of 8 sequences of 4,096 tokens")

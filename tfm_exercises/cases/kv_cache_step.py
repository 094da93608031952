"""The tests of `kv_cache_step` (exercise 16_kv_cache): generated from exercises/source/16_kv_cache.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def unpack(result, what):
    """(out, (k, v)) from the student's result, or a failure saying what is wrong with its form."""
    from tfm_exercises.checks import WrongType, tensor, type_name
    if result is None:
        raise WrongType(f"{what} returned None: did you forget `return`? (the `...` placeholder returns None)")
    if not (isinstance(result, tuple) and len(result) == 2):
        raise WrongType(f"{what} should return a tuple (out, (k, v)), got {type_name(result)}")
    out, cache = result
    if not (isinstance(cache, tuple) and len(cache) == 2):
        raise WrongType(f"the cache that {what} returns should be a tuple (k, v), got {type_name(cache)}")
    return tensor(out, "the output"), tensor(cache[0], "the cached keys"), tensor(cache[1], "the cached values")


def no_shortcut(*args, **kwargs):
    raise RuntimeError("build the step from attn.w_q, w_k, w_v, w_o instead of calling attn(...)")


def step_mistakes(attn, x, start):
    """The outputs for positions start .. T-1 that the usual mistakes give, (B, T - start, d_model) each."""
    import math
    import torch
    q, k, v = (attn.split_heads(w(x)) for w in (attn.w_q, attn.w_k, attn.w_v))   # (B, H, T, d_head)
    def run(scale, n_keys, project=True):
        outs = []
        for t in range(start, x.size(1)):
            n = n_keys(t)
            w = (q[:, :, t : t + 1] @ k[:, :, :n].transpose(-2, -1) / scale).softmax(-1)
            o = attn.merge_heads(w @ v[:, :, :n])
            outs.append(attn.w_o(o) if project else o)
        return torch.cat(outs, dim=1)
    d_head = attn.d_head
    return [
        ("the scores are not scaled: divide q k^T by sqrt(d_head), as every attention does",
         lambda: run(1.0, lambda t: t + 1)),
        ("the scores are divided by sqrt(d_model): each head's scores are divided by sqrt(d_head) = "
         "sqrt(d_model / n_heads)", lambda: run(math.sqrt(attn.d_model), lambda t: t + 1)),
        ("the new token attends only to the earlier tokens: append its key and value to the cache BEFORE "
         "attending, so that it also sees itself", lambda: run(math.sqrt(d_head), lambda t: max(t, 1))),
        ("the output projection W_O is missing: merge the heads, then apply attn.w_o",
         lambda: run(math.sqrt(d_head), lambda t: t + 1, project=False)),
    ]


@case(points=1, hidden=False)
def test_first_token(attend_with_cache):
    """the first token (cache None): attn(x, x, x) of one token, and a cache of one key and one value per head"""
    import torch
    import tfm
    from tfm_exercises.checks import WrongShape, call, check, compare
    attn = tfm.MultiHeadAttention(16, 4).eval()
    forward = attn.forward
    attn.forward = no_shortcut
    attn._tfm_blocked = "build the step from attn.w_q, w_k, w_v, w_o instead of calling attn(...)"  # for the grader
    x = torch.randn(2, 1, 16)
    with torch.no_grad():
        out, k, v = unpack(call(attend_with_cache, attn, x, None), "attend_with_cache(attn, x_new, None)")
        attn.forward = forward
        compare(out, attn(x, x, x), "the output for the first token",
                mistakes=[("the output projection W_O is missing: merge the heads, then apply attn.w_o",
                           attn.merge_heads(attn.split_heads(attn.w_v(x))))])
    for name, got in (("keys", k), ("values", v)):
        check(tuple(got.shape) == (2, 4, 1, 4), f"the cached {name} have shape {tuple(got.shape)}; after one token "
              "the cache holds one projected key and one value per head: (B, H, 1, d_head) = (2, 4, 1, 4)"
              + (": you cached the token's vector itself, not what W_K and W_V make of it"
                 if tuple(got.shape) == (2, 1, 16) else ""), WrongShape)


@case(points=2, hidden=False)
def test_cache_holds_keys_and_values(attend_with_cache):
    """after 6 steps the cache holds every token's projected key and value, split into heads"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    attn = tfm.MultiHeadAttention(16, 4).eval()
    attn._tfm_blocked = "build the step from attn.w_q, w_k, w_v, w_o instead of calling attn(...)"  # for the grader
    x = torch.randn(2, 6, 16)
    cache = None
    with torch.no_grad():
        for t in range(6):
            _, k, v = unpack(call(attend_with_cache, attn, x[:, t : t + 1], cache), f"attend_with_cache at step {t}")
            cache = (k, v)
        keys, values = attn.split_heads(attn.w_k(x)), attn.split_heads(attn.w_v(x))   # (B, H, T, d_head)
        for name, got, want, other in (("keys", k, keys, values), ("values", v, values, keys)):
            compare(got, want, f"the cached {name} after 6 tokens", mistakes=[
                ("the cache holds the tokens' vectors: cache what the projections make of them (split into heads), "
                 "so that no later step has to project the past again", x),
                ("the cache holds the tokens' vectors split into heads, not projected: apply W_K and W_V first",
                 attn.split_heads(x)),
                (f"keys and values are swapped: the cached {name} must come from W_{name[0].upper()}", other),
                ("the cache did not grow by the new token: return the cache with its key and value appended",
                 want[:, :, :5]),
                ("the cache holds the queries: a later token needs the keys and values of the past, never its queries",
                 attn.split_heads(attn.w_q(x))),
            ])


@case(points=2, hidden=False)
def test_each_step_equals_full_attention(attend_with_cache):
    """7 tokens one at a time: each output equals that row of attn(x, x, x, is_causal=True)"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    attn = tfm.MultiHeadAttention(16, 4).eval()
    forward = attn.forward
    attn.forward = no_shortcut
    attn._tfm_blocked = "build the step from attn.w_q, w_k, w_v, w_o instead of calling attn(...)"  # for the grader
    x = torch.randn(2, 7, 16)
    cache, outs = None, []
    with torch.no_grad():
        for t in range(7):
            out, k, v = unpack(call(attend_with_cache, attn, x[:, t : t + 1], cache), f"attend_with_cache at step {t}")
            cache = (k, v)
            outs.append(out)
        attn.forward = forward
        compare(torch.cat(outs, dim=1), attn(x, x, x, is_causal=True), "the outputs of 7 steps, side by side",
                mistakes=step_mistakes(attn, x, 0))


@case(points=2, hidden=True)
def test_continues_a_tfm_cache(attend_with_cache):
    """sizes drawn at grading time; continues a tfm KVCache filled from a prompt: outputs and cache equal tfm's"""
    import torch
    import tfm
    from tfm.attention import KVCache
    from tfm_exercises.checks import call, compare, rng
    B, H, d_head = rng().randint(1, 3), rng().randint(2, 4), rng().randint(4, 8)
    prompt, steps = rng().randint(2, 8), rng().randint(3, 6)
    attn = tfm.MultiHeadAttention(H * d_head, H).eval()
    x = torch.randn(B, prompt + steps, H * d_head)
    ours = KVCache()
    with torch.no_grad():
        attn(x[:, :prompt], x[:, :prompt], x[:, :prompt], cache=ours, is_causal=True)   # the prompt, all at once
        cache, outs = (ours.k.clone(), ours.v.clone()), []
        for t in range(prompt, prompt + steps):
            new = x[:, t : t + 1]
            out, k, v = unpack(call(attend_with_cache, attn, new, cache), f"attend_with_cache at step {t}")
            cache = (k, v)
            outs.append(out)
            attn(new, new, new, cache=ours, is_causal=True)                              # tfm's cache, one step
        what = f"B={B}, {H} heads of {d_head}, a prompt of {prompt}, {steps} steps"
        compare(torch.cat(outs, dim=1), attn(x, x, x, is_causal=True)[:, prompt:], f"the outputs ({what})",
                mistakes=step_mistakes(attn, x, prompt))
        compare(k, ours.k, f"the cached keys at the end ({what})")
        compare(v, ours.v, f"the cached values at the end ({what})")

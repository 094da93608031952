"""The tests of `count_gpt_params` (exercise 14_gpt_parameters): generated from exercises/source/14_gpt_parameters.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_returns_an_int(count_gpt_params):
    """returns a Python int"""
    import tfm
    from tfm_exercises.checks import call, integer
    integer(call(count_gpt_params, tfm.GPTConfig(vocab_size=50, max_len=16, n_layers=2, d_model=12, n_heads=2)),
            "count_gpt_params(config)")


@case(points=2, hidden=False)
def test_small_config(count_gpt_params):
    """equals sum(p.numel() for p in tfm.GPT(config).parameters())"""
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, integer
    c = tfm.GPTConfig(vocab_size=50, max_len=16, n_layers=2, d_model=12, n_heads=2)
    want = sum(p.numel() for p in tfm.GPT(c).parameters())
    got = integer(call(count_gpt_params, c), "count_gpt_params(config)")
    d, n, V = c.d_model, c.n_layers, c.vocab_size
    known = {
        V * d: "you counted the output layer as a separate matrix: GPT ties it to the token embedding, so it "
               "adds no parameters",
        V * d + V: "you counted the output layer (with a bias): GPT ties it to the token embedding and it has "
                   "no bias, so it adds nothing",
        -c.max_len * d: "the learned position embeddings are missing: max_len x d_model",
        -2 * d: "the final LayerNorm after the last block is missing (gamma and beta: 2 x d_model)",
        -n * 4 * d: "the two LayerNorms of each block are missing (2 x (gamma + beta) per block)",
        -n * 2 * d: "each block has two LayerNorms, you counted one",
        -n * (4 * d + c.d_ff + d): "the biases of the linear layers are missing (4 x d_model for the attention, "
                                   "d_ff + d_model for the feed-forward block, per block)",
        -n * (d * d + d): "W_O, the attention's output projection, is missing (d_model x d_model + d_model per block)",
    }
    if got != want and got - want in known:
        raise Mistake(f"you counted {got:,}, the model has {want:,}: {known[got - want]}")
    check(got == want, f"for {c} you counted {got:,} parameters, the model has {want:,} "
          f"(difference {got - want:+,})", WrongValues)


@case(points=2, hidden=False)
def test_gpt3_small(count_gpt_params):
    """GPT-3 Small (the paper's 125M) equals tfm.params.count_parameters"""
    from tfm.params import count_parameters, get_preset
    from tfm_exercises.checks import call, check, integer
    c = get_preset("gpt3-small")
    want, got = count_parameters(c), integer(call(count_gpt_params, c), "count_gpt_params(config)")
    check(got == want, f"GPT-3 Small: you counted {got:,}, expected {want:,} (difference {got - want:+,})")


@case(points=1, hidden=False)
def test_without_biases(count_gpt_params):
    """bias=False: no linear biases and no LayerNorm betas"""
    import tfm
    from tfm_exercises.checks import call, check, integer
    c = tfm.GPTConfig(vocab_size=30, max_len=8, n_layers=3, d_model=8, n_heads=2, bias=False)
    want, got = sum(p.numel() for p in tfm.GPT(c).parameters()), integer(call(count_gpt_params, c), "count_gpt_params(config)")
    check(got == want, f"with bias=False you counted {got:,}, the model has {want:,} (difference {got - want:+,}): "
          "without biases, linear layers have only weights and LayerNorms only gamma")


@case(points=1, hidden=True)
def test_custom_d_ff_and_gpt3_175b(count_gpt_params):
    """a d_ff other than 4 x d_model, and GPT-3 175B"""
    import tfm
    from tfm.params import count_parameters, get_preset
    from tfm_exercises.checks import call, check, integer, rng
    H = rng().randint(1, 4)
    d = H * rng().randint(2, 6)
    c = tfm.GPTConfig(vocab_size=rng().randint(20, 90), max_len=rng().randint(4, 30), n_layers=rng().randint(1, 4),
                      d_model=d, n_heads=H, d_ff=4 * d + rng().randint(1, 9), bias=rng().random() < 0.5)
    want, got = sum(p.numel() for p in tfm.GPT(c).parameters()), integer(call(count_gpt_params, c), "count_gpt_params(config)")
    check(got == want, f"with d_ff={c.d_ff} (bias={c.bias}) you counted {got:,}, the model has {want:,}: use "
          "config.d_ff, not 4 x d_model")
    c = get_preset("gpt3-175b")
    want, got = count_parameters(c), integer(call(count_gpt_params, c), "count_gpt_params(config)")
    check(got == want, f"GPT-3 175B: you counted {got:,}, expected {want:,}")

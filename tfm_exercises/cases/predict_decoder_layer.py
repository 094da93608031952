"""The tests of `predict_decoder_layer` (exercise 11b_predict_decoder_layer): generated from exercises/source/11b_predict_decoder_layer.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=3, hidden=False)
def test_decoder_layer_params(predictions):
    """the parameter count equals sum(p.numel() for p in layer.parameters())"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    layer = tfm.DecoderLayer(d_model=512, n_heads=8, d_ff=2048, dropout=0.0).eval()
    y, memory = torch.randn(2, 7, 512), torch.randn(2, 11, 512)
    with torch.no_grad():
        out, weights = layer(y, memory, self_mask=tfm.causal_mask(7), return_weights=True)
    answers = call(predictions)

    got = prediction(answers, "decoder_layer_params", "int")
    want = sum(p.numel() for p in layer.parameters())
    d, f = 512, 2048
    attn, norm = 4 * (d * d + d), 2 * d
    known = {
        -(8 * d + f + d): "the biases of the linear layers are missing (each of the 8 attention projections and the "
                          "2 feed-forward layers has one bias per output feature)",
        -(8 * d + f + d + 3 * d): "the biases are missing: those of the linear layers and the LayerNorms' betas",
        -3 * d: "each LayerNorm has two vectors, a scale gamma and a shift beta; you counted one",
        -attn: "one attention is missing: a decoder layer has two, masked self-attention and cross-attention, each "
               "with its own W_Q, W_K, W_V and W_O",
        -attn - norm: "the cross-attention sub-layer is missing (its four projections and its LayerNorm)",
        -norm: "one LayerNorm is missing: each of the three sub-layers has its own",
        -3 * norm: "the LayerNorms are missing (three sub-layers, gamma and beta each)",
        -2 * (d * d + d): "W_O is missing: each attention ends with an output projection d_model -> d_model",
        7 * 2 * 3 * (d * d + d): "you gave every head its own d_model x d_model projections: the 8 heads split "
                                 "d_model = 512 between them (64 each), so the projections stay 512 x 512 in all",
    }
    if got != want and got - want in known:
        raise Mistake(f"you predicted {got:,}, the layer has {want:,}: {known[got - want]}")
    check(got == want, f"you predicted {got:,} parameters, the layer has {want:,} (difference {got - want:+,}). "
          "List every linear layer and norm of the three sub-layers.", WrongValues)


@case(points=2, hidden=False)
def test_cross_weights_shape(predictions):
    """the shape of the cross-attention weights equals the real one"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    layer = tfm.DecoderLayer(d_model=512, n_heads=8, d_ff=2048, dropout=0.0).eval()
    y, memory = torch.randn(2, 7, 512), torch.randn(2, 11, 512)
    with torch.no_grad():
        out, weights = layer(y, memory, self_mask=tfm.causal_mask(7), return_weights=True)
    answers = call(predictions)

    got, want = prediction(answers, "cross_weights_shape", "shape"), tuple(weights["cross"].shape)
    known = {
        (2, 8, 11, 7): "rows and columns are swapped: one row per query (the 7 target positions, from y), one "
                       "column per key (the 11 source tokens, from memory)",
        (2, 8, 7, 7): "that is the self-attention's shape: in cross-attention the keys are the 11 source tokens",
        (2, 8, 11, 11): "the queries come from the decoder (7 target positions), only the keys and values from the "
                        "encoder's 11 tokens",
        (2, 7, 11): "the heads are missing: each of the 8 heads has its own weights, (B, heads, queries, keys)",
        (2, 11, 7): "the heads are missing and rows and columns are swapped: (B, heads, queries, keys)",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, the weights have shape {want}: {known[got]}")
    check(got == want, f"you predicted {got}, the cross-attention weights have shape {want}", WrongValues)


@case(points=1, hidden=True)
def test_output_shape(predictions):
    """the shape of the layer's output equals the real one"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    layer = tfm.DecoderLayer(d_model=512, n_heads=8, d_ff=2048, dropout=0.0).eval()
    y, memory = torch.randn(2, 7, 512), torch.randn(2, 11, 512)
    with torch.no_grad():
        out, weights = layer(y, memory, self_mask=tfm.causal_mask(7), return_weights=True)
    answers = call(predictions)

    got, want = prediction(answers, "output_shape", "shape"), tuple(out.shape)
    known = {
        (2, 11, 512): "the output has one vector per target position (per query), not per source token",
        (2, 8, 7, 64): "the heads are merged and projected by W_O before the output: (B, T, d_model)",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, the output has shape {want}: {known[got]}")
    check(got == want, f"you predicted {got}, the output has shape {want}", WrongValues)


@case(points=2, hidden=True)
def test_zero_self_weights(predictions):
    """the number of exact zeros in one head's causal self-attention weights equals the real one"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    layer = tfm.DecoderLayer(d_model=512, n_heads=8, d_ff=2048, dropout=0.0).eval()
    y, memory = torch.randn(2, 7, 512), torch.randn(2, 11, 512)
    with torch.no_grad():
        out, weights = layer(y, memory, self_mask=tfm.causal_mask(7), return_weights=True)
    answers = call(predictions)

    got = prediction(answers, "zero_self_weights", "int")
    want = int((weights["self"][0, 0] == 0).sum())
    known = {
        28: "28 is the number of visible entries (the diagonal included), and the hidden ones are the others: a "
            "token may attend to itself, only the keys after it get weight 0",
        0: "the causal mask makes the hidden weights exactly 0 (the scores become -inf before the softmax)",
        42: "only the strict upper triangle is hidden (the keys after each query), not everything off the diagonal",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, the weights have {want} zeros: {known[got]}")
    check(got == want, f"you predicted {got}, one head's 7 x 7 causal weights have {want} exact zeros", WrongValues)

"""The tests of `predict_feed_forward` (exercise 06b_predict_feed_forward): generated from exercises/source/06b_predict_feed_forward.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=2, hidden=False)
def test_ffn_params(predictions):
    """the feed-forward block's parameter count equals sum(p.numel() for p in ffn.parameters())"""
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    ffn = tfm.PositionwiseFeedForward(512, 2048, dropout=0.0)
    got = prediction(call(predictions, 3, 10), "ffn_params", "int", asked="predictions(B, T)")
    want = sum(p.numel() for p in ffn.parameters())
    d, f = 512, 2048
    known = {
        -(f + d): "the biases are missing: linear1 has one per hidden feature (d_ff), linear2 one per output "
                  "feature (d_model)",
        -f: "b_1 is missing: the first layer has a bias for each of its d_ff = 2048 outputs",
        -d: "b_2 is missing: the second layer has a bias for each of its d_model = 512 outputs",
        -(d * f + d): "the second layer is missing: W_2 (d_ff x d_model) and b_2 bring the vector back to d_model",
        -(d * f + f): "the first layer is missing: W_1 (d_model x d_ff) and b_1 widen the vector to d_ff",
        f - d: "the second layer's bias has d_model = 512 entries, one per output, not d_ff",
    }
    if got != want and got - want in known:
        raise Mistake(f"you predicted {got:,}, the block has {want:,}: {known[got - want]}")
    check(got == want, f"you predicted {got:,} parameters, the block has {want:,} (difference {got - want:+,}). "
          "List its two linear layers, each with a weight matrix and a bias.", WrongValues)


@case(points=2, hidden=False)
def test_encoder_layer_params(predictions):
    """the encoder layer's parameter count equals sum(p.numel() for p in layer.parameters())"""
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    layer = tfm.EncoderLayer(512, 8, 2048, dropout=0.0)
    got = prediction(call(predictions, 3, 10), "encoder_layer_params", "int", asked="predictions(B, T)")
    want = sum(p.numel() for p in layer.parameters())
    ffn = sum(p.numel() for p in layer.ff.parameters())
    d, f = 512, 2048
    attn, norm = 4 * (d * d + d), 2 * d
    known = {
        -2 * norm: "the LayerNorms are missing: each of the two add & norm steps has its own, gamma and beta",
        -norm: "one LayerNorm is missing: each of the two sub-layers has its own add & norm",
        -2 * d: "each LayerNorm has two vectors, a scale gamma and a shift beta; you counted one",
        -4 * d: "the biases of the attention's four projections are missing (d_model each)",
        -(4 * d + f + d): "the biases of the linear layers are missing (the four projections' and the FFN's two)",
        -(d * d + d): "W_O is missing: attention ends with an output projection d_model -> d_model",
        -attn: "the self-attention is missing: W_Q, W_K, W_V and W_O, each d_model x d_model with a bias",
        -attn - norm: "the self-attention sub-layer is missing (its four projections and its LayerNorm)",
        attn + norm: "that is a decoder layer's count: an encoder layer has no cross-attention (and two LayerNorms)",
        7 * 4 * (d * d + d): "you gave every head its own d_model x d_model projections: the 8 heads split "
                             "d_model = 512 between them (64 each), so the projections stay 512 x 512 in all",
    }
    if got != want and got - want in known:
        raise Mistake(f"you predicted {got:,}, the layer has {want:,}: {known[got - want]}")
    if got == ffn:
        raise Mistake(f"you predicted the block's own count, {got:,}: the layer also holds the self-attention "
                      "and two LayerNorms")
    check(got == want, f"you predicted {got:,} parameters, the layer has {want:,} (difference {got - want:+,}). "
          "List every linear layer and norm of its two sub-layers.", WrongValues)


@case(points=2, hidden=False)
def test_flops(predictions):
    """B = 3, T = 10: the FLOPs equal what torch.utils.flop_counter.FlopCounterMode counts"""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    B, T, d, f = 3, 10, 512, 2048
    ffn = tfm.PositionwiseFeedForward(d, f, dropout=0.0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        ffn(torch.randn(B, T, d))
    want = counter.get_total_flops()
    got = prediction(call(predictions, B, T), "flops", "int", asked="predictions(B, T)")
    n = B * T
    known = {
        want // 2: "half the count: either you counted a multiply-add as 1 operation (the counter counts 2: a "
                   "multiplication and an addition), or you forgot one of the two layers (d_model -> d_ff, then "
                   "d_ff -> d_model, as large as each other)",
        want // 4: "a quarter of the count: a multiply-add counts as 2 operations, and there are two layers",
        want + n * (f + d): "the counter counts the matrix products only: the bias additions (and the ReLU) are "
                            "not in it (they are a few thousand times smaller)",
        want + n * (2 * f + d): "the counter counts the matrix products only: the bias additions and the ReLU are "
                                "not in it (they are a few thousand times smaller)",
        want // n: "that is the count for one token: the block runs once per token, B * T = 30 times",
        want // B: "that is the count for one sequence: multiply by the batch size B",
        want // T: "the sequence length T is missing: the block runs on each of the T tokens of every sequence",
        want * T: "the count grows like T, not T ** 2: each token goes through the block on its own "
                  "(attention's scores are the part that grows like T ** 2)",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got:,} FLOPs for B = {B}, T = {T}, the counter says {want:,}: {known[got]}")
    check(got == want, f"you predicted {got:,} FLOPs for B = {B}, T = {T}, the counter says {want:,}", WrongValues)


@case(points=1, hidden=True)
def test_flops_other_batch(predictions):
    """B and T drawn at grading time: the FLOPs equal FlopCounterMode's count (a formula in B and T)"""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction, rng
    B, T, d, f = rng().randint(3, 6), rng().randint(11, 40), 512, 2048
    T = T + 1 if B * T == 3 * 10 * 2 else T                 # not twice the public test's batch (its count halved)
    ffn = tfm.PositionwiseFeedForward(d, f, dropout=0.0).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        ffn(torch.randn(B, T, d))
    want = counter.get_total_flops()
    got = prediction(call(predictions, B, T), "flops", "int", asked="predictions(B, T)")
    if got != want and got == 4 * 3 * 10 * d * f:
        raise Mistake(f"you predicted {got:,} FLOPs for B = {B}, T = {T}: that is the count for B = 3, T = 10. "
                      "Write the FLOPs as a formula in B and T")
    if got != want and got == want // 2:
        raise Mistake(f"you predicted {got:,} FLOPs for B = {B}, T = {T}, the counter says {want:,}: half the "
                      "count (a multiply-add counts as 2, and there are two layers)")
    check(got == want, f"you predicted {got:,} FLOPs for B = {B}, T = {T}, the counter says {want:,}", WrongValues)


@case(points=1, hidden=True)
def test_output_shape(predictions):
    """B and T drawn at grading time: the output's shape equals the real one"""
    import torch
    import tfm
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction, rng
    B, T = rng().randint(3, 6), rng().randint(11, 40)
    ffn = tfm.PositionwiseFeedForward(512, 2048, dropout=0.0).eval()
    with torch.no_grad():
        want = tuple(ffn(torch.randn(B, T, 512)).shape)
    got = prediction(call(predictions, B, T), "output_shape", "shape", asked="predictions(B, T)")
    known = {
        (B, T, 2048): "that is the hidden layer's shape: linear2 projects each token back to d_model = 512",
        (B * T, 512): "the block keeps the batch and sequence dimensions: nn.Linear works on the last one only",
        (3, 10, 512): "that is the shape for B = 3, T = 10: write it in terms of B and T",
        (B, 512): "each token keeps its own output vector: the block does not pool over the sequence",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, the output has shape {want}: {known[got]}")
    check(got == want, f"you predicted {got}, the output has shape {want}", WrongValues)

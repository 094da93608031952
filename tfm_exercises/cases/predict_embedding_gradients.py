"""The tests of `predict_embedding_gradients` (exercise 02b_predict_embedding_gradients): generated from exercises/source/02b_predict_embedding_gradients.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def run_model(tie, shuffle=False):
    """The exercise's model and batch, one backward pass: (model, logits, src, tgt). Weights from torch's
    generator; with shuffle, the rows of the batch in an order drawn at grading time (the answers hold for any)."""
    import torch
    import torch.nn.functional as F
    import tfm
    from tfm_exercises.checks import rng
    config = tfm.TransformerConfig(src_vocab_size=1000, tgt_vocab_size=1000, d_model=64, n_heads=4, d_ff=128,
                                   n_encoder_layers=1, n_decoder_layers=1, dropout=0.0,
                                   share_embeddings=True, tie_output=tie)
    src = torch.tensor([[17, 42, 42, 8, 99],
                        [8, 5, 17, 23, 61]])
    tgt = torch.tensor([[1, 42, 7, 7, 300, 2],
                        [1, 64, 8, 99, 5, 2]])
    if shuffle:
        order = [0, 1]
        rng().shuffle(order)
        src, tgt = src[order], tgt[order]
    model = tfm.Transformer(config)
    logits = model(src, tgt[:, :-1])
    F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten()).backward()
    return model, logits, src, tgt


def rows_with_gradient(model):
    """How many rows of the (shared) embedding matrix have a gradient that is not exactly zero."""
    return int((model.src_embed.weight.grad != 0).any(dim=1).sum())


@case(points=2, hidden=False)
def test_rows_with_gradient_untied(predictions):
    """untied: the number of embedding rows with a non-zero gradient equals the real model's (autograd)"""
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    model, logits, src, tgt = run_model(tie=False)
    want = rows_with_gradient(model)
    got = prediction(call(predictions), "rows_with_gradient_untied", "int")
    looked_up = set(src.flatten().tolist()) | set(tgt[:, :-1].flatten().tolist())
    with_targets = looked_up | set(tgt[:, 1:].flatten().tolist())
    known = {
        src.numel() + tgt[:, :-1].numel(): "you counted every lookup, repeats included: a token used twice reads "
                                           "the same row twice, and that row gets one gradient (the sum of both)",
        len(with_targets): "you counted the targets too: the decoder looks up tgt[:, :-1] only; the targets "
                           "tgt[:, 1:] enter the loss through the output layer, which, untied, is its own matrix",
        len(set(src.flatten().tolist())): "you counted the source ids only: with share_embeddings=True the "
                                          "decoder's input tgt[:, :-1] is looked up in the same matrix",
        len(set(tgt[:, :-1].flatten().tolist())): "you counted the decoder's ids only: with share_embeddings=True "
                                                  "the source is looked up in the same matrix",
        1000: "untied, only the rows that are looked up get a gradient: the lookup is a one-hot product, zero "
              "for every other row (chapter 2)",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, {want} rows get a gradient: {known[got]}")
    check(got == want, f"you predicted {got}, {want} rows of the embedding get a non-zero gradient", WrongValues)


@case(points=2, hidden=False)
def test_rows_with_gradient_tied(predictions):
    """tied: the number of embedding rows with a non-zero gradient equals the real model's (autograd)"""
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    model, logits, src, tgt = run_model(tie=True)
    check(model.output.weight is model.src_embed.weight, "the tied model's output layer should be its embedding")
    want = rows_with_gradient(model)
    got = prediction(call(predictions), "rows_with_gradient_tied", "int")
    looked_up = set(src.flatten().tolist()) | set(tgt[:, :-1].flatten().tolist())
    with_targets = looked_up | set(tgt[:, 1:].flatten().tolist())
    known = {
        len(looked_up): "that is the untied answer: tied, the output layer is the embedding matrix, and the softmax "
                        "gives every token a probability p_i > 0, so every row gets (p_i - y_i) h from the output "
                        "layer, looked up or not (chapter 2, 'Tying changes which rows learn')",
        len(with_targets): "not only the target rows: the softmax gives every token p_i > 0, so every row of the "
                           "output matrix (which, tied, is the embedding) gets a gradient (p_i - y_i) h",
        999: "the <pad> row too: its lookups give it no gradient (padding_idx), but the output layer scores <pad> "
             "like any other token, and its p_0 > 0",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, {want} rows get a gradient: {known[got]}")
    check(got == want, f"you predicted {got}, {want} rows of the tied embedding get a non-zero gradient", WrongValues)


@case(points=2, hidden=True)
def test_embedding_and_output_parameters(predictions):
    """the parameters of the embedding and the output layer, untied and tied, equal the real models'"""
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    answers = call(predictions)
    V, d = 1000, 64
    for tie, key in ((False, "params_untied"), (True, "params_tied")):
        model, _, _, _ = run_model(tie=tie, shuffle=True)
        layers = sum(p.numel() for p in model.encoder.parameters()) + sum(p.numel() for p in model.decoder.parameters())
        want = sum(p.numel() for p in model.parameters()) - layers     # parameters() lists a shared tensor once
        got = prediction(answers, key, "int")
        known = {
            (False, 2 * V * d): "the untied output layer has a bias too, one per token: V * d_model + V",
            (False, 3 * V * d + V): "share_embeddings=True: source and target use one embedding matrix, counted once",
            (False, V * d): "untied, the output layer is a matrix of its own (and a bias): V * d_model + V more",
            (True, 2 * V * d): "tied, the output layer IS the embedding matrix: one matrix, counted once",
            (True, 2 * V * d + V): "tied, the output layer IS the embedding matrix: one matrix, counted once (and "
                                   "tfm's tied output layer has no bias)",
            (True, V * d + V): "tfm's tied output layer has no bias (TransformerConfig: 'then it has no bias'): "
                               "only the shared V x d_model matrix",
        }
        if got != want and (tie, got) in known:
            raise Mistake(f"{key}: you predicted {got:,}, the model has {want:,}: {known[(tie, got)]}")
        check(got == want, f"{key}: you predicted {got:,}, the embedding and output layer have {want:,} parameters",
              WrongValues)


@case(points=1, hidden=True)
def test_logits_shape(predictions):
    """the shape of the logits equals the real one"""
    from tfm_exercises.checks import Mistake, WrongValues, call, check, prediction
    model, logits, src, tgt = run_model(tie=True, shuffle=True)
    want = tuple(logits.shape)
    got = prediction(call(predictions), "logits_shape", "shape")
    known = {
        (2, 6, 1000): "the decoder reads tgt[:, :-1], 5 tokens per row (teacher forcing), and gives one row of "
                      "logits per token it reads",
        (2, 5, 64): "the output layer maps each d_model vector to one logit per token of the vocabulary",
        (10, 1000): "that is the shape after flatten(0, 1) for the loss; the model returns (B, T, V)",
    }
    if got != want and got in known:
        raise Mistake(f"you predicted {got}, the logits have shape {want}: {known[got]}")
    check(got == want, f"you predicted {got}, the logits have shape {want}", WrongValues)

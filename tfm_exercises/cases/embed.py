"""The tests of `embed` (exercise 02_embedding): generated from exercises/source/02_embedding.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


@case(points=1, hidden=False)
def test_shape(embed):
    """(B, T) ids and a (vocab_size, d_model) matrix give (B, T, d_model)"""
    import torch
    from tfm_exercises.checks import WrongShape, call, check, tensor
    ids = torch.tensor([[1, 2, 3], [3, 0, 0]])
    out = tensor(call(embed, ids, torch.randn(5, 4)), "embed(ids, weight)")
    check(tuple(out.shape) == (2, 3, 4), f"expected shape (2, 3, 4), got {tuple(out.shape)}", WrongShape)


@case(points=3, hidden=False)
def test_values(embed):
    """equals tfm.TokenEmbedding with the same matrix"""
    import math
    import torch
    import tfm
    from tfm_exercises.checks import call, compare
    V, d = 7, 16
    weight = torch.randn(V, d)
    ids = torch.tensor([[1, 5, 6, 0], [2, 2, 3, 4]])
    reference = tfm.TokenEmbedding(V, d)
    with torch.no_grad():
        reference.weight.copy_(weight)
    mistakes = [
        ("the rows are right but not scaled: multiply by sqrt(d_model) (the paper's scaling, section 3.4)",
         weight[ids]),
        ("you multiplied by d_model; the paper multiplies by sqrt(d_model)", weight[ids] * d),
        ("you divided by sqrt(d_model); the paper multiplies by it", weight[ids] / math.sqrt(d)),
        ("you picked columns of the matrix instead of rows: row i of the (vocab_size, d_model) matrix is "
         "token i's vector", lambda: weight.T[:, ids].permute(1, 2, 0) * math.sqrt(d)),
    ]
    compare(call(embed, ids, weight.clone()), reference(ids).detach(), "your embeddings", mistakes=mistakes)


@case(points=1, hidden=True)
def test_gradient_reaches_the_matrix(embed):
    """the gradient flows back into the embedding matrix, as in tfm.TokenEmbedding"""
    import torch
    import tfm
    from tfm_exercises.checks import WrongValues, check, compare, gradient
    V, d = 6, 9
    weight = torch.randn(V, d)
    ids = torch.tensor([[1, 1, 2], [5, 0, 1]])
    cotangent = torch.arange(2 * 3 * d, dtype=torch.float32).view(2, 3, d)
    _, grad = gradient(embed, (ids, weight), 1, cotangent, name="embed")
    check(grad is not None,
          "the result is not connected to `weight` (no gradient would reach it): avoid .detach(), .tolist() "
          "and building new tensors from the values", WrongValues)
    reference = tfm.TokenEmbedding(V, d)
    with torch.no_grad():
        reference.weight.copy_(weight)
    (reference(ids) * cotangent).sum().backward()
    compare(grad, reference.weight.grad, "the gradient of the matrix")


@case(points=1, hidden=True)
def test_other_sizes(embed):
    """a single id, and a larger vocabulary"""
    import torch
    import tfm
    from tfm_exercises.checks import call, compare, rng
    V, d = rng().randint(20, 80), rng().randint(2, 16)
    for V, d, ids in ((3, 2, torch.tensor([[2]])), (V, d, torch.randint(0, V, (rng().randint(1, 4), 8)))):
        weight = torch.randn(V, d)
        reference = tfm.TokenEmbedding(V, d)
        with torch.no_grad():
            reference.weight.copy_(weight)
        compare(call(embed, ids, weight), reference(ids).detach(), f"embed for vocab_size={V}, d_model={d}")

from otter.test_files import test_case

OK_FORMAT = False

name = "embed"
points = None

@test_case(points=1, hidden=False)
def test_shape(embed):
    """(B, T) ids and a (vocab_size, d_model) matrix give (B, T, d_model)"""
    import torch
    from exercises.checks import WrongShape, call, check, tensor
    ids = torch.tensor([[1, 2, 3], [3, 0, 0]])
    out = tensor(call(embed, ids, torch.randn(5, 4)), 'embed(ids, weight)')
    check(tuple(out.shape) == (2, 3, 4), f'expected shape (2, 3, 4), got {tuple(out.shape)}', WrongShape)

@test_case(points=3, hidden=False)
def test_values(embed):
    """equals tfm.TokenEmbedding with the same matrix"""
    import math
    import torch
    import tfm
    from exercises.checks import call, compare
    V, d = (7, 16)
    weight = torch.randn(V, d)
    ids = torch.tensor([[1, 5, 6, 0], [2, 2, 3, 4]])
    reference = tfm.TokenEmbedding(V, d)
    with torch.no_grad():
        reference.weight.copy_(weight)
    mistakes = [("the rows are right but not scaled: multiply by sqrt(d_model) (the paper's scaling, section 3.4)", weight[ids]), ('you multiplied by d_model; the paper multiplies by sqrt(d_model)', weight[ids] * d), ('you divided by sqrt(d_model); the paper multiplies by it', weight[ids] / math.sqrt(d)), ("you picked columns of the matrix instead of rows: row i of the (vocab_size, d_model) matrix is token i's vector", lambda: weight.T[:, ids].permute(1, 2, 0) * math.sqrt(d))]
    compare(call(embed, ids, weight.clone()), reference(ids).detach(), 'your embeddings', mistakes=mistakes)


# expect: 3/7
# message: the mask bug is still there
# message: the mask is still applied after the softmax
def attention(q, k, v, mask=None):
    B, H, T, d_head = q.shape
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights

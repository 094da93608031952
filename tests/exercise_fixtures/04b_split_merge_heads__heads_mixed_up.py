# expect: 3/7
# message: the heads are mixed up: reshaping straight to (B, n_heads, T, d_head)
def split_heads(x, n_heads):
    B, T, d_model = x.shape
    return x.reshape(B, n_heads, T, d_model // n_heads)


def merge_heads(x):
    B, H, T, d_head = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d_head)

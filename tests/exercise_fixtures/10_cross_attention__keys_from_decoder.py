# expect: 1/7
# message: keys and values must come from the encoder output
def cross_attention(mha, y, memory, memory_mask=None):
    q = mha.split_heads(mha.w_q(y))
    k = mha.split_heads(mha.w_k(y))
    v = mha.split_heads(mha.w_v(y))
    heads, _ = tfm.scaled_dot_product_attention(q, k, v)
    return mha.w_o(mha.merge_heads(heads))

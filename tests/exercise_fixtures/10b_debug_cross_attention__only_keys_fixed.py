# expect: 3/7
# message: the mask bug is still there
def cross_attention(mha, y, memory, src_mask=None):
    q = mha.split_heads(mha.w_q(y))
    k = mha.split_heads(mha.w_k(memory))                               # fixed: keys from the encoder output
    v = mha.split_heads(mha.w_v(memory))
    mask = None if src_mask is None else src_mask.transpose(-2, -1)    # still along the queries
    heads, weights = tfm.scaled_dot_product_attention(q, k, v, mask)
    return mha.w_o(mha.merge_heads(heads)), weights

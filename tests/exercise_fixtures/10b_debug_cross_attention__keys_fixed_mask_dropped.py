# expect: 3/7
# message: the padded source tokens (columns 3, 4 of sentence 1) get weight
# message: the source padding is not hidden
def cross_attention(mha, y, memory, src_mask=None):
    q = mha.split_heads(mha.w_q(y))
    k = mha.split_heads(mha.w_k(memory))
    v = mha.split_heads(mha.w_v(memory))
    heads, weights = tfm.scaled_dot_product_attention(q, k, v)         # the mask "fixed" by leaving it out
    return mha.w_o(mha.merge_heads(heads)), weights

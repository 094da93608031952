# expect: 3/7
# message: the keys bug is still there
def cross_attention(mha, y, memory, src_mask=None):
    q = mha.split_heads(mha.w_q(y))
    k = mha.split_heads(mha.w_k(y))                                    # still from the decoder
    v = mha.split_heads(mha.w_v(memory))
    heads, weights = tfm.scaled_dot_product_attention(q, k, v, src_mask)   # fixed: the mask as it comes
    return mha.w_o(mha.merge_heads(heads)), weights

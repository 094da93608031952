# expect: 1/7
# message: the keys come from y
def cross_attention(mha, y, memory, memory_mask=None):
    q = mha.split_heads(mha.w_q(y))
    k = mha.split_heads(mha.w_k(y))
    v = mha.split_heads(mha.w_v(memory))
    out, _ = tfm.scaled_dot_product_attention(q, k, v, memory_mask)
    return mha.w_o(mha.merge_heads(out))

# expect: 2/7
# message: you cached the token's vector itself, not what W_K and W_V make of it
# message: the cache holds the tokens' vectors: cache what the projections make of them
def attend_with_cache(attn, x_new, cache):
    xs = x_new if cache is None else torch.cat([cache[0], x_new], dim=1)   # every token so far, (B, t + 1, d_model)
    q = attn.split_heads(attn.w_q(x_new))
    k = attn.split_heads(attn.w_k(xs))
    v = attn.split_heads(attn.w_v(xs))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(attn.d_head), dim=-1)
    return attn.w_o(attn.merge_heads(weights @ v)), (xs, xs)

# expect: 3/7
# message: the new token attends only to the earlier tokens: append its key and value to the cache BEFORE attending
def attend_with_cache(attn, x_new, cache):
    q = attn.split_heads(attn.w_q(x_new))
    k_new = attn.split_heads(attn.w_k(x_new))
    v_new = attn.split_heads(attn.w_v(x_new))
    k, v = cache if cache is not None else (k_new, v_new)      # attend over what is cached
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(attn.d_head), dim=-1)
    out = attn.w_o(attn.merge_heads(weights @ v))
    if cache is not None:                                       # then remember the new token
        k, v = torch.cat([k, k_new], dim=2), torch.cat([v, v_new], dim=2)
    return out, (k, v)

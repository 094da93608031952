# expect: 3/7
# message: the scores are not scaled: divide q k^T by sqrt(d_head)
def attend_with_cache(attn, x_new, cache):
    q = attn.split_heads(attn.w_q(x_new))
    k = attn.split_heads(attn.w_k(x_new))
    v = attn.split_heads(attn.w_v(x_new))
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    return attn.w_o(attn.merge_heads(weights @ v)), (k, v)

# expect: 2/7
# message: decoding does not stop at the end token
def greedy_decode(step, bos_id, eos_id, max_new_tokens):
    tokens = torch.tensor([[bos_id]])
    for _ in range(max_new_tokens):
        next_token = step(tokens).argmax(dim=-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens

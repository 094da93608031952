# expect: 3/8
# message: your search returned the greedy output
def beam_search(step, bos_id, eos_id, beam_size, max_new_tokens):
    tokens = torch.tensor([[bos_id]])
    for _ in range(max_new_tokens):
        next_token = step(tokens).argmax(dim=-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        if next_token.item() == eos_id:
            break
    return tokens

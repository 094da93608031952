# expect: 1/7
# message: you used the probability itself instead of its log
def token_loss(logits, targets, pad_id):
    probs = torch.softmax(logits, dim=-1)
    p = probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)          # (B, T): p(target)
    real = targets != pad_id
    return -p[real].mean()

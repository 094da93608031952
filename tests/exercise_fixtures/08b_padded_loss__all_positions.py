# expect: 1/7
# message: you averaged over every position, padding included
def token_loss(logits, targets, pad_id):
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)   # (B, T)
    return nll.mean()                                                # the pads are averaged in too

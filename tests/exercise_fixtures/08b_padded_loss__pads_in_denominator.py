# expect: 2/7
# message: you left the padding out of the sum but counted it in the number you divide by
def token_loss(logits, targets, pad_id):
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)   # (B, T)
    nll = nll * (targets != pad_id)                                  # pads contribute 0
    return nll.mean()

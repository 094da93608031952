# expect: 2/7
# message: you took the mean of each sentence's mean
def token_loss(logits, targets, pad_id):
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)   # (B, T)
    real = (targets != pad_id).float()
    per_sentence = (nll * real).sum(dim=1) / real.sum(dim=1)         # each sentence's mean loss
    return per_sentence.mean()

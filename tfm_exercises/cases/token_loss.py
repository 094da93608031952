"""The tests of `token_loss` (exercise 08b_padded_loss): generated from exercises/source/08b_padded_loss.ipynb
by `python -m tfm_exercises.assign`; edit the source, not this file."""
from tfm_exercises.runner import case


def loss_mistakes(logits, targets, pad_id):
    """What the usual wrong losses compute, as (message, value) pairs."""
    import torch
    picked = lambda lp: torch.gather(lp, 2, targets[..., None])[..., 0]          # (B, T)
    nll = -picked(logits.log_softmax(dim=2))                                        # (B, T)
    real = (targets != pad_id).float()
    return [
        ("you averaged over every position, padding included: a position whose target is <pad> is no token "
         "of any sentence, so it counts neither in the sum nor in the number you divide by (else the padding "
         "a batch happens to need changes the loss)", nll.mean()),
        ("you took the mean of each sentence's mean: then a token of a short sentence weighs more than one of "
         "a long sentence. The loss averages over all real tokens of the batch at once: the sum of their "
         "losses divided by how many there are", ((nll * real).sum(1) / real.sum(1)).mean()),
        ("you left the padding out of the sum but counted it in the number you divide by: divide by the "
         "number of real tokens, not by B * T", (nll * real).sum() / real.numel()),
        ("you used the probability itself instead of its log: the cross-entropy is -log p(target); take "
         "log_softmax (softmax and log in one numerically stable step)",
         -(picked(logits.softmax(dim=2)) * real).sum() / real.sum()),
        ("you averaged the probabilities of the real tokens without the log: the cross-entropy is -log p(target), "
         "from log_softmax", (picked(logits.softmax(dim=2)) * real).sum() / real.sum()),
        ("the minus sign is missing: the cross-entropy is -log p(target), a positive number",
         -(nll * real).sum() / real.sum()),
        ("the softmax ran over the positions (dim 1): each position's probabilities are over the vocabulary, "
         "the last dimension", (-picked(logits.log_softmax(dim=1)) * real).sum() / real.sum()),
    ]


@case(points=1, hidden=False)
def test_no_padding(token_loss):
    """a batch without padding: a 0-d tensor equal to F.cross_entropy (the log-softmax and the picking)"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import call, compare
    logits = torch.randn(2, 4, 7) * 2
    targets = torch.randint(1, 7, (2, 4))                                   # no 0: nothing is padding
    got = call(token_loss, logits, targets, 0)
    want = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    per_token = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1), reduction="none").view(2, 4)
    mistakes = loss_mistakes(logits, targets, 0)[3:] + [
        ("you returned the loss of every position, (B, T): average them into one number (a 0-d tensor)", per_token),
    ]
    compare(got, want, "token_loss on a batch without padding", mistakes=mistakes)


@case(points=2, hidden=False)
def test_ignores_padding(token_loss):
    """a padded batch from collate_seq2seq: equals tfm.losses.seq2seq_loss (cross-entropy with ignore_index)"""
    import torch
    from tfm.data import collate_seq2seq
    from tfm.losses import seq2seq_loss
    from tfm_exercises.checks import call, compare
    pairs = [([3, 4], [7, 8, 9, 10, 11]), ([3], [12]), ([3, 4, 5], [13, 14, 15])]   # targets of 5, 1, 3 tokens
    _, _, tgt_out = collate_seq2seq(pairs, pad_id=0, bos_id=1, eos_id=2)             # (3, 6), 0 = <pad>
    for scale in (1.0, 3.0):                                                          # two sets of logits
        logits = torch.randn(3, 6, 16) * scale
        got = call(token_loss, logits, tgt_out, 0)
        compare(got, seq2seq_loss(logits, tgt_out, pad_id=0), "token_loss on a padded batch",
                mistakes=loss_mistakes(logits, tgt_out, 0))


@case(points=1, hidden=False)
def test_padding_logits_do_not_matter(token_loss):
    """changing the logits at the padding positions leaves the loss unchanged"""
    import torch
    from tfm_exercises.checks import Mistake, call, check, tensor
    targets = torch.tensor([[5, 6, 7, 2], [8, 2, 0, 0], [9, 4, 2, 0]])              # 0 = <pad>
    logits = torch.randn(3, 4, 10)
    other = logits.clone()
    pad = targets == 0
    other[pad] = torch.randn(int(pad.sum()), 10) * 5                                 # only the padding positions
    a = tensor(call(token_loss, logits, targets, 0), "token_loss(logits, targets, 0)")
    b = tensor(call(token_loss, other, targets, 0), "token_loss(other logits, targets, 0)")
    check(a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6),
          "your loss changed when only the logits at padding positions changed: a position whose target is <pad> "
          "must not count at all (pick out the real targets, or give the padding positions weight 0)", Mistake)


@case(points=1, hidden=False)
def test_gradient(token_loss):
    """the loss is connected to the logits: its gradient equals F.cross_entropy's (every real token 1/N, padding 0)"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import WrongValues, check, compare, gradient
    targets = torch.tensor([[4, 5, 6, 7, 2], [3, 2, 0, 0, 0]])                       # 0 = <pad>
    logits = torch.randn(2, 5, 8)
    _, grad = gradient(token_loss, (logits, targets, 0), 0, torch.tensor(1.0), name="token_loss")
    check(grad is not None, "your loss is not a 0-d tensor connected to `logits` (no gradient would reach the "
          "model): avoid .item(), .tolist(), .detach() and building new tensors from the values", WrongValues)
    x = logits.clone().requires_grad_(True)
    F.cross_entropy(x.reshape(-1, 8), targets.reshape(-1), ignore_index=0).backward()
    def grad_of(message, loss_of):
        y = logits.clone().requires_grad_(True)
        loss_of(y).backward()
        return message, y.grad
    mistakes = [grad_of(m, lambda y, i=i: loss_mistakes(y, targets, 0)[i][1]) for i, (m, _) in
                enumerate(loss_mistakes(logits, targets, 0))]
    compare(grad, x.grad, "the gradient of your loss with respect to the logits", mistakes=mistakes)


@case(points=2, hidden=True)
def test_drawn_batch(token_loss):
    """two batches whose sizes, lengths, values and padding id are drawn at grading time: equal F.cross_entropy(ignore_index=pad_id)"""
    import torch
    import torch.nn.functional as F
    from tfm_exercises.checks import call, compare, rng
    for _ in range(2):                                                      # two batches
        B, T, V = rng().randint(2, 5), rng().randint(3, 8), rng().randint(5, 20)
        pad_id = rng().randrange(V)
        lengths = [T, rng().randint(1, T // 2)] + [rng().randint(1, T) for _ in range(B - 2)]  # one full, one short
        real_ids = [i for i in range(V) if i != pad_id]
        targets = torch.tensor([[rng().choice(real_ids) for _ in range(n)] + [pad_id] * (T - n) for n in lengths])
        logits = torch.randn(B, T, V) * rng().choice([2.0, 3.0, 5.0])
        got = call(token_loss, logits, targets, pad_id)
        want = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=pad_id)
        compare(got, want, f"token_loss with B={B}, T={T}, V={V}, pad_id={pad_id}, lengths {lengths}",
                mistakes=loss_mistakes(logits, targets, pad_id))

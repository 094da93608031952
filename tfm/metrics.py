"""Measuring a model: the validation loss, and for the encoder-decoder the exact match and BLEU
of its greedy translations."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .model import Transformer

Pairs = Sequence[tuple[list[int], list[int]]]


@torch.no_grad()
def estimate_loss(model: nn.Module, get_batch, n_batches: int, loss_fn, seed: int = 0,
                  device: torch.device | str = "cpu") -> float:
    """Mean loss over ``n_batches`` batches drawn with a fixed seed (the same batches each call).

    One read-back for all of them (then summed in Python, as the values were read one by one before).
    """
    from .device import to_device

    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    try:
        losses = torch.stack([loss_fn(model, to_device(get_batch(i, generator), torch.device(device))).detach()
                              for i in range(n_batches)]).tolist()
    finally:
        model.train(was_training)
    return sum(losses) / len(losses)


@torch.no_grad()
def seq2seq_predict(model: Transformer, sources: Sequence[Sequence[int]], max_new_tokens: Sequence[int] | int,
                    batch_size: int = 500, device: torch.device | str | None = None) -> list[list[int]]:
    """Greedy translations of ``sources``, as id lists without <bos> and <eos>.

    max_new_tokens: one limit for all, or one per source (a chunk decodes up to its largest).
    """
    from .data import collate_seq2seq
    from .generate import greedy_decode

    c = model.config
    device = device or next(model.parameters()).device
    limits = [max_new_tokens] * len(sources) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    preds = []
    for i in range(0, len(sources), batch_size):
        chunk = [(list(s), []) for s in sources[i : i + batch_size]]
        src, _, _ = collate_seq2seq(chunk, c.pad_id, c.bos_id, c.eos_id)  # (B, S)
        max_new = min(max(limits[i : i + batch_size]), c.max_len - 1)
        for row in greedy_decode(model, src.to(device), max_new).tolist():  # (B, 1 + new)
            pred = row[1:]  # drop <bos>
            preds.append(pred[: pred.index(c.eos_id)] if c.eos_id in pred else pred)
    return preds


def seq2seq_exact_match(model: Transformer, pairs: Pairs, batch_size: int = 500,
                        device: torch.device | str | None = None) -> float:
    """Fraction of (src, tgt) pairs whose greedy decoding equals tgt exactly (up to <eos>)."""
    preds = seq2seq_predict(model, [s for s, _ in pairs], [len(t) + 1 for _, t in pairs], batch_size, device)
    return sum(p == list(t) for p, (_, t) in zip(preds, pairs)) / max(1, len(pairs))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "char") -> float | None:
    """sacrebleu's corpus BLEU (0-100) of detokenized strings, or None without sacrebleu.

    ``tokenize="char"``: n-grams of characters. The targets of tfm's tasks are single words
    (every German number below a million is one word: "zweiundvierzig"), so word 2- to
    4-grams do not exist and word-level BLEU ("13a") is 0 even for perfect output.
    """
    try:
        import sacrebleu
    except ImportError:
        return None
    return round(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score, 4)


def seq2seq_metrics(model: Transformer, pairs: Pairs, decode: Callable[[list[int]], str],
                    batch_size: int = 500) -> dict:
    """Exact match and corpus BLEU of greedy decoding on held-out pairs, from one decoding pass.

    decode(ids) -> the detokenized target string, e.g. ``task.tgt_vocab.decode``.
    """
    preds = seq2seq_predict(model, [s for s, _ in pairs], [len(t) + 1 for _, t in pairs], batch_size)
    exact = sum(p == list(t) for p, (_, t) in zip(preds, pairs)) / max(1, len(pairs))
    metrics: dict = {"exact_match": exact}
    bleu = corpus_bleu([decode(p) for p in preds], [decode(list(t)) for _, t in pairs])
    if bleu is not None:
        metrics["bleu"] = bleu
    return metrics

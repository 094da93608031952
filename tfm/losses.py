"""Losses of the two models, and what the training loop checks and counts in a batch.

A batch is a tuple of tensors whose last element is the target: ``(src, tgt_in, tgt_out)`` for
the :class:`~tfm.model.Transformer`, ``(x, y)`` for :class:`~tfm.model.GPT`.
"""
from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from .embedding import check_tokens
from .model import GPTConfig, TransformerConfig

Batch = tuple[Tensor, ...]  # (inputs..., target)
LossFn = Callable[[nn.Module, Batch], Tensor]


def lm_loss(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Next-token cross-entropy: logits (B, T, V), targets (B, T) -> mean over all positions."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           label_smoothing=label_smoothing)


def seq2seq_loss(logits: Tensor, targets: Tensor, pad_id: int, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy over the real target tokens: padding positions (== pad_id) do not count."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                           ignore_index=pad_id, label_smoothing=label_smoothing)


def default_loss_fn(model: nn.Module, label_smoothing: float = 0.0) -> LossFn:
    """``loss_fn(model, batch)``: the last tensor of the batch is the target, the others the inputs."""
    config = model.config
    if isinstance(config, TransformerConfig):
        return lambda m, batch: seq2seq_loss(m(batch[0], batch[1]), batch[-1], config.pad_id, label_smoothing)
    return lambda m, batch: lm_loss(m(*batch[:-1]), batch[-1], label_smoothing)


def check_batch_ids(model: nn.Module, batch: Batch) -> None:
    """ValueError unless the batch's ids fit the model's vocabularies: (x, y) for a GPT, (src,
    tgt_in, tgt_out) for a Transformer. Called on the CPU, where the batch enters the loop."""
    config = model.config
    if isinstance(config, GPTConfig):
        check_tokens(batch[0], config.vocab_size, "input ids")
    elif isinstance(config, TransformerConfig):
        check_tokens(batch[0], config.src_vocab_size, "src")
        check_tokens(batch[1], config.tgt_vocab_size, "tgt_in")


def count_targets(model: nn.Module, target: Tensor) -> int:
    """Target positions the default loss averages over: all of them, or the non-padding ones.

    Call it on the CPU copy of the batch (it reads a value back).
    """
    if isinstance(getattr(model, "config", None), TransformerConfig):
        return int((target != model.config.pad_id).sum())
    return target.numel()

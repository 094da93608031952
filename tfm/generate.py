"""Output generation: turn next-token logits into text, one token at a time.

Greedy decoding takes the most likely token; sampling draws from the softmax
(sharpened or flattened by the temperature, restricted by top-k / top-p); beam search
keeps the ``beam_size`` best partial outputs. Generation stops at the end token or at the
length limit. A key/value cache (see :class:`tfm.attention.KVCache`) lets each step feed
only the newest token. Outputs are ordinary tensors (not inference tensors): they can be fed
back into training.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

from .attention import packed_qkv
from .embedding import check_tokens, trusted_ids


@contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (no dropout), no autograd bookkeeping, Q/K/V in one product; restored afterwards.

    The ids were checked on the way in: inside, the model does not check them again (see
    :func:`tfm.embedding.trusted_ids`). Tensors made inside are inference tensors: clone what
    you return after the block.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), packed_qkv(model), trusted_ids():
            yield
    finally:
        model.train(was_training)


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to -inf every logit outside the top-k and outside the smallest set with probability >= top_p."""
    if top_k is not None:
        if top_k <= 0:
            raise ValueError(f"top_k must be a positive integer, got {top_k}")
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits.float(), dim=-1)  # float32: a bf16 running sum stalls short of 1
        before = probs.cumsum(dim=-1) - probs  # probability mass of the tokens ranked higher
        drop_sorted = before >= top_p  # keep a token while the mass before it is below top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def pick_next(logits: Tensor, do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None,
              top_p: float | None = None, generator: torch.Generator | None = None) -> Tensor:
    """(B, V) logits of the next token -> (B,) chosen ids."""
    if not do_sample:
        return logits.argmax(dim=-1)  # greedy: the most likely token
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    logits = filter_logits(logits / temperature, top_k, top_p)
    probs = torch.softmax(logits.float(), dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def decode_loop(step: Callable[[Tensor], Tensor], tokens: Tensor, max_new_tokens: int,
                pick: Callable[[Tensor], Tensor], eos_id: int | None, pad_id: int | None) -> Tensor:
    """Append one token at a time: ``step(tokens)`` returns next-token logits (B, V).

    Rows that produced ``eos_id`` are finished: they get ``pad_id`` from then on, and the
    loop stops early when every row is finished. Returns (B, T + generated).
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    finished = torch.zeros(tokens.size(0), dtype=torch.bool, device=tokens.device)
    for _ in range(max_new_tokens):
        nxt = pick(step(tokens))  # (B,)
        if eos_id is not None:
            nxt = nxt.masked_fill(finished, pad_id)
            finished |= nxt == eos_id
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)  # (B, T + 1)
        if eos_id is not None and bool(finished.all()):
            break
    return tokens


def gpt_generate(model, idx: Tensor, max_new_tokens: int, *, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
                 use_cache: bool = True, pad_id: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Continue a GPT prompt (B, T) -> (B, T + new). Used by :meth:`tfm.GPT.generate`.

    The model sees at most ``max_len`` tokens. Until the window is full, the cache makes each
    step cost O(T): only the newest token goes in. Once it is full, every step re-runs the whole
    window (the last ``max_len`` tokens) without the cache: GPT's learned positions are absolute,
    so when the window slides by one token every cached key and value would need new positions.
    """
    max_len = model.config.max_len
    check_tokens(idx, model.config.vocab_size, "idx")  # once; the new ids come from the vocabulary
    pad_id = eos_id if pad_id is None else pad_id
    cache = model.decoder.new_cache() if use_cache else None

    def step(tokens: Tensor) -> Tensor:
        if cache is None or tokens.size(1) > max_len:
            return model(tokens[:, -max_len:])[:, -1]  # the whole (cropped) window
        new = tokens[:, len(cache[0].self_attn):]  # the prompt at first, then only the newest token
        return model(new, cache=cache)[:, -1]

    def pick(logits: Tensor) -> Tensor:
        return pick_next(logits, do_sample, temperature, top_k, top_p, generator)

    with inference(model):
        out = decode_loop(step, idx, max_new_tokens, pick, eos_id, pad_id)
    return out.clone()  # made outside inference mode: a normal tensor, usable in training


def seq2seq_generate(model, src: Tensor, max_new_tokens: int | None = None, *, do_sample: bool = False,
                     temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                     use_cache: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """Greedy decoding or sampling for the encoder-decoder: (B, S) -> <bos> + output (B, 1 + new).

    Stops at <eos> or after ``max_new_tokens`` (default: ``max_len - 1``).
    """
    c = model.config
    max_new_tokens = c.max_len - 1 if max_new_tokens is None else max_new_tokens
    if max_new_tokens + 1 > c.max_len:
        raise ValueError(f"max_new_tokens={max_new_tokens} needs {max_new_tokens + 1} positions, max_len={c.max_len}")
    check_tokens(src, c.src_vocab_size, "src")  # once; the new ids come from the vocabulary
    with inference(model):
        src_mask = model.source_mask(src)
        memory = model.encode(src, src_mask)  # (B, S, d_model), computed once
        cache = model.decoder.new_cache() if use_cache else None

        def step(tokens: Tensor) -> Tensor:
            new = tokens[:, -1:] if cache is not None and len(cache[0].self_attn) > 0 else tokens
            return model.decode(new, memory, src_mask, cache)[:, -1]  # (B, V)

        def pick(logits: Tensor) -> Tensor:
            return pick_next(logits, do_sample, temperature, top_k, top_p, generator)

        start = torch.full((src.size(0), 1), c.bos_id, dtype=torch.long, device=src.device)
        out = decode_loop(step, start, max_new_tokens, pick, c.eos_id, c.pad_id)
    return out.clone()  # made outside inference mode: a normal tensor, usable in training


def greedy_decode(model, src: Tensor, max_new_tokens: int | None = None, use_cache: bool = True) -> Tensor:
    """Pick the most likely token at every step: (B, S) -> (B, 1 + new)."""
    return seq2seq_generate(model, src, max_new_tokens, use_cache=use_cache)


# ---- beam search ----
#
# All bookkeeping stays in tensors on the model's device: per step one read-back (have all
# sources finished?), at the end one more (the longest output). Scores of hypotheses are
# float64, as Python floats would be: sum(log p) / length ** length_penalty.

@dataclass
class _Finished:
    """The best ``K`` finished hypotheses of each source (they end with <eos>)."""

    scores: Tensor  # (B, K) float64, -inf where empty; sorted, best first
    tokens: Tensor  # (B, K, max_new) padded with pad_id (which the model may also have generated)
    lengths: Tensor  # (B, K) of the hypotheses, <eos> included
    count: Tensor  # (B,) how many hypotheses have finished so far (may exceed K)

    @classmethod
    def empty(cls, B: int, K: int, max_new: int, pad_id: int, device: torch.device) -> _Finished:
        return cls(torch.full((B, K), float("-inf"), dtype=torch.float64, device=device),
                   torch.full((B, K, max_new), pad_id, dtype=torch.long, device=device),
                   torch.zeros(B, K, dtype=torch.long, device=device), torch.zeros(B, dtype=torch.long, device=device))

    def add(self, scores: Tensor, tokens: Tensor, length: int, new: Tensor) -> None:
        """Merge candidates (B, N) with their tokens (B, N, max_new); ``new`` marks the real ones."""
        K = self.scores.size(1)
        all_scores = torch.cat([self.scores, scores.masked_fill(~new, float("-inf"))], dim=1)  # (B, K + N)
        order = all_scores.sort(dim=1, descending=True, stable=True).indices[:, :K]  # earlier first on ties
        self.scores = all_scores.gather(1, order)
        all_tokens = torch.cat([self.tokens, tokens], dim=1)
        self.tokens = all_tokens.gather(1, order[..., None].expand(-1, -1, all_tokens.size(2)))
        self.lengths = torch.cat([self.lengths, torch.full_like(scores, length, dtype=torch.long)], 1).gather(1, order)
        self.count = self.count + new.sum(dim=1)


def _pad_to(t: Tensor, width: int, value: int) -> Tensor:
    """(..., L) -> (..., width), filled on the right with ``value``."""
    return torch.nn.functional.pad(t, (0, width - t.size(-1)), value=value)


def _beam_step(cand: Tensor, tokens: Tensor, closed: Tensor, finished: _Finished, t: int, eos_id: int,
               pad_id: int, length_penalty: float) -> tuple[Tensor, Tensor, Tensor]:
    """One step's bookkeeping. cand (B, K*V): score of every (beam, token) continuation.

    Candidates are read best first; an <eos> candidate becomes a finished hypothesis, any other
    fills the next free beam, until K beams are full. Returns the next (scores, beam, token), (B, K).
    """
    B, K, max_new = closed.size(0), tokens.size(0) // closed.size(0), finished.tokens.size(2)
    V = cand.size(1) // K
    top_scores, top_idx = cand.topk(2 * K, dim=-1)  # (B, 2K): enough to fill K beams after removing <eos>
    beam, tok = top_idx // V, top_idx % V
    is_eos = tok == eos_id
    alive_before = (~is_eos).long().cumsum(dim=1) - (~is_eos).long()  # live candidates ranked higher
    used = (top_scores > float("-inf")) & (alive_before < K) & ~closed[:, None]  # (B, 2K)
    # Finished hypotheses: the beam's tokens (without <bos>) and the <eos>; their length is t.
    prev = tokens.view(B, K, -1)[:, :, 1:]  # (B, K, t - 1)
    hyp = prev.gather(1, beam[..., None].expand(-1, -1, prev.size(2)))  # (B, 2K, t - 1)
    hyp = _pad_to(torch.cat([hyp, tok[..., None]], dim=2), max_new, pad_id)  # (B, 2K, max_new)
    finished.add(top_scores.double() / t ** length_penalty, hyp, t, used & is_eos)
    # Live candidates go to beam slot alive_before; the others to a spare slot K, dropped after.
    slot = torch.where(used & ~is_eos, alive_before, torch.full_like(alive_before, K))
    next_scores = torch.full((B, K + 1), float("-inf"), device=cand.device).scatter(1, slot, top_scores)
    next_beam = torch.zeros(B, K + 1, dtype=torch.long, device=cand.device).scatter(1, slot, beam)
    next_tok = torch.full((B, K + 1), pad_id, dtype=torch.long, device=cand.device).scatter(1, slot, tok)
    return next_scores[:, :K].contiguous(), next_beam[:, :K].contiguous(), next_tok[:, :K].contiguous()


def _close(closed: Tensor, finished: _Finished, next_scores: Tensor, t: int, length_penalty: float) -> Tensor:
    """A source is finished once it has K hypotheses and no live beam can beat the worst of them."""
    K = next_scores.size(1)
    best_alive = next_scores.max(dim=1).values.double()  # (B,)
    beaten = (best_alive == float("-inf")) | (finished.scores[:, K - 1] >= best_alive / t ** length_penalty)
    return closed | ((finished.count >= K) & beaten)


def _best(finished: _Finished, scores: Tensor, tokens: Tensor, closed: Tensor, length_penalty: float,
          bos_id: int, pad_id: int) -> Tensor:
    """The best hypothesis of each source: finished ones, and the live beams of unfinished sources."""
    B, K = scores.shape
    max_new, L = finished.tokens.size(2), tokens.size(1) - 1
    live = (scores.double() / L ** length_penalty).masked_fill(closed[:, None], float("-inf"))  # (B, K)
    all_scores = torch.cat([finished.scores, live], dim=1)  # (B, 2K): finished first, as they were found
    all_tokens = torch.cat([finished.tokens, _pad_to(tokens.view(B, K, -1)[:, :, 1:], max_new, pad_id)], dim=1)
    lengths = torch.cat([finished.lengths, torch.full_like(live, L, dtype=torch.long)], dim=1)
    pick = all_scores.argmax(dim=1)  # the first of equal maxima
    best_len = lengths.gather(1, pick[:, None]).masked_fill(all_scores.max(dim=1, keepdim=True).values
                                                             == float("-inf"), 0)  # (B, 1)
    best = all_tokens[torch.arange(B, device=scores.device), pick]  # (B, max_new)
    width = int(best_len.max())  # the one read-back at the end
    out = best[:, :width].masked_fill(torch.arange(width, device=scores.device) >= best_len, pad_id)
    return torch.cat([torch.full((B, 1), bos_id, dtype=torch.long, device=scores.device), out], dim=1)


def beam_search(model, src: Tensor, beam_size: int = 4, max_new_tokens: int | None = None,
                length_penalty: float = 1.0) -> Tensor:
    """Keep the ``beam_size`` best partial outputs per source; return the best (B, 1 + L).

    A finished hypothesis scores sum(log p) / length ** length_penalty (0: raw sum, which
    favours short outputs; 1: mean log-probability per token). ``beam_size=1`` is greedy.
    """
    c = model.config
    if beam_size <= 0:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size}")
    max_new_tokens = c.max_len - 1 if max_new_tokens is None else max_new_tokens
    if not 0 < max_new_tokens < c.max_len:
        raise ValueError(f"max_new_tokens must be in [1, max_len - 1 = {c.max_len - 1}], got {max_new_tokens}")
    check_tokens(src, c.src_vocab_size, "src")
    with inference(model):
        out = _beam_search(model, src, beam_size, max_new_tokens, length_penalty)
    return out.clone()  # made outside inference mode: a normal tensor, usable in training


def _beam_search(model, src: Tensor, K: int, max_new: int, length_penalty: float) -> Tensor:
    c, B, dev = model.config, src.size(0), src.device
    src_mask = model.source_mask(src)
    rows = torch.arange(B, device=dev).repeat_interleave(K)  # beam b*K + j belongs to source b
    memory = model.encode(src, src_mask).index_select(0, rows)  # (B*K, S, d_model)
    src_mask = None if src_mask is None else src_mask.index_select(0, rows)
    cache = model.decoder.new_cache()
    tokens = torch.full((B * K, 1), c.bos_id, dtype=torch.long, device=dev)  # (B*K, 1)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start equal: keep one so the first step has no duplicates
    finished = _Finished.empty(B, K, max_new, c.pad_id, dev)
    closed = torch.zeros(B, dtype=torch.bool, device=dev)
    for t in range(1, max_new + 1):
        new = tokens if t == 1 else tokens[:, -1:]
        logp = torch.log_softmax(model.decode(new, memory, src_mask, cache)[:, -1].float(), dim=-1)  # (B*K, V)
        cand = (scores.view(B, K, 1) + logp.view(B, K, -1)).view(B, -1)  # (B, K*V)
        next_scores, next_beam, next_tok = _beam_step(cand, tokens, closed, finished, t, c.eos_id, c.pad_id,
                                                      length_penalty)
        closed = _close(closed, finished, next_scores, t, length_penalty)
        if bool(closed.all()):  # one read-back per step: stop when every source is finished
            break
        index = (torch.arange(B, device=dev)[:, None] * K + next_beam).view(-1)  # (B*K,)
        tokens = torch.cat([tokens.index_select(0, index), next_tok.view(-1, 1)], dim=1)
        for layer_cache in cache:
            layer_cache.reorder(index)
        scores = next_scores
    return _best(finished, scores, tokens, closed, length_penalty, c.bos_id, c.pad_id)

"""Output generation: turn next-token logits into text, one token at a time.

Greedy decoding takes the most likely token; sampling draws from the softmax
(sharpened or flattened by the temperature, restricted by top-k / top-p); beam search
keeps the ``beam_size`` best partial outputs. Generation stops at the end token or at the
length limit. A key/value cache (see :class:`tfm.attention.KVCache`) lets each step feed
only the newest token.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import Tensor

from .attention import packed_qkv
from .embedding import check_tokens


@contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (no dropout), no autograd bookkeeping, Q/K/V in one product; restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), packed_qkv(model):
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
        probs = torch.softmax(sorted_logits, dim=-1)
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
    """Continue a GPT prompt (B, T) -> (B, T + new). Used by :meth:`tfm.GPT.generate`."""
    max_len = model.config.max_len
    check_tokens(idx, model.config.vocab_size, "idx")
    pad_id = eos_id if pad_id is None else pad_id
    cache = None

    def step(tokens: Tensor) -> Tensor:  # ids were checked above; new ones come from the vocabulary
        nonlocal cache
        if not use_cache:
            return model(tokens[:, -max_len:], check_ids=False)[:, -1]  # re-run the whole (cropped) prefix
        if cache is None or len(cache[0].self_attn) >= max_len:
            cache = model.decoder.new_cache()  # first step, or the window is full: start again
            return model(tokens[:, -max_len:], cache=cache, check_ids=False)[:, -1]
        return model(tokens[:, -1:], cache=cache, check_ids=False)[:, -1]  # only the newest token: O(T)

    def pick(logits: Tensor) -> Tensor:
        return pick_next(logits, do_sample, temperature, top_k, top_p, generator)

    with inference(model):
        return decode_loop(step, idx, max_new_tokens, pick, eos_id, pad_id).clone()  # clone: a normal tensor


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
    with inference(model):
        src_mask = model.source_mask(src) if src.dim() == 2 else None
        memory = model.encode(src, src_mask)  # (B, S, d_model), computed once
        cache = model.decoder.new_cache() if use_cache else None

        def step(tokens: Tensor) -> Tensor:
            new = tokens[:, -1:] if cache is not None and len(cache[0].self_attn) > 0 else tokens
            return model.decode(new, memory, src_mask, cache, check_ids=False)[:, -1]  # (B, V)

        def pick(logits: Tensor) -> Tensor:
            return pick_next(logits, do_sample, temperature, top_k, top_p, generator)

        start = torch.full((src.size(0), 1), c.bos_id, dtype=torch.long, device=src.device)
        return decode_loop(step, start, max_new_tokens, pick, c.eos_id, c.pad_id).clone()


def greedy_decode(model, src: Tensor, max_new_tokens: int | None = None, use_cache: bool = True) -> Tensor:
    """Pick the most likely token at every step: (B, S) -> (B, 1 + new)."""
    return seq2seq_generate(model, src, max_new_tokens, use_cache=use_cache)


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
    with inference(model):
        B, K, dev = src.size(0), beam_size, src.device
        src_mask = model.source_mask(src)
        memory = model.encode(src, src_mask)  # (B, S, d_model)
        rows = torch.arange(B, device=dev).repeat_interleave(K)  # beam b*K + j belongs to source b
        memory = memory.index_select(0, rows)  # (B*K, S, d_model)
        src_mask = None if src_mask is None else src_mask.index_select(0, rows)
        cache = model.decoder.new_cache()
        tokens = torch.full((B * K, 1), c.bos_id, dtype=torch.long, device=dev)  # (B*K, 1)
        scores = torch.full((B, K), float("-inf"), device=dev)
        scores[:, 0] = 0.0  # all beams start equal: keep one so the first step has no duplicates
        done: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
        closed = [False] * B

        def score(logp_sum: float, length: int) -> float:
            return logp_sum / (length ** length_penalty)

        for t in range(1, max_new_tokens + 1):
            new = tokens if t == 1 else tokens[:, -1:]
            logits = model.decode(new, memory, src_mask, cache)[:, -1]  # (B*K, V)
            logp = torch.log_softmax(logits.float(), dim=-1)
            V = logp.size(-1)
            cand = (scores.view(B, K, 1) + logp.view(B, K, V)).view(B, K * V)  # (B, K*V)
            top_scores, top_idx = cand.topk(2 * K, dim=-1)  # enough to fill K beams after removing <eos>
            next_scores = torch.full((B, K), float("-inf"), device=dev)
            next_beam = torch.zeros(B, K, dtype=torch.long, device=dev)
            next_tok = torch.full((B, K), c.pad_id, dtype=torch.long, device=dev)
            for b in range(B):
                if closed[b]:
                    continue
                j = 0
                for s, i in zip(top_scores[b].tolist(), top_idx[b].tolist()):
                    if s == float("-inf") or j == K:
                        break
                    beam, tok = divmod(i, V)
                    if tok == c.eos_id:  # a finished hypothesis (its length counts the <eos>)
                        done[b].append((score(s, t), tokens[b * K + beam, 1:].tolist() + [tok]))
                    else:
                        next_scores[b, j], next_beam[b, j], next_tok[b, j] = s, beam, tok
                        j += 1
                best_alive = next_scores[b].max().item()
                if len(done[b]) >= K:
                    done[b] = sorted(done[b], key=lambda h: -h[0])[:K]
                    # Finished when no live beam can beat the worst kept hypothesis any more.
                    closed[b] = best_alive == float("-inf") or done[b][-1][0] >= score(best_alive, t)
            if all(closed):
                break
            index = (torch.arange(B, device=dev)[:, None] * K + next_beam).view(-1)  # (B*K,)
            tokens = torch.cat([tokens.index_select(0, index), next_tok.view(-1, 1)], dim=1)
            for layer_cache in cache:
                layer_cache.reorder(index)
            scores = next_scores
        best: list[list[int]] = []
        for b in range(B):
            hyps = list(done[b])
            if not closed[b]:  # ran out of length: live beams count as they are
                for j in range(K):
                    if scores[b, j] > float("-inf"):
                        hyps.append((score(scores[b, j].item(), tokens.size(1) - 1), tokens[b * K + j, 1:].tolist()))
            best.append(max(hyps, key=lambda h: h[0])[1] if hyps else [])
        L = max(len(h) for h in best)
        out = torch.full((B, 1 + L), c.pad_id, dtype=torch.long, device=dev)
        out[:, 0] = c.bos_id
        for b, h in enumerate(best):
            out[b, 1 : 1 + len(h)] = torch.tensor(h, dtype=torch.long, device=dev)
        return out.clone()

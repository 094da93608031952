"""Two speed-ups of the course, measured on tfm itself (CPU).

1. Key/value cache: greedy generation of --new-tokens tokens with ``tfm.GPT.generate``,
   ``use_cache=True`` (feed only the newest token) vs ``use_cache=False`` (re-run the whole
   prefix every step). Both produce the same tokens; the script checks it.
2. Fused vs didactic attention, forward + backward on (B, H, T, d_head) tensors with a
   causal mask: ``tfm.attention.scaled_dot_product_attention`` (the formula written out,
   what ``return_weights=True`` runs) vs ``tfm.attention.fused_attention`` with
   ``is_causal=True`` and with the same explicit bool mask. Memory: the bytes autograd
   saves for the backward pass (counted with saved_tensors_hooks; the didactic version keeps
   the (B, H, T, T) weights, the fused kernel does not).

    python benchmarks/bench_cache.py [--threads 2] [--new-tokens 256]
"""
from __future__ import annotations

import argparse

import benchutils  # noqa: F401  (puts the repository root on sys.path)
import torch
from benchutils import (add_common_args, environment, median, print_json, print_table, ratio, setup, time_interleaved,
                    timing_rows)

import tfm
from tfm.attention import fused_attention, scaled_dot_product_attention
from tfm.masks import causal_mask


def saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward while running ``fn()``."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--gen-batch", type=int, default=1)
    p.add_argument("--attn-batch", type=int, default=8)
    p.add_argument("--attn-len", type=int, default=256, help="sequence length T of the attention benchmark")
    p.add_argument("--attn-head-dim", type=int, default=32)
    add_common_args(p, repeats=10, warmup=1, budget=20.0)
    args = p.parse_args(argv)
    setup(args)

    # 1. KV cache
    max_len = args.prompt + args.new_tokens
    model = tfm.GPT(tfm.GPTConfig(vocab_size=args.vocab, max_len=max_len, n_layers=args.layers,
                                  d_model=args.width, n_heads=args.heads)).eval()
    prompt = torch.randint(0, args.vocab, (args.gen_batch, args.prompt))
    n = args.new_tokens

    def cached():
        return model.generate(prompt, n, use_cache=True)

    def uncached():
        return model.generate(prompt, n, use_cache=False)

    same_tokens = torch.equal(cached(), uncached())
    gen = time_interleaved({"cached": cached, "uncached": uncached}, args)
    speedup = ratio(gen, "uncached", "cached")

    # 2. fused vs didactic attention, forward + backward
    B, H, T, D = args.attn_batch, args.heads, args.attn_len, args.attn_head_dim
    q, k, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))
    grad_out = torch.randn(B, H, T, D)
    mask = causal_mask(T)  # (1, 1, T, T) bool, True = may attend

    def fwd_bwd(attend):
        def run():
            q.grad = k.grad = v.grad = None
            out = attend()
            out.backward(grad_out)
        return run

    peers = {
        "didactic": lambda: scaled_dot_product_attention(q, k, v, mask)[0],
        "fused(is_causal)": lambda: fused_attention(q, k, v, is_causal=True),
        "fused(mask)": lambda: fused_attention(q, k, v, mask),
    }
    attn = time_interleaved({name: fwd_bwd(f) for name, f in peers.items()}, args, 3 * args.repeats, warmup=2)
    memory = {name: saved_bytes(f) for name, f in peers.items()}
    with torch.no_grad():
        ref = scaled_dot_product_attention(q, k, v, mask)[0]
        attn_diff = max((f() - ref).abs().max().item() for f in peers.values())
    r_causal = ratio(attn, "didactic", "fused(is_causal)")
    r_mask = ratio(attn, "didactic", "fused(mask)")
    weights_mb = B * H * T * T * 4 / 2**20

    print(f"GPT {args.layers}L {args.heads}H d={args.width} vocab={args.vocab}, prompt {args.prompt} + "
          f"{n} new tokens, batch {args.gen_batch}; threads={args.threads}; same tokens: {same_tokens}")
    print_table("greedy generation", ["mode", "median ms", "IQR/med", "rounds"], timing_rows(gen))
    print(f"\nattention fwd+bwd q,k,v ({B}, {H}, {T}, {D}), causal; one (B, H, T, T) fp32 weights "
          f"tensor = {weights_mb:.1f} MiB; max |out diff| = {attn_diff:.2e}")
    print_table("attention forward+backward", ["version", "median ms", "IQR/med", "rounds", "saved MiB"],
                [row + [memory[row[0]] / 2**20] for row in timing_rows(attn)])
    print_table("ratios", ["comparison", "ratio", "paired", "goal"], [
        ["kv cache speedup uncached/cached", speedup["ratio"], speedup["paired"], ">= 5"],
        ["didactic/fused(is_causal) time", r_causal["ratio"], r_causal["paired"], "-"],
        ["didactic/fused(mask) time", r_mask["ratio"], r_mask["paired"], "-"],
        ["didactic/fused(is_causal) saved memory",
         memory["didactic"] / memory["fused(is_causal)"], float("nan"), "-"],
    ])
    result = {
        "cache_speedup": speedup["ratio"], "cache_speedup_paired": speedup["paired"],
        "gen_cached_ms": 1e3 * median(gen["cached"]), "gen_uncached_ms": 1e3 * median(gen["uncached"]),
        "same_tokens": same_tokens,
        "attn_didactic_ms": 1e3 * median(attn["didactic"]),
        "attn_fused_causal_ms": 1e3 * median(attn["fused(is_causal)"]),
        "attn_fused_mask_ms": 1e3 * median(attn["fused(mask)"]),
        "attn_didactic_over_fused_causal": r_causal["ratio"], "attn_didactic_over_fused_mask": r_mask["ratio"],
        "attn_saved_bytes_didactic": memory["didactic"], "attn_saved_bytes_fused_causal": memory["fused(is_causal)"],
        "attn_saved_bytes_fused_mask": memory["fused(mask)"],
        "attn_memory_ratio": memory["didactic"] / memory["fused(is_causal)"],
        "attn_max_diff": attn_diff, **environment(args),
    }
    print_json("cache", result)
    return result


if __name__ == "__main__":
    main()

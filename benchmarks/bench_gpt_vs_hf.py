"""tfm.GPT vs Hugging Face GPT2LMHeadModel (SDPA attention) of the same size, on CPU.

Default size: nanoGPT's CPU "baby" Shakespeare model (4 layers, 4 heads, width 128,
block 64, batch 12, vocabulary 65, dropout 0, MLP 512, tied output layer).

1. training step: zero_grad + forward + cross-entropy + backward, median ms per step;
2. cached greedy generation of --new-tokens tokens: tfm ``GPT.generate`` vs HF
   ``generate(do_sample=False, use_cache=True)`` and vs a bare HF loop over the cache.

tfm gets HF's weights (``tfm.interop.from_hf_gpt2``), so both compute the same function: the
script prints the largest logit difference and whether both generate the same tokens.
Nothing is downloaded.

    python benchmarks/bench_gpt_vs_hf.py [--threads 2] [--repeats 40]
"""
from __future__ import annotations

import argparse
import inspect

import benchutils  # noqa: F401  (puts the repository root on sys.path)
import torch
import torch.nn.functional as F
from benchutils import (add_common_args, environment, median, print_json, print_table, ratio, setup, time_interleaved,
                    timing_rows)

import tfm
from tfm.interop import from_hf_gpt2


def build_hf(args):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=args.vocab, n_positions=args.block, n_embd=args.width, n_layer=args.layers,
                     n_head=args.heads, n_inner=4 * args.width, activation_function="gelu_new",
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                     bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = GPT2LMHeadModel._from_config(cfg, attn_implementation="sdpa")  # random weights, no download
    model.generation_config.pad_token_id = 0  # no eos: generation always makes --new-tokens tokens
    return model


def hf_manual_generate(model, idx: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy decoding with the HF model and its key/value cache, no ``generate`` machinery."""
    # transformers 5 renamed past_key_values to cache; accept either.
    kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out = model(input_ids=idx, use_cache=True)
    tokens = [idx]
    for i in range(new_tokens):
        nxt = out.logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        tokens.append(nxt)
        if i + 1 < new_tokens:
            out = model(input_ids=nxt, use_cache=True, **{kw: getattr(out, kw)})
    return torch.cat(tokens, dim=1)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--prompt", type=int, default=8, help="prompt length for generation")
    p.add_argument("--new-tokens", type=int, default=56, help="tokens to generate (prompt + new <= block)")
    p.add_argument("--gen-batch", type=int, default=1)
    add_common_args(p, repeats=40, budget=15.0)
    args = p.parse_args(argv)
    if args.prompt + args.new_tokens > args.block:
        p.error("--prompt + --new-tokens must be <= --block")
    setup(args)

    hf = build_hf(args)
    ours = from_hf_gpt2(hf)  # the same weights, converted by tfm.interop
    x = torch.randint(0, args.vocab, (args.batch, args.block))
    y = torch.randint(0, args.vocab, (args.batch, args.block))
    ours.eval(), hf.eval()
    with torch.no_grad():
        max_diff = (ours(x) - hf(input_ids=x).logits).abs().max().item()

    # 1. training step
    ours.train(), hf.train()

    def step(model, logits_of):
        def run():
            model.zero_grad(set_to_none=True)
            logits = logits_of(x)
            F.cross_entropy(logits.reshape(-1, args.vocab), y.reshape(-1)).backward()
        return run

    train = time_interleaved({"tfm": step(ours, ours), "hf": step(hf, lambda t: hf(input_ids=t).logits)}, args)

    # 2. cached greedy generation
    ours.eval(), hf.eval()
    prompt = torch.randint(0, args.vocab, (args.gen_batch, args.prompt))
    n = args.new_tokens

    @torch.no_grad()
    def gen_tfm():
        return ours.generate(prompt, n, do_sample=False, use_cache=True)

    @torch.no_grad()
    def gen_hf():
        return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, use_cache=True)

    @torch.no_grad()
    def gen_hf_loop():
        return hf_manual_generate(hf, prompt, n)

    outs = {"tfm": gen_tfm(), "hf": gen_hf(), "hf_loop": gen_hf_loop()}
    same_tokens = all(torch.equal(outs["tfm"], o) for o in outs.values())
    gen = time_interleaved({"tfm": gen_tfm, "hf": gen_hf, "hf_loop": gen_hf_loop},
                           args, max(3, args.repeats // 2), warmup=1)

    r_train = ratio(train, "tfm", "hf")
    r_gen = ratio(gen, "tfm", "hf")
    r_loop = ratio(gen, "tfm", "hf_loop")
    med = {f"{kind}_{name}_ms": 1e3 * median(ts) for kind, d in (("train", train), ("gen", gen))
           for name, ts in d.items()}

    print(f"GPT {args.layers}L {args.heads}H d={args.width} block={args.block} batch={args.batch} "
          f"vocab={args.vocab}; threads={args.threads}; max |logit diff| tfm vs hf = {max_diff:.2e}")
    print_table("forward+backward per step", ["model", "median ms", "IQR/med", "rounds"], timing_rows(train))
    print_table(f"greedy generation, {n} new tokens, batch {args.gen_batch} (same tokens: {same_tokens})",
                ["model", "median ms", "IQR/med", "rounds"], timing_rows(gen))
    print_table("ratios (tfm / peer; < 1 means tfm is faster)", ["comparison", "ratio", "paired", "goal"], [
        ["train step tfm/hf", r_train["ratio"], r_train["paired"], "<= 1.0"],
        ["generate tfm/hf.generate", r_gen["ratio"], r_gen["paired"], "<= 1.0"],
        ["generate tfm/hf manual loop", r_loop["ratio"], r_loop["paired"], "-"],
    ])
    result = {
        "train_ratio": r_train["ratio"], "train_ratio_paired": r_train["paired"],
        "gen_ratio": r_gen["ratio"], "gen_ratio_paired": r_gen["paired"],
        "gen_loop_ratio": r_loop["ratio"], "gen_loop_ratio_paired": r_loop["paired"],
        **med, "max_logit_diff": max_diff, "same_tokens": same_tokens, **environment(args),
    }
    print_json("gpt_vs_hf", result)
    return result


if __name__ == "__main__":
    main()

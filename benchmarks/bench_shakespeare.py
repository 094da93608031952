"""tfm.GPT trained with nanoGPT's CPU "baby" recipe on tiny Shakespeare, against nanoGPT's numbers.

The reference: nanoGPT's README trains shakespeare_char on a CPU with this recipe and reaches
a validation loss of 1.886 after 2000 steps; on these 2 cores (idle) its steps take a median
of about 32 ms (about 65 s in all). The recipe, used here through ``tfm.train``:

* characters (65 symbols), the first 90% of the text to train on, the last 10% to validate;
* 4 layers, 4 heads, width 128, context 64, batch 12, dropout 0, no biases (nanoGPT's
  ``bias=False``: linear layers and LayerNorms), exact GELU (nanoGPT's ``nn.GELU()``), output
  layer tied to the token embedding, GPT-2's initialisation;
* AdamW, betas (0.9, 0.99), eps 1e-8, weight decay 0.1 on matrices and embeddings, gradient
  clipping at 1.0; learning rate 1e-3 after 100 warm-up steps, cosine decay to 1e-4 at step 2000.

Validation loss as nanoGPT estimates it: the mean over --eval-iters (200) random validation
batches. Time per step: the median over the steps of the real run (the time between the
loop's calls for consecutive batches: everything a step does), on the wall clock and as this
process's CPU time (which a busy machine inflates much less). Two more measurements of the
same run put that time in context: tfm's step interleaved with a nanoGPT-style peer (the same
architecture and optimizer written out below, nanoGPT's way: fused QKV matrix, AdamW's default
CPU update), which says whether tfm's code costs anything over nanoGPT's way of writing the
same model; and the recipe's matrix products alone (see ``matmul_floor``), a floor that no
implementation of this architecture can go below on this machine.

The text is not part of tfm (the course needs no download): pass --text PATH, by default the
shared copy beside the repository; without it the script says so and exits.

    python benchmarks/bench_shakespeare.py [--text PATH] [--threads 2] [--steps 2000]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import benchutils  # noqa: F401  (puts the repository root on sys.path)
import torch
import torch.nn.functional as F
from benchutils import ROOT, environment, median, print_json, print_table, ratio, time_interleaved, timing_rows
from torch import nn

import tfm
from tfm.data import get_lm_batch, load_text, split_text
from tfm.embedding import trusted_ids
from tfm.tokenizer import CharTokenizer
from tfm.train import TrainConfig, configure_optimizer, default_loss_fn, estimate_loss, train

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
REFERENCE = {"val_loss": 1.886, "step_ms": 32.0, "seconds": 65.0}  # nanoGPT, 2000 steps, 2 idle cores


class NanoBlock(nn.Module):
    """nanoGPT's Block: pre-LN attention (Q, K, V from one matrix) and MLP, no biases."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.c_attn, self.attn_proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    """nanoGPT's GPT: token + position embeddings, blocks, final LayerNorm, tied output layer."""

    def __init__(self, vocab: int, block: int, layers: int, d: int, heads: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(NanoBlock(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, bias=False)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))  # (B, T, d)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (B, T, vocab)


@torch.no_grad()
def copy_weights(src: tfm.GPT, dst: NanoGPT) -> None:
    """Load tfm's parameters into the peer (its Q, K, V matrices stacked into one)."""
    dst.wte.weight.copy_(src.tok_emb.weight)  # lm_head is tied to wte
    dst.wpe.weight.copy_(src.pos_emb.weight)
    for layer, block in zip(src.decoder.layers, dst.blocks):
        a = layer.self_attn
        block.ln_1.weight.copy_(layer.res_self.norm.weight)
        block.c_attn.weight.copy_(torch.cat([a.w_q.weight, a.w_k.weight, a.w_v.weight]))
        block.attn_proj.weight.copy_(a.w_o.weight)
        block.ln_2.weight.copy_(layer.res_ff.norm.weight)
        block.c_fc.weight.copy_(layer.ff.linear1.weight)
        block.mlp_proj.weight.copy_(layer.ff.linear2.weight)
    dst.ln_f.weight.copy_(src.decoder.norm.weight)


def nano_optimizer(model: nn.Module, args) -> torch.optim.AdamW:
    """nanoGPT's configure_optimizers on a CPU: decay on >= 2-D tensors, AdamW's default (foreach) update."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.99))


def build_tfm(vocab: int, args) -> tfm.GPT:
    torch.manual_seed(args.seed)
    return tfm.GPT(tfm.GPTConfig(vocab_size=vocab, max_len=args.block, n_layers=args.layers, d_model=args.width,
                                 n_heads=args.heads, dropout=0.0, bias=args.bias, activation="gelu"))


def peer_ratio(vocab: int, train_data: torch.Tensor, args) -> tuple[dict, dict]:
    """Interleaved timing of one training step, tfm vs the nanoGPT-style peer, on the same batches."""
    ours, peer = build_tfm(vocab, args), NanoGPT(vocab, args.block, args.layers, args.width, args.heads)
    opt_ours = configure_optimizer(ours, args.lr, args.weight_decay, (0.9, 0.99), 1e-8, fused=args.fused)
    opt_peer = nano_optimizer(peer, args)
    g = torch.Generator().manual_seed(args.seed)
    x, y = get_lm_batch(train_data, args.block, args.batch, g)
    max_diff = float("nan")
    if not args.bias:  # the same function: tfm's weights in the peer give the same logits
        copy_weights(ours, peer)
        with torch.no_grad():
            max_diff = (ours(x) - peer(x)).abs().max().item()

    def step(model, optimizer, forward):
        def run():
            loss = F.cross_entropy(forward(x).reshape(-1, vocab), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            return loss.item()
        return run

    def ours_checked_once(t: torch.Tensor) -> torch.Tensor:
        with trusted_ids():  # as tfm.train runs it: the ids were checked where they entered
            return ours(t)

    fns = {"tfm": step(ours, opt_ours, ours_checked_once),
           "nanogpt-style": step(peer, opt_peer, peer)}
    times = time_interleaved(fns, argparse.Namespace(clock=args.clock, budget=args.peer_budget),
                             repeats=args.peer_rounds, warmup=5)
    return times, {**ratio(times, "tfm", "nanogpt-style"), "max_logit_diff": max_diff}


def matmul_floor(vocab: int, args, rounds: int = 30) -> dict:
    """The recipe's matrix products alone, timed on this machine in this run: a floor for any step.

    Every linear layer of the model (Q, K, V, output, the two feed-forward matrices per layer,
    the output layer), forward and backward (the gradients of the input and of the weight), on
    batch x block rows, and nothing else: no attention, GELU, LayerNorm, loss or optimizer.
    A training step of this architecture cannot take less, however it is written.
    """
    d, n = args.width, args.batch * args.block
    shapes = [(d, d)] * 4 * args.layers + [(d, 4 * d), (4 * d, d)] * args.layers + [(d, vocab)]
    inputs = [torch.randn(n, i, requires_grad=True) for i, _ in shapes]  # (B*T, in) each
    weights = [torch.randn(i, o, requires_grad=True) for i, o in shapes]  # (in, out) each
    grads = [torch.randn(n, o) for _, o in shapes]  # what backward brings to each output

    def run() -> None:
        outs = [x @ w for x, w in zip(inputs, weights)]  # (B*T, out) each
        torch.autograd.grad(outs, inputs + weights, grads)  # 2 products each: d input, d weight

    times = time_interleaved({"matmul": run}, argparse.Namespace(clock="wall", budget=math.inf),
                             repeats=rounds, warmup=3)["matmul"]
    flops = 6 * n * sum(i * o for i, o in shapes)  # 2 per multiply-add, forward + 2 backward products
    ms = 1e3 * median(times)
    return {"matmul_floor_ms": ms, "matmul_gflop": flops / 1e9, "matmul_gflops_per_s": flops / (ms / 1e3) / 1e9}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="tiny Shakespeare (input.txt of char-rnn)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-iters", type=int, default=200, help="validation batches averaged, as nanoGPT")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--bias", action="store_true", help="biases in linear layers and LayerNorms (nanoGPT: none)")
    p.add_argument("--no-fused", dest="fused", action="store_false", help="AdamW's foreach update instead of fused")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch threads (default: all cores, as the reference)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="cpu", help="clock of the interleaved peer timing")
    p.add_argument("--peer-rounds", type=int, default=60, help="interleaved rounds vs the peer; 0: skip")
    p.add_argument("--peer-budget", type=float, default=20.0, help="seconds at most for the peer rounds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="tqdm progress bar")
    args = p.parse_args(argv)

    if not args.text.is_file():
        print(f"bench_shakespeare: skipped: {args.text} not found (tiny Shakespeare is not part of tfm; "
              "pass --text PATH to char-rnn's input.txt)")
        result = {"skipped": f"{args.text} not found"}
        print_json("shakespeare", result)
        return result
    torch.set_num_threads(args.threads)
    text = load_text(args.text)
    tok = CharTokenizer.train(text, special_tokens=())  # the text's 65 characters and nothing else, as nanoGPT
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    train_data, val_data = split_text(data, 0.1)  # nanoGPT: first 90% / last 10%
    model = build_tfm(tok.vocab_size, args)
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, schedule="cosine", warmup_steps=args.warmup,
                      min_lr=args.min_lr, weight_decay=args.weight_decay, betas=(0.9, 0.99), eps=1e-8, grad_clip=1.0,
                      eval_interval=0, eval_batches=0, device="cpu", seed=args.seed, fused=args.fused,
                      progress=args.progress)

    wall: list[float] = []  # when each step asked for its batch: consecutive differences are whole steps
    cpu: list[float] = []

    def get_batch(step: int, g: torch.Generator):
        wall.append(time.perf_counter())
        cpu.append(time.process_time())
        return get_lm_batch(train_data, args.block, args.batch, g)

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0, c0 = time.perf_counter(), time.process_time()
    result = train(model, get_batch, cfg)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    step_ms = 1e3 * median([b - a for a, b in zip(wall, wall[1:])])
    step_cpu_ms = 1e3 * median([b - a for a, b in zip(cpu, cpu[1:])])

    loss_fn = default_loss_fn(model)
    batch_losses: list[float] = []  # one per validation batch: how noisy an estimate from fewer batches is

    def recording_loss(m, batch):
        loss = loss_fn(m, batch)
        batch_losses.append(loss.item())
        return loss

    val_loss = estimate_loss(model, lambda i, g: get_lm_batch(val_data, args.block, args.batch, g),
                             args.eval_iters, recording_loss, seed=args.seed + 1)
    # nanoGPT's README runs this recipe with --eval_iters=20: the standard deviation of a mean of
    # 20 random batches around the true validation loss (batches are independent draws).
    sd_20 = statistics.stdev(batch_losses) / math.sqrt(20) if len(batch_losses) > 1 else float("nan")
    train_loss = estimate_loss(model, lambda i, g: get_lm_batch(train_data, args.block, args.batch, g),
                               args.eval_iters, loss_fn, seed=args.seed + 1)

    floor = matmul_floor(tok.vocab_size, args)
    peer = None
    if args.peer_rounds > 0:
        times, peer = peer_ratio(tok.vocab_size, train_data, args)
    ref_steps = args.steps == 2000
    n_params = sum(p.numel() for p in model.parameters())
    print(f"tfm.GPT {args.layers}L {args.heads}H d={args.width} block={args.block} batch={args.batch} "
          f"bias={args.bias} gelu (exact), {n_params / 1e6:.3f}M params, vocab {tok.vocab_size}; {args.steps} steps "
          f"on {args.threads} thread(s), load average {load_before:.1f} on {os.cpu_count()} cores")
    rows = [
        ["val loss (mean of %d batches)" % args.eval_iters, val_loss, REFERENCE["val_loss"],
         val_loss / REFERENCE["val_loss"], "<= 1.88"],
        ["sd of a 20-batch estimate (nanoGPT's --eval_iters=20)", sd_20, float("nan"), float("nan"), "-"],
        ["median wall ms / step", step_ms, REFERENCE["step_ms"], step_ms / REFERENCE["step_ms"], "<= 1.0 ratio"],
        ["median CPU ms / step", step_cpu_ms, float("nan"), float("nan"), "-"],
        ["wall seconds, whole run", seconds, REFERENCE["seconds"] if ref_steps else float("nan"),
         seconds / REFERENCE["seconds"] if ref_steps else float("nan"), "-"],
    ]
    rows.append([f"matrix products alone ({floor['matmul_gflop']:.2f} GFLOP at {floor['matmul_gflops_per_s']:.0f} GFLOP/s)",
                 floor["matmul_floor_ms"], REFERENCE["step_ms"], floor["matmul_floor_ms"] / REFERENCE["step_ms"],
                 "a floor"])
    print_table("tfm vs nanoGPT's reference (ratio = tfm / reference)", ["what", "tfm", "nanoGPT", "ratio", "goal"],
                rows)
    if peer is not None:
        print_table(f"one training step, interleaved with a nanoGPT-style peer ({args.clock} clock; "
                    f"max |logit diff| with the same weights {peer['max_logit_diff']:.1e})",
                    ["model", "median ms", "IQR/med", "rounds"], timing_rows(times))
    out = {
        "val_loss": val_loss, "train_loss": train_loss, "last_train_loss": result.losses[-1],
        "val_loss_ratio": val_loss / REFERENCE["val_loss"], "val_loss_sd_20_batches": sd_20,
        "step_ms": step_ms, "step_cpu_ms": step_cpu_ms,
        "step_ratio": step_ms / REFERENCE["step_ms"], "seconds": seconds, "cpu_seconds": cpu_seconds,
        "steps": args.steps, "eval_iters": args.eval_iters, "bias": args.bias, "fused": args.fused, "params": n_params,
        "reference": REFERENCE, "load_avg_before": load_before, **floor,
        **({"peer_step_ratio": peer["ratio"], "peer_step_ratio_paired": peer["paired"],
            "peer_tfm_ms": 1e3 * median(times["tfm"]), "peer_nanogpt_ms": 1e3 * median(times["nanogpt-style"]),
            "peer_clock": args.clock, "peer_max_logit_diff": peer["max_logit_diff"]} if peer is not None else {}),
        **environment(argparse.Namespace(clock="wall")),
    }
    print_json("shakespeare", out)
    return out


if __name__ == "__main__":
    main()

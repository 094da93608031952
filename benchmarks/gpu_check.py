"""Everything a CUDA GPU has to confirm about tfm, in one run of a few minutes (under 8 on one GPU).

    python benchmarks/gpu_check.py             # on a GPU: writes benchmarks/gpu_results.json
    python benchmarks/gpu_check.py --quick     # tiny sizes, seconds (the CPU smoke test runs this)

The checks, each timed and summed up in one table (and a JSON file for the performance appendix):

1. ``tests``: the package's device tests on CUDA (the tests that take the ``device`` fixture run
   once on the CPU and once on CUDA), with the loop's and generation's tests (``--all-tests``: all).
2. ``char_gpt``: a character GPT trained with bf16 autocast and ``torch.compile``: tokens/s and
   MFU of the steady state (a first run compiles; the measured run resumes from its checkpoint).
3. ``flash``: the fused flash-attention kernel really runs GPT's attention (forward and backward
   with every other SDPA kernel switched off; the profiler's kernel names as well).
4. ``ctrl_c``: a real SIGINT in the middle of a run on the GPU, then a resume from its checkpoint:
   the losses of the run that was never interrupted, dropout included.
5. ``generation``: greedy generation with the key/value cache and without it gives the same
   tokens (past the context window too), and how much faster the cache is.
6. ``seq2seq``: ``python -m tfm train --task reverse`` (the CLI's defaults) reaches >= 95% exact
   match on held-out sequences.

Without CUDA the script runs what it can on the CPU with small sizes, says what it skipped and
why, and writes a JSON file only when given ``--output``. Exit status 1 if a check failed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import benchutils  # noqa: F401  (puts the repository root on sys.path)
import torch
from benchutils import ROOT, print_table

import tfm
import tfm.data
from tfm.checkpoint import load_checkpoint
from tfm.data import char_corpus, get_lm_batch, split_text
from tfm.losses import lm_loss
from tfm.tokenizer import CharTokenizer
from tfm.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "gpu_results.json"


class Skip(Exception):
    """A check that cannot run here; the message says why."""


def sizes(ctx: argparse.Namespace) -> dict:
    """The character GPT's size: nanoGPT's Shakespeare model on a GPU, much smaller elsewhere."""
    if ctx.quick:
        return dict(layers=1, d_model=32, heads=2, block=16, batch=4, warm=2, steps=4)
    if ctx.cuda:
        return dict(layers=6, d_model=384, heads=6, block=256, batch=64, warm=30, steps=200)
    return dict(layers=2, d_model=64, heads=4, block=64, batch=8, warm=5, steps=30)


def char_data(ctx: argparse.Namespace) -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """The character corpus (--quick: the source of tfm.data, which needs no 8-second build)."""
    text = Path(tfm.data.__file__).read_text() if ctx.quick else char_corpus()
    tok = CharTokenizer.train(text)
    train_data, val_data = split_text(torch.tensor(tok.encode(text), dtype=torch.long), 0.1)
    return tok, train_data, val_data


def new_gpt(ctx: argparse.Namespace, vocab: int, dropout: float = 0.0) -> tfm.GPT:
    s = sizes(ctx)
    torch.manual_seed(0)
    return tfm.GPT(tfm.GPTConfig(vocab_size=vocab, max_len=s["block"], n_layers=s["layers"], d_model=s["d_model"],
                                 n_heads=s["heads"], dropout=dropout))


# ---- the checks: each returns a dict of numbers, raises Skip, or fails with an exception ----

# The tests that take the ``device`` fixture (CPU and CUDA), and the loop's and generation's tests,
# which on a GPU machine also go through the CUDA branches (CUDA random states, fused AdamW's default).
DEVICE_TEST_FILES = ("test_gpu_paths.py", "test_generate.py", "test_train.py")


def check_tests(ctx: argparse.Namespace) -> dict:
    if not ctx.cuda:
        raise Skip("no CUDA: the tests' CUDA variants (the device fixture's 'cuda') exist only where a GPU is")
    if ctx.quick:
        raise Skip("--quick")
    files = ["tests"] if ctx.all_tests else [f"tests/{name}" for name in DEVICE_TEST_FILES]
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900 if ctx.all_tests else 360)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}
    if proc.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(files)}: {summary}\n{proc.stdout[-3000:]}")
    return {"passed": counts.get("passed", 0), "summary": summary}


def check_char_gpt(ctx: argparse.Namespace) -> dict:
    s, tok, train_data, val_data = sizes(ctx), *char_data(ctx)
    compile_ = ctx.cuda and not ctx.quick
    notes = [] if compile_ else ["torch.compile skipped: CUDA only here (inductor's CPU build is slow)"]
    model = new_gpt(ctx, tok.vocab_size)
    ckpt = Path(ctx.tmp) / "char_gpt.pt"
    cfg = TrainConfig(steps=s["warm"], batch_size=s["batch"], lr=1e-3, schedule="constant", warmup_steps=10,
                      betas=(0.9, 0.95),
                      weight_decay=0.1, eval_interval=0, eval_batches=4, device=ctx.device, amp="bf16",
                      compile=compile_, checkpoint=str(ckpt), progress=False, seed=0)
    get_batch = lambda step, g: get_lm_batch(train_data, s["block"], s["batch"], g)  # noqa: E731
    get_val = lambda i, g: get_lm_batch(val_data, s["block"], s["batch"], g)  # noqa: E731
    first = train(model, get_batch, cfg, get_val_batch=get_val)  # compiles (on a GPU)
    cfg.steps = s["warm"] + s["steps"]
    result = train(model, get_batch, cfg, get_val_batch=get_val, resume=True)  # the steady state
    ctx.char_model = model
    return {"params": sum(p.numel() for p in model.parameters()), "steps": s["steps"],
            "first_run_s": round(first.seconds, 2), "tokens_per_s": round(result.tokens_per_s),
            "mfu": None if result.mfu is None else round(result.mfu, 4), "val_loss": round(result.val_loss, 4),
            "notes": notes + ([] if result.mfu is not None else ["MFU: no peak FLOP/s known for this device"])}


def check_flash(ctx: argparse.Namespace) -> dict:
    if not ctx.cuda:
        raise Skip("no CUDA: flash attention is a CUDA kernel")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = new_gpt(ctx, 96).cuda()
    s = sizes(ctx)
    x = torch.randint(0, 96, (s["batch"], s["block"]), device="cuda")

    def step() -> None:
        # Every other SDPA kernel is switched off: this raises if tfm's call cannot use flash
        # attention (a mask instead of is_causal=True, float32 inputs, an odd head size).
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), torch.autocast("cuda", dtype=torch.bfloat16):
            lm_loss(model(x[:, :-1]), x[:, 1:]).backward()
        torch.cuda.synchronize()

    step()
    record = {"flash_only_forward_backward": True}
    try:  # the kernels' names as well, where the profiler (CUPTI) is available
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
        kernels = sorted({e.key for e in prof.key_averages() if "flash" in e.key.lower()})
        record.update(flash_kernels=len(kernels), example=kernels[0][:80] if kernels else None)
    except Exception as e:  # the check above already proved it
        record["profiler"] = f"unavailable ({type(e).__name__})"
    return record


def check_ctrl_c(ctx: argparse.Namespace) -> dict:
    s, tok, train_data, _ = sizes(ctx), *char_data(ctx)
    steps, stop = (8, 5) if ctx.quick else (40, 17)
    ckpt = Path(ctx.tmp) / "ctrl_c.pt"
    cfg = TrainConfig(steps=steps, batch_size=s["batch"], lr=1e-3, warmup_steps=2, eval_interval=0,
                      device=ctx.device, amp="bf16" if ctx.cuda else "off", progress=False, seed=1)
    get_batch = lambda step, g: get_lm_batch(train_data, s["block"], s["batch"], g)  # noqa: E731

    def batch_then_ctrl_c(step: int, g: torch.Generator):
        if step == stop:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of a step
        return get_batch(step, g)

    full = train(new_gpt(ctx, tok.vocab_size, dropout=0.1), get_batch, cfg)
    cfg.checkpoint = str(ckpt)
    try:
        train(new_gpt(ctx, tok.vocab_size, dropout=0.1), batch_then_ctrl_c, cfg)
        raise RuntimeError("the SIGINT did not stop the run")
    except KeyboardInterrupt:
        pass
    saved = load_checkpoint(ckpt)["step"]
    torch.manual_seed(123)  # a different state: everything must come from the checkpoint
    resumed = train(new_gpt(ctx, tok.vocab_size, dropout=0.1), get_batch, cfg, resume=True)
    diff = max(abs(a - b) for a, b in zip(resumed.losses, full.losses))
    if saved != stop or len(resumed.losses) != steps or diff > 1e-3 * max(map(abs, full.losses)):
        raise RuntimeError(f"checkpoint of step {saved} (expected {stop}); resumed losses differ by {diff:.3g}")
    return {"stopped_after_step": saved, "max_loss_diff": diff, "bitwise_equal": resumed.losses == full.losses}


def check_generation(ctx: argparse.Namespace) -> dict:
    tok, train_data, _ = char_data(ctx)
    model = getattr(ctx, "char_model", None) or new_gpt(ctx, tok.vocab_size).to(ctx.device)
    block = model.config.max_len
    prompt = train_data[: 2 * 8].view(2, 8).to(ctx.device)
    new = block - 8 + (8 if ctx.quick else 64)  # past the window: the last steps re-run the whole window

    def timed(use_cache: bool) -> tuple[torch.Tensor, float]:
        sync = torch.cuda.synchronize if ctx.cuda else (lambda: None)
        sync()
        t0 = time.perf_counter()
        out = model.generate(prompt, new, use_cache=use_cache)
        sync()
        return out, time.perf_counter() - t0

    (cached, t_cached), (plain, t_plain) = timed(True), timed(False)
    same = torch.equal(cached, plain)
    if not same:
        first = int((cached != plain).any(dim=0).nonzero()[0])
        raise RuntimeError(f"cached and uncached generation differ from position {first}")
    return {"new_tokens": new, "window": block, "same_tokens": same, "cached_s": round(t_cached, 3),
            "uncached_s": round(t_plain, 3), "cache_speedup": round(t_plain / t_cached, 2)}


def check_seq2seq(ctx: argparse.Namespace) -> dict:
    from tfm.__main__ import main as cli

    argv = ["train", "--task", "reverse", "--no-progress", "--device", ctx.device, "--sample-len", "0"]
    if ctx.quick:
        argv += ["--steps", "20", "--n-train", "300", "--n-val", "20", "--eval-interval", "0", "--d-model", "16",
                 "--heads", "2", "--d-ff", "32", "--layers", "1", "--batch-size", "16"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(argv)
    if code != 0:
        raise RuntimeError(f"python -m tfm {' '.join(argv)} exited with {code}")
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    if not ctx.quick and line["exact_match"] < 0.95:
        raise RuntimeError(f"exact match {line['exact_match']:.3f} < 0.95")
    notes = ["--quick: 20 steps, the 95% threshold is not applied"] if ctx.quick else []
    return {"exact_match": line["exact_match"], "steps": line["steps"], "train_s": round(line["seconds"], 2),
            "notes": notes}


CHECKS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "tests": check_tests, "char_gpt": check_char_gpt, "flash": check_flash, "ctrl_c": check_ctrl_c,
    "generation": check_generation, "seq2seq": check_seq2seq,
}


# ---- running them ----

def run_check(name: str, ctx: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    try:
        record = {"status": "ok", **CHECKS[name](ctx)}
    except Skip as e:
        record = {"status": "skipped", "why": str(e)}
    except Exception as e:  # a failed check: record it, go on with the others
        record = {"status": "failed", "why": f"{type(e).__name__}: {str(e)[:2000]}"}
    record["seconds"] = round(time.perf_counter() - t0, 2)
    print(f"[{name}] {record['status']}" + (f": {record['why']}" if "why" in record else ""), flush=True)
    return record


def environment_info(ctx: argparse.Namespace) -> dict:
    info = {"torch": torch.__version__, "device": ctx.device, "python": sys.version.split()[0]}
    if ctx.cuda:
        info.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                    gpu_memory_gb=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return info


def summary_rows(checks: dict) -> list[list[str]]:
    rows = []
    for name, r in checks.items():
        numbers = {k: v for k, v in r.items() if k not in ("status", "why", "seconds", "notes", "summary")}
        shown = ", ".join(f"{k} {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k} {v}"
                          for k, v in numbers.items())
        rows.append([name, r["status"], shown or r.get("why", ""), f"{r['seconds']:.1f}"])
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (no test run, no compile)")
    p.add_argument("--only", nargs="+", choices=list(CHECKS), help="run only these checks")
    p.add_argument("--all-tests", action="store_true", help="the whole test suite, not only the device tests "
                   "(a few more minutes)")
    p.add_argument("--output", type=Path, default=None,
                   help=f"JSON summary (default on a GPU: {RESULTS.relative_to(ROOT)}; elsewhere none)")
    ctx = p.parse_args(argv)
    ctx.cuda = torch.cuda.is_available()
    ctx.device = "cuda" if ctx.cuda else "cpu"
    if not ctx.cuda:
        print("no CUDA: running the checks that can run on the CPU, at small sizes; the others say why they skip")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ctx.tmp = tmp
        checks = {name: run_check(name, ctx) for name in (ctx.only or CHECKS)}
    report = {"environment": environment_info(ctx), "quick": ctx.quick, "checks": checks,
              "skipped": {k: r["why"] for k, r in checks.items() if r["status"] == "skipped"},
              "seconds": round(time.perf_counter() - started, 1)}
    print_table("gpu_check: " + ("CUDA, " + torch.cuda.get_device_name() if ctx.cuda else "no CUDA (CPU)"),
                ["check", "status", "numbers (or why it skipped)", "s"], summary_rows(checks))
    output = ctx.output or (RESULTS if ctx.cuda and not ctx.quick else None)
    if output is not None:
        output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {output}")
    return report


if __name__ == "__main__":
    report = main()
    sys.exit(1 if any(r["status"] == "failed" for r in report["checks"].values()) else 0)

"""Run every benchmark with its default (small) sizes and print one table of ratios.

    python benchmarks/run_all.py                  # all cores, wall clock
    python benchmarks/run_all.py --threads 1 --clock cpu   # stable numbers on a busy machine
    python benchmarks/run_all.py --write          # also write benchmarks/results.json
    python benchmarks/run_all.py --quick          # tiny sizes, a few seconds (what the smoke test runs)

Each line of the table is a ratio measured against a peer in the same run; "goal" is the
course's target and "ok" says whether this run met it. Speed is not tested by the test
suite: these numbers depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import benchutils  # noqa: F401  (puts the repository root on sys.path)
from benchutils import print_table

import bench_cache
import bench_gpt_vs_hf
import bench_transformer_vs_torch

HERE = Path(__file__).resolve().parent
COMMON = ["--repeats", "2", "--warmup", "0", "--budget", "1"]
QUICK_ARGS = {  # tiny sizes: each benchmark runs in about a second
    "gpt_vs_hf": ["--layers", "1", "--heads", "2", "--width", "16", "--block", "8", "--batch", "2", "--vocab", "11",
                  "--prompt", "2", "--new-tokens", "3", *COMMON],
    "transformer_vs_torch": ["--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--batch", "4",
                             "--src-len", "6", "--tgt-len", "5", "--vocab", "20", *COMMON],
    "cache": ["--layers", "1", "--heads", "2", "--width", "16", "--vocab", "11", "--prompt", "2",
              "--new-tokens", "8", "--attn-batch", "1", "--attn-len", "8", "--attn-head-dim", "4", *COMMON],
}
BENCHMARKS = {
    "gpt_vs_hf": bench_gpt_vs_hf.main,
    "transformer_vs_torch": bench_transformer_vs_torch.main,
    "cache": bench_cache.main,
}
# (benchmark, key, what it is, goal as text, test of the goal)
SUMMARY = [
    ("gpt_vs_hf", "train_ratio", "GPT train step tfm / HF GPT-2", "<= 1.0", lambda r: r <= 1.0),
    ("gpt_vs_hf", "gen_ratio", "GPT greedy generate tfm / HF generate", "<= 1.0", lambda r: r <= 1.0),
    ("gpt_vs_hf", "gen_loop_ratio", "GPT greedy generate tfm / HF cache loop", "-", None),
    ("transformer_vs_torch", "train_ratio", "Transformer train step tfm / nn.Transformer", "<= 1.1",
     lambda r: r <= 1.1),
    ("cache", "cache_speedup", "KV cache speedup (uncached / cached)", ">= 5", lambda r: r >= 5.0),
    ("cache", "attn_didactic_over_fused_causal", "attention fwd+bwd didactic / fused", "-", None),
    ("cache", "attn_memory_ratio", "attention saved memory didactic / fused", "-", None),
]


def summarize(results: dict[str, dict]) -> list[dict]:
    rows = []
    for bench, key, what, goal, test in SUMMARY:
        if bench not in results:
            continue
        value = results[bench][key]
        rows.append({"benchmark": bench, "metric": key, "what": what, "value": value, "goal": goal,
                     "ok": None if test is None else bool(test(value))})
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke run; the ratios mean nothing)")
    p.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    p.add_argument("--write", action="store_true", help=f"write {HERE / 'results.json'}")
    p.add_argument("--output", type=Path, default=HERE / "results.json", help="where --write writes")
    args = p.parse_args(argv)

    results, seconds = {}, {}
    for name, run in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name} ===", flush=True)
        bench_argv = ["--threads", str(args.threads), "--clock", args.clock]
        if args.quick:
            bench_argv += QUICK_ARGS[name]
        t0 = time.perf_counter()
        results[name] = run(bench_argv)
        seconds[name] = time.perf_counter() - t0

    rows = summarize(results)
    print_table(f"summary (threads={args.threads}, clock={args.clock}{', QUICK sizes' if args.quick else ''})",
                ["what", "value", "goal", "ok"],
                [[r["what"], r["value"], r["goal"], "-" if r["ok"] is None else ("yes" if r["ok"] else "NO")]
                 for r in rows])
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    out = {"threads": args.threads, "clock": args.clock, "quick": args.quick, "summary": rows,
           "results": results, "seconds": seconds}
    if args.write:
        args.output.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.output}")
    print(json.dumps({"benchmark": "run_all", **{f"{r['benchmark']}.{r['metric']}": r["value"] for r in rows}},
                     sort_keys=True))
    return out


if __name__ == "__main__":
    main()

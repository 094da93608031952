"""Regenerate the book's performance appendix: run the benchmarks, save, plot, rewrite the table.

    python benchmarks/report.py                    # what `make bench` runs (a few minutes)
    python benchmarks/report.py --no-shakespeare   # only the ratio benchmarks (about a minute)
    python benchmarks/report.py --render-only      # redraw plot and page from results.json

1. runs every benchmark of run_all.py with its default (small) sizes, and
   bench_shakespeare.py (nanoGPT's recipe; skipped with a note when the text is missing);
2. writes benchmarks/results.json: run_all's record plus "shakespeare" and "machine";
3. draws book/performance_ratios.png: one bar per ratio, on a log scale, coloured by the goal;
4. rewrites book/performance.md between its two marker lines (the rest of the page is prose).

Threads and clock: by default one thread and CPU time (``--threads 1 --clock cpu``), the
setting benchutils recommends on a shared machine: each ratio compares two peers measured in
the same rounds, which the other jobs on the machine slow down alike.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import time
from pathlib import Path

import benchutils  # noqa: F401  (puts the repository root on sys.path)
import torch
from benchutils import ROOT

import bench_shakespeare
import run_all

RESULTS = ROOT / "benchmarks" / "results.json"
PAGE = ROOT / "book" / "performance.md"
PLOT = ROOT / "book" / "performance_ratios.png"
BEGIN, END = "<!-- report.py: begin -->", "<!-- report.py: end -->"


def machine(load_before: float) -> dict:
    """What the numbers were measured on: they mean little without it."""
    cpu = platform.processor() or "unknown CPU"
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "system": platform.system(), "load_avg_before": load_before, "load_avg_after": load,
            "date": datetime.date.today().isoformat()}


def shakespeare_rows(sh: dict) -> list[dict]:
    """The nanoGPT comparison as summary rows (ratio = tfm / nanoGPT's reference number)."""
    if "skipped" in sh:
        return []
    rows = [{"benchmark": "shakespeare", "metric": "val_loss_ratio", "what": "char GPT val loss / nanoGPT (1.886)",
             "value": sh["val_loss_ratio"], "goal": "<= 0.997 (1.88)", "ok": sh["val_loss"] <= 1.88},
            {"benchmark": "shakespeare", "metric": "step_ratio", "what": "char GPT wall ms per step / nanoGPT (32 ms)",
             "value": sh["step_ratio"], "goal": "<= 1.0", "ok": sh["step_ratio"] <= 1.0}]
    if "peer_step_ratio" in sh:
        rows.append({"benchmark": "shakespeare", "metric": "peer_step_ratio",
                     "what": "char GPT step / nanoGPT-style peer, same run", "value": sh["peer_step_ratio"],
                     "goal": "<= 1.0", "ok": sh["peer_step_ratio"] <= 1.0})
    return rows


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Horizontal bars of the ratios on a log scale; green: goal met, red: missed, grey: no goal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {True: "#2a9d55", False: "#d1495b", None: "#8d99ae"}
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(rows) + 1.3), dpi=110)
    y = list(range(len(rows)))[::-1]
    values = [r["value"] for r in rows]
    ax.barh(y, values, color=[colours[r["ok"]] for r in rows], height=0.6)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for yi, r in zip(y, rows):
        ax.text(r["value"] * 1.06, yi, f"{fmt(r['value'])}  (goal {r['goal']})", va="center", fontsize=8)
    ax.set_yticks(y, [r["what"] for r in rows], fontsize=8)
    ax.set_xlim(min(values + [1.0]) / 1.6, max(values + [1.0]) * 6)
    ax.set_xlabel("ratio (log scale; 1 = the same as the peer or reference)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def fmt(value: float) -> str:
    """3 decimals (a ratio of 1.005 is not 1), fewer for large values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def markdown(out: dict) -> str:
    """The generated part of the page: the machine, the ratio table, the Shakespeare run."""
    m, sh = out["machine"], out["shakespeare"]
    lines = [f"Measured on {m['date']}: {m['cpu']}, {m['cores']} cores, {m['system']}, Python {m['python']}, "
             f"torch {m['torch']}; load average {m['load_avg_before']:.1f} before and {m['load_avg_after']:.1f} "
             f"after (the machine is shared: above {m['cores']} means other jobs were running). Ratio benchmarks: "
             f"{out['threads']} thread(s), {out['clock']} clock.", "",
             "| what | ratio | goal | met |", "| --- | ---: | --- | --- |"]
    for r in out["summary"]:
        met = "-" if r["ok"] is None else ("yes" if r["ok"] else "**no**")
        lines.append(f"| {r['what']} | {fmt(r['value'])} | {r['goal']} | {met} |")
    lines += ["", "```{figure} performance_ratios.png", ":alt: the ratios of the table as bars on a log scale", "",
              "The table as a plot: green met its goal, red missed it, grey has no goal.", "```", ""]
    if "skipped" in sh:
        lines.append(f"Shakespeare: not run ({sh['skipped']}).")
    else:
        full = sh["steps"] == 2000  # the reference's whole run
        rows = [(f"validation loss (mean of {sh['eval_iters']} batches)", f"{sh['val_loss']:.3f}", "1.886",
                 fmt(sh["val_loss_ratio"])),
                *([("standard deviation of a 20-batch estimate (nanoGPT's README: --eval_iters=20)",
                    f"{sh['val_loss_sd_20_batches']:.3f}", "-", "-")] if "val_loss_sd_20_batches" in sh else []),
                (f"training loss (mean of {sh['eval_iters']} batches)", f"{sh['train_loss']:.3f}", "-", "-"),
                ("median wall ms per step", f"{sh['step_ms']:.1f}", "32", fmt(sh["step_ratio"])),
                ("median CPU ms per step (all threads)", f"{sh['step_cpu_ms']:.1f}", "-", "-"),
                ("whole run, wall seconds", f"{sh['seconds']:.0f}", "65" if full else "-",
                 fmt(sh["seconds"] / 65.0) if full else "-")]
        if "matmul_floor_ms" in sh:
            rows.append((f"the matrix products alone, same run ({sh['matmul_gflop']:.2f} GFLOP per step at "
                         f"{sh['matmul_gflops_per_s']:.0f} GFLOP/s): a floor", f"{sh['matmul_floor_ms']:.1f}", "32",
                         fmt(sh["matmul_floor_ms"] / 32.0)))
        if "peer_step_ratio" in sh:
            rows.append(("step, same run: tfm / nanoGPT-style peer (CPU ms)",
                         f"{sh['peer_tfm_ms']:.1f} / {sh['peer_nanogpt_ms']:.1f}", "-", fmt(sh["peer_step_ratio"])))
        lines += [f"Shakespeare, {sh['steps']} steps on {sh['threads']} thread(s), load average "
                  f"{sh['load_avg_before']:.1f} at the start; {'biases' if sh['bias'] else 'no biases'}, "
                  f"{'fused' if sh['fused'] else 'foreach'} AdamW:", "",
                  "| | tfm | nanoGPT | ratio |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def rewrite_page(page: Path, generated: str) -> None:
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page} has no '{BEGIN}' ... '{END}' lines to write between")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{generated}\n{END}{tail}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="threads of the ratio benchmarks")
    p.add_argument("--clock", choices=("wall", "cpu"), default="cpu", help="clock of the ratio benchmarks")
    p.add_argument("--shakespeare-threads", type=int, default=os.cpu_count() or 1,
                   help="threads of the Shakespeare run (default: all cores, as nanoGPT's reference)")
    p.add_argument("--no-shakespeare", action="store_true", help="leave out the 2000-step Shakespeare run")
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run: the numbers mean nothing)")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: redraw the plot and rewrite the page from --results")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--page", type=Path, default=PAGE)
    p.add_argument("--plot", type=Path, default=PLOT)
    args = p.parse_args(argv)

    if args.render_only:
        out = json.loads(args.results.read_text())
        render(out, args)
        return out
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.perf_counter()
    out = run_all.main(["--threads", str(args.threads), "--clock", args.clock] + (["--quick"] if args.quick else []))
    if args.no_shakespeare:
        sh = {"skipped": "--no-shakespeare"}
    else:
        print("\n=== shakespeare ===", flush=True)
        sh_argv = ["--threads", str(args.shakespeare_threads)]
        if args.quick:
            sh_argv += ["--steps", "20", "--eval-iters", "4", "--peer-rounds", "3", "--warmup", "5"]
        sh = bench_shakespeare.main(sh_argv)
    out["shakespeare"] = sh
    out["summary"] = out["summary"] + shakespeare_rows(sh)
    out["machine"] = machine(load_before)
    out["seconds"]["total"] = time.perf_counter() - t0

    args.results.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    render(out, args)
    print(f"wrote {args.results} in {out['seconds']['total']:.0f}s")
    return out


def render(out: dict, args) -> None:
    """The plot and the page, from the results."""
    m = out["machine"]
    plot(out["summary"], args.plot, f"tfm / peer, {m['cores']} cores, load {m['load_avg_before']:.1f}, "
                                    f"{out['threads']} thread(s), {out['clock']} clock, {m['date']}")
    rewrite_page(args.page, markdown(out))
    print(f"wrote {args.plot} and {args.page}")


if __name__ == "__main__":
    main()

"""Shared helpers of the benchmark scripts: threads, interleaved timing, tables.

Every script compares tfm with a peer measured in the same process and the same run:
each round times every peer once (the order alternates between rounds), after a few
warm-up calls, and the result is the median over the rounds. The ratio that matters is
``median(tfm) / median(peer)``; ``paired`` is the median of the per-round ratios, which is
less sensitive to load that drifts during the run (the machine is shared).

Clocks: ``--clock wall`` (default) is elapsed time. On a machine shared with other jobs
(load average above the core count) wall time mostly measures the scheduler, and with
more than one thread OpenMP's barriers make it much worse; then ``--threads 1 --clock cpu``
(the process's CPU time) gives stable numbers.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` without installing tfm
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def add_common_args(parser, repeats: int, warmup: int = 3, budget: float = 20.0) -> None:
    """--threads, --repeats, --warmup, --budget (seconds of timed rounds per comparison), --seed."""
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch.set_num_threads for every peer (default: all cores)")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed rounds per comparison (at most)")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed calls of each peer first")
    parser.add_argument("--budget", type=float, default=budget,
                        help="stop timing a comparison after this many seconds (min 3 rounds)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (use with --threads 1 on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def setup(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if args.clock == "wall" and load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} > {os.cpu_count()} cores; wall-clock times will be noisy "
              "(try --threads 1 --clock cpu)")


def time_interleaved(fns: dict[str, Callable[[], object]], args, repeats: int | None = None,
                     warmup: int | None = None, min_repeats: int = 3) -> dict[str, list[float]]:
    """Seconds per call of each function, interleaved: {name: [t_round0, t_round1, ...]}.

    Round r calls the functions in order (r even) or reversed order (r odd), so neither
    peer always runs right after the other. Stops after ``repeats`` rounds (default
    ``args.repeats``), or earlier once ``args.budget`` seconds (elapsed) have passed and
    ``min_repeats`` rounds are done. ``args.clock`` is "wall" or "cpu" (see above).
    """
    repeats = args.repeats if repeats is None else repeats
    warmup = args.warmup if warmup is None else warmup
    now, budget = CLOCKS[args.clock], args.budget
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = now()
            fns[name]()
            times[name].append(now() - t0)
        if r + 1 >= min_repeats and time.perf_counter() - start > budget:
            break
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def ratio(times: dict[str, list[float]], num: str, den: str) -> dict[str, float]:
    """median(num) / median(den), and the median of the per-round ratios ("paired")."""
    paired = statistics.median(a / b for a, b in zip(times[num], times[den]))
    return {"ratio": median(times[num]) / median(times[den]), "paired": paired}


def spread(xs: list[float]) -> float:
    """Relative interquartile range (IQR / median): how noisy the measurement was."""
    if len(xs) < 4:
        return float("nan")
    q = statistics.quantiles(xs, n=4)
    return (q[2] - q[0]) / statistics.median(xs)


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A small aligned table; floats get 3 significant decimals."""
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
        return str(v)
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def timing_rows(times: dict[str, list[float]], unit: float = 1e3) -> list[list[object]]:
    """[name, median ms, IQR/median, rounds] for each peer."""
    return [[name, median(ts) * unit, spread(ts), len(ts)] for name, ts in times.items()]


def print_json(name: str, result: dict) -> None:
    print(json.dumps({"benchmark": name, **result}, sort_keys=True))


def environment(args) -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "clock": args.clock,
            "cpu_count": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}

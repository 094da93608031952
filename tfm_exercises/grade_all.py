"""Grade a folder of submissions into a CSV gradebook.

    python -m tfm_exercises.grade_all submissions/ --out gradebook.csv [--seed N] [--jobs 4] [--json results.json]

Every ``*.ipynb`` under the folder (checkpoints skipped) is graded by ``tfm_exercises.grade``:
``--jobs`` grading processes (trusted, they never run submitted code) each take submissions one at a
time and run each in its own sandboxed worker. A submission that fails (raises, loops, prints
megabytes, imports a missing module, kills its worker, is not even a notebook) gets its row with 0
points for what failed and a status and message saying why; the batch always runs to the end, and a
grading process that dies still leaves a row. The submissions are never modified.

Every submission is graded with the same seed: ``--seed`` (the instructor's), or one drawn here
and written into every row, so the run can be repeated exactly.

The gradebook has one row per submission: file, exercise, status (graded / timeout / error),
score, possible, percent, the points of every test ("test_shape 1/1; test_values 0/3; ..."), the
feedback of the failed tests, the seed and the isolation (bwrap, or none where bubblewrap is missing).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .grade import (CELL_TIMEOUT, MEMORY_MB, TEST_TIMEOUT, TIMEOUT, _empty_result, add_limit_arguments,
                    bwrap_available, grade_submission, new_seed)

FIELDS = ["submission", "exercise", "status", "score", "possible", "percent", "tests", "feedback", "seed",
          "isolation"]
FEEDBACK_LIMIT = 2_000  # characters of feedback per row


def find_submissions(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def row(result: dict, folder: Path) -> dict:
    path = Path(result["submission"])
    try:
        name = str(path.relative_to(folder))
    except ValueError:
        name = str(path)
    failed = [f"{t['name']}: {t['message'].splitlines()[0] if t['message'] else 'failed'}"
              for t in result["tests"] if not t["passed"] and t["message"] != result["error"]]
    feedback = "; ".join(([result["error"]] if result["error"] else []) + failed)
    possible = result["possible"]
    return {
        "submission": name,
        "exercise": result["exercise"] or "",
        "status": result["status"],
        "score": f"{result['score']:g}",
        "possible": f"{possible:g}",
        "percent": f"{100 * result['score'] / possible:.1f}" if possible else "0.0",
        "tests": "; ".join(f"{t['name']} {t['score']:g}/{t['points']:g}" for t in result["tests"]),
        "feedback": feedback if len(feedback) <= FEEDBACK_LIMIT else feedback[:FEEDBACK_LIMIT] + " [...]",
        "seed": "" if result.get("seed") is None else str(result["seed"]),
        "isolation": result.get("isolation") or "",
    }


def _init_grader() -> None:
    import torch
    torch.set_num_threads(1)


def grade_folder(folder: Path, jobs: int = 4, timeout: float = TIMEOUT, cell_timeout: float = CELL_TIMEOUT,
                 test_timeout: float = TEST_TIMEOUT, seed: int | None = None, sandbox: str = "auto",
                 memory_mb: int = MEMORY_MB, progress: bool = True) -> list[dict]:
    """Grade every notebook under ``folder`` with one seed; results in file order, one per notebook."""
    paths = find_submissions(folder)
    seed = new_seed() if seed is None else seed
    context = multiprocessing.get_context("spawn")  # a clean interpreter per grading process
    results = []
    with ProcessPoolExecutor(max(1, jobs), mp_context=context, initializer=_init_grader) as pool:
        futures = [pool.submit(grade_submission, path, None, timeout, cell_timeout, test_timeout, seed, sandbox,
                               memory_mb) for path in paths]
        for path, future in zip(paths, futures):
            try:
                result = future.result()
            except Exception as e:  # the grading process itself died: the row says so, the batch goes on
                result = _empty_result(path, None, "error", f"the grader failed: {type(e).__name__}: {e}", seed)
            result["submission"] = str(path)
            if progress:
                print(f"{result['score']:>5g} / {result['possible']:<4g} {result['status']:<8} {path}", flush=True)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfm_exercises.grade_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of submitted notebooks (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="the CSV gradebook to write")
    parser.add_argument("--json", type=Path, help="also write every result, test by test, as JSON")
    parser.add_argument("--jobs", type=int, default=4,
                        help="grading processes (default 4), each running one sandboxed submission at a time")
    add_limit_arguments(parser)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    if args.sandbox == "bwrap" and not bwrap_available():
        parser.error("--sandbox bwrap: bubblewrap is not installed or cannot create namespaces here")
    seed = new_seed() if args.seed is None else args.seed
    print(f"seed {seed} (keep it to repeat this grading; it is in every row of the gradebook)", flush=True)
    if args.sandbox != "none" and not bwrap_available():
        print("warning: bubblewrap is not available, submissions run without a sandbox (see the instructors' page)",
              flush=True)
    results = grade_folder(args.folder, args.jobs, args.timeout, args.cell_timeout, args.test_timeout, seed,
                           args.sandbox, args.memory_mb)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow(row(result, args.folder))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    problems = sum(r["status"] != "graded" for r in results)
    print(f"graded {len(results)} submissions into {args.out}"
          + (f" ({problems} with a timeout or an error: see the status column)" if problems else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grade a folder of submissions into a CSV gradebook.

    python -m exercises.grade_all submissions/ --out gradebook.csv [--jobs 4] [--json results.json]

Every ``*.ipynb`` under the folder (checkpoints skipped) is graded by ``exercises.grade`` in its own
process, ``--jobs`` at a time. A submission that fails (raises, loops, prints megabytes, imports a
missing module, is not even a notebook) gets its row with 0 points for what failed and a status
and message saying why; the batch always runs to the end. The submissions are never modified.

The gradebook has one row per submission: file, exercise, status (graded / timeout / error),
score, possible, percent, the points of every test ("test_shape 1/1; test_values 0/3; ...") and
the feedback of the failed tests.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .grade import CELL_TIMEOUT, TEST_TIMEOUT, TIMEOUT, grade_submission

FIELDS = ["submission", "exercise", "status", "score", "possible", "percent", "tests", "feedback"]
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
    }


def grade_folder(folder: Path, jobs: int = 4, timeout: float = TIMEOUT, cell_timeout: int = CELL_TIMEOUT,
                 test_timeout: float = TEST_TIMEOUT, progress: bool = True) -> list[dict]:
    """Grade every notebook under ``folder``; results in file order."""
    paths = find_submissions(folder)

    def one(path: Path) -> dict:
        result = grade_submission(path, timeout=timeout, cell_timeout=cell_timeout, test_timeout=test_timeout)
        if progress:
            print(f"{result['score']:>5g} / {result['possible']:<4g} {result['status']:<8} {path}", flush=True)
        return result

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(one, paths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exercises.grade_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of submitted notebooks (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="the CSV gradebook to write")
    parser.add_argument("--json", type=Path, help="also write every result, test by test, as JSON")
    parser.add_argument("--jobs", type=int, default=4,
                        help="submissions graded at once (default 4: a grading mostly waits for its kernel)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help=f"seconds per notebook ({TIMEOUT})")
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT, help=f"seconds per cell ({CELL_TIMEOUT})")
    parser.add_argument("--test-timeout", type=float, default=TEST_TIMEOUT,
                        help=f"seconds per call into student code ({TEST_TIMEOUT})")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    results = grade_folder(args.folder, args.jobs, args.timeout, args.cell_timeout, args.test_timeout)
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

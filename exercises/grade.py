"""Grade one exercise notebook: per-test points and feedback.

    python -m exercises.grade path/to/submission.ipynb [--exercise 03_positional_encoding] [--json]

The grading itself is otter-grader's (``otter.execute.grade_notebook``, the engine behind
``otter run``): it executes the notebook in a fresh Jupyter kernel and runs every test of the
exercise, hidden ones included. Around it this module adds what ``otter run`` lacks:

* limits: each cell of the submission may run ``--cell-timeout`` seconds (then the kernel is
  interrupted and grading goes on), each call into student code ``--test-timeout`` seconds
  (tests use exercises.checks.call), the whole notebook ``--timeout`` seconds (then the
  grading process and its kernel are killed and every test scores 0 with a timeout message);
* output: what the submission prints is capped, so megabytes of prints cannot flood anything;
* isolation: the submission is copied to a temporary folder and graded there in a separate
  process; the file itself is never modified;
* feedback: per test, its points and, when it fails, the message that names the mistake, plus
  the errors that the submission's own cells raised (e.g. an import of a missing module).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import AUTOGRADER_DIR, AUTOGRADER_TESTS, ROOT

INDEX = AUTOGRADER_DIR / "index.json"  # exercise -> questions and points, written by exercises.assign
TIMEOUT = 600  # seconds for the whole notebook
CELL_TIMEOUT = 60  # seconds for one cell of the submission
CHECK_CELL_TIMEOUT = 300  # seconds for a cell that runs tests (each call into student code is limited too)
TEST_TIMEOUT = 10  # seconds for one call into student code
OUTPUT_LIMIT = 200_000  # characters of the submission's prints let through while grading
MESSAGE_LIMIT = 1_000  # characters of one test's feedback kept in the report


def load_index() -> dict:
    return json.loads(INDEX.read_text(encoding="utf-8"))


def identify(nb: dict, path: Path, index: dict) -> str | None:
    """Which exercise a notebook is: otter's assignment name in its metadata, else its file name."""
    name = nb.get("metadata", {}).get("otter", {}).get("assignment_name")
    if name in index:
        return name
    stem = path.stem
    for exercise in index:
        if stem.startswith(exercise) or exercise in stem:
            return exercise
    return None


def test_cases(question: str) -> list[dict]:
    """The test cases of one question, in order: name, points, hidden, description."""
    from otter.test_files import ExceptionTestFile

    test_file = ExceptionTestFile.from_file(str(AUTOGRADER_TESTS / f"{question}.py"))
    cases = []
    for tc in test_file.test_cases:
        func = tc.body.test_func
        cases.append({"question": question, "name": func.__name__, "points": tc.points,
                      "hidden": bool(tc.hidden), "description": (func.__doc__ or "").strip()})
    return cases


def _feedback(message: str | None) -> str:
    """otter's failure text without its frame ('Error at line N in test q:' and the code line)."""
    if not message:
        return ""
    lines = [line for line in message.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("❌", "✅"))]
    if lines and lines[0].startswith("Error at line"):
        lines = lines[2:] if len(lines) > 2 else lines[1:]
    text = "\n".join(lines).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " [...]"


def _empty_result(path: Path, exercise: str | None, status: str, error: str) -> dict:
    tests = []
    if exercise is not None:
        for question in load_index()[exercise]["questions"]:
            for case in test_cases(question):
                tests.append({**case, "score": 0.0, "passed": False, "message": error})
    return {"submission": str(path), "exercise": exercise, "status": status, "error": error,
            "score": 0.0, "possible": float(sum(t["points"] for t in tests)), "tests": tests,
            "notebook_errors": [], "seconds": 0.0}


# ---------------------------------------------------------------------------
# The worker: runs otter's engine on a copy of the submission (in its own process)
# ---------------------------------------------------------------------------

def _patch_execution(cell_timeout: int, check_cell_timeout: int) -> None:
    """Make otter's notebook execution interrupt a cell that runs too long, then go on.

    ``otter.execute.grade_notebook`` builds an nbconvert ``ExecutePreprocessor`` with no time
    limit; it imports the class when called, so replacing it here gives it one.
    """
    import nbconvert.preprocessors as preprocessors

    base = preprocessors.ExecutePreprocessor
    if getattr(base, "_tfm_limited", False):
        return

    def timeout_for(cell) -> int:
        runs_tests = ".check(" in cell.source or "Checker." in cell.source
        return check_cell_timeout if runs_tests else cell_timeout

    class LimitedExecutePreprocessor(base):
        _tfm_limited = True

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.timeout_func = timeout_for
            self.interrupt_on_timeout = True
            self.record_timing = False
            self.shutdown_kernel = "immediate"  # a graceful shutdown waits seconds for nothing

    preprocessors.ExecutePreprocessor = LimitedExecutePreprocessor


def _notebook_errors(executed, student_sources: list[str]) -> list[str]:
    """The errors the submission's own code cells raised, e.g. 'code cell 3 (`import foo`): ModuleNotFoundError: ...'."""
    errors = []
    for cell in executed.cells:
        if cell.cell_type != "code" or cell.source not in student_sources:
            continue  # a cell otter or the grader added
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                number = student_sources.index(cell.source) + 1
                first = next((line for line in cell.source.splitlines()
                              if line.strip() and not line.lstrip().startswith("#")), "")
                value = str(out.get("evalue", ""))[:300]
                name = out.get("ename", "Error")
                if name == "KeyboardInterrupt":
                    value = "the cell ran too long and was stopped by the grader"
                errors.append(f"code cell {number} (`{first[:60]}`): {name}: {value}")
    return errors


def _worker(submission: Path, exercise: str, out: Path, cell_timeout: int, check_cell_timeout: int) -> None:
    import nbformat

    started = time.time()
    questions = load_index()[exercise]["questions"]
    try:
        nb = nbformat.read(str(submission), as_version=4)
    except Exception as e:  # not a notebook, or corrupt JSON
        result = _empty_result(submission, exercise, "error", f"could not read the notebook: {type(e).__name__}: {e}")
        out.write_text(json.dumps(result), encoding="utf-8")
        return
    with tempfile.TemporaryDirectory(prefix="tfm-grade-") as tmp:
        copy = Path(tmp) / "submission.ipynb"
        student_sources = [c.source for c in nb.cells if c.cell_type == "code"]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None  # old outputs are replaced anyway
        limiter = f"import exercises.checks as _tfm_checks\n_tfm_checks.limit_output({OUTPUT_LIMIT})"
        nb.cells.insert(0, nbformat.v4.new_code_cell(limiter))
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(copy))

        _patch_execution(cell_timeout, check_cell_timeout)
        from otter.execute import grade_notebook

        try:
            results = grade_notebook(str(copy), tests_glob=[str(AUTOGRADER_TESTS / f"{q}.py") for q in questions],
                                     cwd=tmp, test_dir=str(AUTOGRADER_TESTS), ignore_errors=True)
        except Exception as e:  # the kernel died (os._exit, a crash), or otter failed
            result = _empty_result(submission, exercise, "error",
                                   f"the notebook could not be run to the end: {type(e).__name__}: {str(e)[:300]}")
            out.write_text(json.dumps(result), encoding="utf-8")
            return

    tests = []
    for question in questions:
        cases = test_cases(question)
        test_file = results.results.get(question)
        outcomes = test_file.test_case_results if test_file is not None else []
        for i, case in enumerate(cases):
            if i < len(outcomes):
                passed, message = outcomes[i].passed, _feedback(outcomes[i].message)
            else:
                passed, message = False, "this test did not run (the grading cell was stopped or failed)"
            tests.append({**case, "score": float(case["points"]) if passed else 0.0, "passed": bool(passed),
                          "message": "" if passed else message})
    result = {"submission": str(submission), "exercise": exercise, "status": "graded", "error": None,
              "score": float(sum(t["score"] for t in tests)), "possible": float(sum(t["points"] for t in tests)),
              "tests": tests, "notebook_errors": _notebook_errors(results.notebook, student_sources),
              "seconds": round(time.time() - started, 1)}
    out.write_text(json.dumps(result), encoding="utf-8")


# ---------------------------------------------------------------------------
# The parent: one subprocess per submission, killed (with its kernel) when it runs too long
# ---------------------------------------------------------------------------

def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the worker and everything it started. The kernel runs in a session of its own (Jupyter
    starts it so), so killing the worker's process group would miss it: walk the children instead."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for p in children:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def grade_submission(path: str | Path, exercise: str | None = None, timeout: float = TIMEOUT,
                     cell_timeout: int = CELL_TIMEOUT, check_cell_timeout: int = CHECK_CELL_TIMEOUT,
                     test_timeout: float = TEST_TIMEOUT) -> dict:
    """Grade one notebook and return the result as a dict (never raises for a bad submission)."""
    path = Path(path)
    index = load_index()
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except Exception as e:
        exercise = exercise if exercise in index else None
        return _empty_result(path, exercise, "error", f"could not read the notebook: {type(e).__name__}: {e}")
    exercise = exercise or identify(nb, path, index)
    if exercise not in index:
        return _empty_result(path, None, "error",
                             "unknown exercise: the notebook has no otter assignment name and its file name "
                             "does not start with an exercise name; pass --exercise NAME")
    started = time.time()
    for _ in range(1 + STARTUP_RETRIES):
        result = _run_worker(path, exercise, timeout, cell_timeout, check_cell_timeout, test_timeout)
        if not (result["status"] == "error" and _is_startup_failure(result["error"])):
            break
    result["submission"] = str(path)
    result["seconds"] = round(time.time() - started, 1)
    return result


# Failures of the machinery, not of the submission: the kernel did not come up (two kernels started
# at the same moment can pick the same free port; a busy machine can miss the start-up limit), or the
# worker died before it got to the notebook. They are retried, so a batch never marks a good
# notebook as an error for them; a notebook that kills its own kernel fails while running a cell
# ("DeadKernelError"), which is the submission's doing and is not retried.
STARTUP_RETRIES = 2
STARTUP_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond",
                    "Address already in use", "the grader failed")


def _is_startup_failure(error: str | None) -> bool:
    return error is not None and any(sign in error for sign in STARTUP_FAILURES)


def _run_worker(path: Path, exercise: str, timeout: float, cell_timeout: int, check_cell_timeout: int,
                test_timeout: float) -> dict:
    """One grading attempt in a worker process (and its kernel), killed when it runs too long."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TFM_EXERCISE_TIMEOUT=str(test_timeout),
               PYDEVD_DISABLE_FILE_VALIDATION="1", PYTHONWARNINGS="ignore")
    with tempfile.TemporaryDirectory(prefix="tfm-grade-out-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "log.txt"
        cmd = [sys.executable, "-m", "exercises.grade", "--worker", str(path.resolve()), exercise, str(out),
               str(cell_timeout), str(check_cell_timeout)]
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
                proc.wait()
                result = _empty_result(path, exercise, "timeout",
                                       f"the whole notebook did not finish grading within {timeout:g} seconds")
                return result
            finally:
                _kill_tree(proc)  # nothing may outlive the grading, e.g. a kernel left by a crashed worker
        if out.is_file():
            result = json.loads(out.read_text(encoding="utf-8"))
        else:
            with open(log, "rb") as f:
                f.seek(max(0, log.stat().st_size - 2000))
                tail = f.read().decode("utf-8", errors="replace")
            result = _empty_result(path, exercise, "error", f"the grader failed (exit code {proc.returncode}): "
                                   f"{tail.strip()[-600:]}")
    return result


def format_report(result: dict) -> str:
    """Per-test points and feedback, as text."""
    lines = [f"{result['submission']}  (exercise {result['exercise'] or '?'}, {result['status']})"]
    if result["error"]:
        lines.append(f"  ERROR: {result['error']}")
    width = max([len(t["name"]) for t in result["tests"]] + [4])
    for t in result["tests"]:
        mark = "PASS" if t["passed"] else "FAIL"
        hidden = " (hidden)" if t["hidden"] else ""
        lines.append(f"  {mark} {t['score']:g}/{t['points']:g}  {t['name']:<{width}}  {t['description']}{hidden}")
        if not t["passed"] and t["message"] and t["message"] != result["error"]:
            for line in t["message"].splitlines():
                lines.append(f"        {line}")
    for error in result.get("notebook_errors", []):
        lines.append(f"  note: {error}")
    lines.append(f"  Total: {result['score']:g} / {result['possible']:g}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        submission, exercise, out, cell_timeout, check_cell_timeout = argv[1:6]
        _worker(Path(submission), exercise, Path(out), int(cell_timeout), int(check_cell_timeout))
        return 0
    parser = argparse.ArgumentParser(prog="python -m exercises.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", help="the notebook to grade (it is never modified)")
    parser.add_argument("--exercise", help="exercise name, e.g. 03_positional_encoding (default: from the notebook)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of text")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help=f"seconds for the whole notebook ({TIMEOUT})")
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT,
                        help=f"seconds for one cell of the submission ({CELL_TIMEOUT})")
    parser.add_argument("--test-timeout", type=float, default=TEST_TIMEOUT,
                        help=f"seconds for one call into student code ({TEST_TIMEOUT})")
    args = parser.parse_args(argv)
    result = grade_submission(args.submission, args.exercise, args.timeout, args.cell_timeout,
                              test_timeout=args.test_timeout)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0 if result["status"] == "graded" else 1


if __name__ == "__main__":
    sys.exit(main())

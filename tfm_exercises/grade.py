"""Grade one exercise notebook: per-test points and feedback. The trusted side of grading.

    python -m tfm_exercises.grade path/to/submission.ipynb [--exercise 09_causal_mask] [--seed N] [--json]

The submission's code never runs in this process. It runs in a worker (:mod:`tfm_exercises.worker`)
in a sandbox; the tests run here. Each test draws its inputs from the grading seed, asks the worker
to call the student's function on them, gets the outputs back as data (tensors and numbers, see
:mod:`tfm_exercises.wire`) and compares them here with ``tfm``'s reference. So nothing the submission
patches, prints, writes or kills can turn a wrong answer into points: at worst the worker sends
wrong data (it fails the comparison) or dies (every test scores 0, with a status saying why).

* Seed: hidden tests draw sizes and values from ``--seed`` (the instructor's secret); without one
  a fresh seed is drawn and written into the result, so a grading can be repeated exactly.
* Sandbox (Linux with bubblewrap): no network, private /tmp, the Python installation and ``tfm``
  read-only, of this package only the worker's four modules (not the tests, not the submissions,
  not the gradebook), capabilities dropped, its own PID namespace, so every process it starts
  (``setsid`` or not) dies with it. Without bubblewrap (``--sandbox none``, macOS): a private
  working folder and temp folder, and at the end the process group and every process that carries
  this grading's marker in its environment are killed; network and files are not fenced.
* Limits: each cell ``--cell-timeout`` seconds, each call into student code ``--test-timeout``
  seconds (the worker stops it; if it does not answer a few seconds later it is killed), the whole
  notebook ``--timeout`` seconds, the worker's memory ``--memory-mb``, its prints
  ``OUTPUT_LIMIT`` characters (drained and dropped beyond that).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import HERE, checks, load_index, wire
from .runner import load_cases, run_case

TIMEOUT = 600  # seconds for the whole notebook
CELL_TIMEOUT = 60  # seconds for one cell of the submission
TEST_TIMEOUT = 10  # seconds for one call into student code
GRACE = 5  # seconds the worker gets beyond a limit before it is killed
OUTPUT_LIMIT = 200_000  # characters of the submission's prints read (the rest is dropped)
MEMORY_MB = 4096  # address space of the worker (torch alone maps about 1.5 GB)
WORKER_FILES = ("__init__.py", "checks.py", "wire.py", "worker.py")  # all the worker may see of this package
SANDBOX_ROOT = "/opt/tfm-grader"  # where they (and tfm) appear inside the sandbox
CHECK_CELL = re.compile(r'^\s*(grader\.check\("[A-Za-z0-9_]*"\)\s*)+$')
FAILURES = {cls.__name__: cls for cls in (checks.NotDefined, checks.TimedOut, checks.CodeRaised, checks.WrongType)}


class WorkerGone(Exception):
    """The worker died, was killed, broke the protocol or ran past a limit: the grading stops."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status


def identify(nb: dict, path: Path, index: dict) -> str | None:
    """Which exercise a notebook is: its metadata (ours, or otter's from older notebooks), else its file name."""
    meta = nb.get("metadata", {}) if isinstance(nb, dict) else {}
    for name in (meta.get("tfm_exercise"), (meta.get("otter") or {}).get("assignment_name")):
        if isinstance(name, str) and name in index:
            return name
    stem = path.stem
    for exercise in index:
        if stem.startswith(exercise) or exercise in stem:
            return exercise
    return None


def test_cases(question: str) -> list[dict]:
    """The test cases of one question, in order: question, name, points, hidden, description."""
    return [c.info() for c in load_cases(question)]


def new_seed() -> int:
    return secrets.randbits(48)


def _empty_result(path: Path, exercise: str | None, status: str, error: str, seed: int | None = None,
                  isolation: str | None = None) -> dict:
    tests = []
    if exercise is not None:
        for question in load_index()[exercise]["questions"]:
            for case in test_cases(question):
                tests.append({**case, "score": 0.0, "passed": False, "message": error})
    return {"submission": str(path), "exercise": exercise, "status": status, "error": error,
            "score": 0.0, "possible": float(sum(t["points"] for t in tests)), "tests": tests,
            "notebook_errors": [], "seconds": 0.0, "seed": seed, "isolation": isolation}


def code_cells(nb: dict) -> list[tuple[int, str]]:
    """(number, source) of the notebook's code cells, without the check cells (they only print feedback)."""
    cells = []
    number = 0
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not isinstance(source, str):
            raise ValueError(f"code cell {number} has no text")
        if not CHECK_CELL.match(source):
            cells.append((number, source))
    return cells


# ---------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------

_BWRAP_OK: dict[str, bool] = {}


def bwrap_available() -> bool:
    """Whether bubblewrap exists and can make its namespaces here (a container may forbid them)."""
    if "ok" not in _BWRAP_OK:
        exe = shutil.which("bwrap")
        ok = False
        if exe and sys.platform.startswith("linux"):
            try:
                ok = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                                    capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _BWRAP_OK["ok"] = ok
    return _BWRAP_OK["ok"]


def _python_roots() -> list[str]:
    """The folders the worker's Python needs: the interpreter, the standard library, site-packages."""
    roots = set()
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))):
        roots.add(os.path.realpath(p))
        roots.add(os.path.abspath(p))
    return sorted(r for r in roots if r and r != "/")


def _hidden_package_copies() -> list[str]:
    """Installed copies of this package (and tfm's tests) under the Python roots: hidden in the sandbox."""
    hide = []
    for root in _python_roots():
        here = os.path.realpath(HERE)
        if here.startswith(root + os.sep):
            hide.append(here)
    return hide


def bwrap_command(boot: list[str]) -> list[str]:
    import tfm

    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--clearenv", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache", "/etc/alternatives",
                   "/etc/localtime"):
        cmd += ["--ro-bind-try", system, system]
    for root in _python_roots():
        cmd += ["--ro-bind", root, root]
    for hidden in _hidden_package_copies():
        cmd += ["--tmpfs", hidden]
    cmd += ["--ro-bind", str(Path(tfm.__file__).resolve().parent), f"{SANDBOX_ROOT}/tfm"]
    for name in WORKER_FILES:
        cmd += ["--ro-bind", str(HERE / name), f"{SANDBOX_ROOT}/tfm_exercises/{name}"]
    return cmd + ["--"] + boot


def _boot(paths: list[str], memory_mb: int) -> str:
    """The worker's first lines: its memory limit (before torch is imported), its import path, then main()."""
    return ("import resource, sys\n"
            f"limit = {memory_mb} * 1024 * 1024\n"
            "try:\n"
            "    if limit > 0:\n"
            "        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
            "except (ValueError, OSError):\n"
            "    pass  # macOS does not limit the address space\n"
            f"sys.path[:0] = {paths!r}\n"
            "from tfm_exercises.worker import main\n"
            "sys.exit(main(ANSWER_FD))\n")


def _worker_env(test_timeout: float, marker: str, home: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg", "MPLCONFIGDIR": home,
            "TFM_EXERCISE_TIMEOUT": str(test_timeout), "TFM_GRADE_RUN": marker}


class Link:
    """The grader's end of one worker: starts it, asks it, kills it (with everything it started)."""

    def __init__(self, sandbox: str, test_timeout: float, deadline: float, memory_mb: int = MEMORY_MB):
        import tfm

        self.test_timeout, self.deadline = test_timeout, deadline
        self.callbacks: dict[int, Any] = {}
        self.names: dict[str, Any] = {}
        self.dead: WorkerGone | None = None
        self.output_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.marker = secrets.token_hex(16)
        self.isolation = "bwrap" if sandbox == "bwrap" or (sandbox == "auto" and bwrap_available()) else "none"
        self.tmp = tempfile.mkdtemp(prefix="tfm-grade-")
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        if self.isolation == "bwrap":
            boot = [sys.executable, "-c", _boot([SANDBOX_ROOT], memory_mb)]
            cmd = bwrap_command(boot)
            for key, value in _worker_env(test_timeout, self.marker, "/tmp").items():
                cmd[cmd.index("--") : cmd.index("--")] = ["--setenv", key, value]
            env, cwd = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, self.tmp
        else:
            package_parent = str(HERE.parent)
            tfm_parent = str(Path(tfm.__file__).resolve().parent.parent)
            cmd = [sys.executable, "-c", _boot(list(dict.fromkeys([package_parent, tfm_parent])), memory_mb)]
            env, cwd = _worker_env(test_timeout, self.marker, self.tmp), self.tmp
        # requests go to the worker's stdin; it answers on from_worker_w, which keeps its number
        cmd = [part.replace("ANSWER_FD", str(from_worker_w)) for part in cmd]
        self.proc = subprocess.Popen(cmd, stdin=to_worker_r, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True, pass_fds=(from_worker_w,))
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    # -- process --------------------------------------------------------------
    def _drain(self) -> None:
        """Read what the submission prints, keep the last lines of the first OUTPUT_LIMIT characters."""
        read = 0
        stream = self.proc.stdout
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            if read < OUTPUT_LIMIT:
                self.output_tail.append(chunk[: OUTPUT_LIMIT - read].decode("utf-8", "replace")[-500:])
            read += len(chunk)

    def kill(self) -> None:
        """Kill the worker and everything it started: its process group, and (without the sandbox's
        PID namespace) every process that carries this grading's marker, setsid or not."""
        for sig_target in (self.proc.pid,):
            try:
                os.killpg(sig_target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.isolation != "bwrap":
            _kill_marked(self.marker)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        self.to_worker = self.from_worker = -1
        shutil.rmtree(self.tmp, ignore_errors=True)

    def close(self) -> None:
        if self.dead is None and self.to_worker >= 0:
            try:
                wire.send(self.to_worker, {"op": "exit"})
            except OSError:
                pass
        self.kill()

    def _gone(self, status: str, reason: str) -> WorkerGone:
        if self.dead is None:
            self.dead = WorkerGone(status, reason)
            self.kill()
        return self.dead

    # -- requests -------------------------------------------------------------
    def request(self, message: dict, seconds: float) -> dict:
        if self.dead is not None:
            raise self.dead
        if time.monotonic() >= self.deadline:
            raise self._gone("timeout", "")
        try:
            wire.send(self.to_worker, message)
            while True:
                limit = min(time.monotonic() + seconds, self.deadline)
                answer = wire.receive(self.from_worker, deadline=limit)
                if "callback" not in answer:
                    return answer
                self._serve_callback(answer)
        except wire.Timeout:
            if time.monotonic() >= self.deadline:
                raise self._gone("timeout", "") from None
            raise self._gone("timeout", f"the submission's code did not return within {seconds:g} seconds and "
                             "did not stop when told to; its worker was killed") from None
        except (wire.Closed, BrokenPipeError, OSError):
            code = self.proc.poll()
            if code is None:
                try:
                    code = self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    code = "still running"
            if isinstance(code, int) and self.isolation == "bwrap" and 128 < code < 128 + 65:
                code = 128 - code  # bubblewrap exits with 128 + the signal that killed the worker
            how = f"killed by signal {_signal_name(-code)}" if isinstance(code, int) and code < 0 \
                else f"exit code {code}"
            tail = "".join(self.output_tail).strip()[-300:]
            raise self._gone("error", f"the notebook could not be run to the end: its worker process ended "
                             f"({how}) before grading finished" + (f"; its last output: {tail}" if tail else "")
                             ) from None
        except wire.WireError as e:
            raise self._gone("error", f"the worker broke the grading protocol ({e}): the submission wrote "
                             "into the grader's channel") from None

    def _serve_callback(self, message: dict) -> None:
        """The worker calls a function of the test (e.g. a decoding step) with data: run it here."""
        try:
            fn = self.callbacks[message["callback"]]
            args = self.decode(message.get("args", {"list": []}))
            kwargs = self.decode(message.get("kwargs", {"dict": []}))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise wire.WireError("malformed callback")
            reply = {"ok": self.encode(fn(*args, **kwargs))}
        except wire.WireError:
            raise
        except Exception as e:  # the step function refused the student's input: tell the student's code
            reply = {"raise": f"{type(e).__name__}: {str(e)[:300]}"}
        wire.send(self.to_worker, reply)

    def result(self, answer: dict) -> Any:
        if "raise" in answer:
            kind, message = answer["raise"] if isinstance(answer["raise"], list) and len(answer["raise"]) == 2 \
                else ("CodeRaised", str(answer["raise"]))
            raise FAILURES.get(str(kind), checks.CodeRaised)(str(message)[:2000])
        if "ok" not in answer:
            raise self._gone("error", "the worker broke the grading protocol (an answer without a result)")
        return self.decode(answer["ok"])

    # -- values ---------------------------------------------------------------
    def encode(self, x: Any) -> Any:
        return wire.encode(x, self._other)

    def _other(self, x: Any) -> dict:
        """What is not data: a Remote goes back by id, a test's function as a callback, a tfm module
        or config by its constructor arguments and weights; nothing else can be sent."""
        import dataclasses

        import torch

        if isinstance(x, wire.Remote):
            return {"ref": x._id}
        if isinstance(x, torch.nn.Module) and type(x).__name__ in wire.MODULES and type(x).__module__.startswith("tfm"):
            kwargs = {k: getattr(x, k) for k in wire.MODULES[type(x).__name__]}
            state = {k: wire.encode_tensor(v) for k, v in x.state_dict().items()}
            blocked = getattr(x, "_tfm_blocked", None)
            return {"module": [type(x).__name__, kwargs, state, x.training, blocked]}
        if dataclasses.is_dataclass(x) and type(x).__name__ in wire.CONFIGS:
            return {"config": [type(x).__name__, dataclasses.asdict(x)]}
        if callable(x):
            cid = len(self.callbacks) + 1
            self.callbacks[cid] = x
            return {"callback": cid}
        raise TypeError(f"the grader cannot send a {type(x).__name__} to the worker")

    def decode(self, x: Any) -> Any:
        return wire.decode(x, {"handle": self._remote})

    def _remote(self, spec: Any) -> wire.Remote:
        if not (isinstance(spec, list) and len(spec) == 4 and isinstance(spec[0], int) and isinstance(spec[1], str)
                and isinstance(spec[2], bool) and isinstance(spec[3], list)):
            raise wire.WireError("malformed handle")
        return wire.Remote(self, spec[0], spec[1][:100], spec[2], [str(b)[:200] for b in spec[3][:30]], spec[1][:100])

    # -- what the tests ask (through checks.call and friends) -------------------
    def run_cells(self, cells: list[tuple[int, str]], cell_timeout: float) -> list[str]:
        answer = self.request({"op": "cells", "cells": cells, "timeout": cell_timeout},
                              cell_timeout * max(1, len(cells)) + 30)  # + the worker's start (torch)
        errors = self.result(answer)
        return [str(e)[:500] for e in errors][:50] if isinstance(errors, list) else []

    def lookup(self, name: str) -> Any:
        if name not in self.names:
            found = self.result(self.request({"op": "lookup", "name": name}, self.test_timeout + GRACE))
            if isinstance(found, wire.Remote):
                found._label = name
            self.names[name] = found if isinstance(found, wire.Remote) else None
        return self.names[name]

    def _ask(self, op: str, remote: wire.Remote, label: str, **fields) -> Any:
        fields = {k: self.encode(v) for k, v in fields.items()}
        answer = self.request({"op": op, "target": remote._id, "label": label, **fields},
                              self.test_timeout + GRACE)
        if answer.get("missing"):
            raise AttributeError(f"{label} has no attribute {fields.get('name')!r}")
        return self.result(answer)

    def call(self, remote: wire.Remote, args: tuple, kwargs: dict, label: str) -> Any:
        return self._ask("call", remote, label, args=list(args), kwargs=dict(kwargs))

    def getattr(self, remote: wire.Remote, name: str) -> Any:
        value = self._ask("getattr", remote, remote._label, name=name)
        if isinstance(value, wire.Remote):
            value._label = f"{remote._label}.{name}"
        return value

    def iterate(self, remote: wire.Remote) -> list:
        value = self._ask("iterate", remote, remote._label)
        if not isinstance(value, list):
            raise checks.WrongType(f"iterating over {remote._label} gave no list")
        return value

    def gradient(self, remote: wire.Remote, args: tuple, wrt: int, cotangent: Any, label: str) -> tuple:
        value = self._ask("gradient", remote, label, args=list(args), wrt=wrt, cotangent=cotangent)
        if not (isinstance(value, tuple) and len(value) == 2):
            raise checks.WrongType("the worker sent no (output, gradient) pair")
        return value


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _kill_marked(marker: str) -> None:
    """Kill every process whose environment holds TFM_GRADE_RUN=marker (escaped with setsid or double fork).

    A marked process may be forking while we scan: its child is not in that scan. So sweep again
    until a whole sweep finds no live marked process (a killed process forks no more)."""
    try:
        import psutil
    except ImportError:
        return
    for _ in range(50):
        found = 0
        for p in psutil.process_iter():
            try:
                if p.status() != psutil.STATUS_ZOMBIE and p.environ().get("TFM_GRADE_RUN") == marker:
                    p.kill()
                    found += 1
            except (psutil.Error, OSError):
                pass
        if not found:
            return
        time.sleep(0.02)


# ---------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------

def grade_submission(path: str | Path, exercise: str | None = None, timeout: float = TIMEOUT,
                     cell_timeout: float = CELL_TIMEOUT, test_timeout: float = TEST_TIMEOUT,
                     seed: int | None = None, sandbox: str = "auto", memory_mb: int = MEMORY_MB) -> dict:
    """Grade one notebook and return the result as a dict (never raises for a bad submission)."""
    path = Path(path)
    index = load_index()
    seed = new_seed() if seed is None else seed
    started = time.monotonic()
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(nb, dict):
            raise ValueError("not a notebook (the JSON is not an object)")
    except Exception as e:
        exercise = exercise if exercise in index else None
        return _empty_result(path, exercise, "error", f"could not read the notebook: {type(e).__name__}: {e}", seed)
    exercise = exercise or identify(nb, path, index)
    if exercise not in index:
        return _empty_result(path, None, "error",
                             "unknown exercise: the notebook names no exercise in its metadata and its file name "
                             "does not start with an exercise name; pass --exercise NAME", seed)
    try:
        cells = code_cells(nb)
    except ValueError as e:
        return _empty_result(path, exercise, "error", f"could not read the notebook: {e}", seed)
    cases = [c for q in index[exercise]["questions"] for c in load_cases(q)]
    link = Link(sandbox, test_timeout, started + timeout, memory_mb)
    tests, notebook_errors = [], []
    try:
        notebook_errors = link.run_cells(cells, cell_timeout)
        for c in cases:
            tests.append(run_case(c, link.lookup, seed))
            if link.dead is not None:
                break
    except WorkerGone:
        pass
    finally:
        link.close()
    if link.dead is not None:
        error = str(link.dead) or f"the whole notebook did not finish grading within {timeout:g} seconds"
        result = _empty_result(path, exercise, link.dead.status, error, seed, link.isolation)
        result["notebook_errors"] = notebook_errors
    else:
        result = {"submission": str(path), "exercise": exercise, "status": "graded", "error": None,
                  "score": float(sum(t["score"] for t in tests)), "possible": float(sum(c.points for c in cases)),
                  "tests": tests, "notebook_errors": notebook_errors, "seed": seed, "isolation": link.isolation}
    result["seconds"] = round(time.monotonic() - started, 1)
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
    lines.append(f"  Total: {result['score']:g} / {result['possible']:g}   (seed {result.get('seed')}, "
                 f"isolation {result.get('isolation') or '-'})")
    return "\n".join(lines)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="the instructor's seed for the tests' inputs (default: a new one, "
                        "printed in the result)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help=f"seconds for the whole notebook ({TIMEOUT})")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT,
                        help=f"seconds for one cell of the submission ({CELL_TIMEOUT})")
    parser.add_argument("--test-timeout", type=float, default=TEST_TIMEOUT,
                        help=f"seconds for one call into student code ({TEST_TIMEOUT})")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB, help=f"the worker's memory ({MEMORY_MB} MB)")
    parser.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                        help="bwrap: require bubblewrap; none: no sandbox; auto: bubblewrap where it works")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfm_exercises.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", help="the notebook to grade (it is never modified)")
    parser.add_argument("--exercise", help="exercise name, e.g. 03_positional_encoding (default: from the notebook)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of text")
    add_limit_arguments(parser)
    args = parser.parse_args(argv)
    if args.sandbox == "bwrap" and not bwrap_available():
        parser.error("--sandbox bwrap: bubblewrap is not installed or cannot create namespaces here")
    import torch
    torch.set_num_threads(1)
    result = grade_submission(args.submission, args.exercise, args.timeout, args.cell_timeout, args.test_timeout,
                              args.seed, args.sandbox, args.memory_mb)
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0 if result["status"] == "graded" else 1


if __name__ == "__main__":
    sys.exit(main())

"""What the exercise tests use: calling student code, comparing with the reference.

The same tests run in two places. In the student's notebook (``grader.check``) the names they get
are the notebook's own objects. In the grader (``tfm_exercises.grade``) the test runs in the
trusted process and the names are :class:`tfm_exercises.wire.Remote` stand-ins for objects that
live in the untrusted worker: :func:`call`, :func:`copy_weights`, :func:`gradient` and
:func:`is_instance` then ask the worker, and what comes back is data that the test compares here.

Every call into student code goes through :func:`call`, which

* stops it after ``TFM_EXERCISE_TIMEOUT`` seconds (default 10) with :class:`TimedOut`, so an
  endless loop costs one test, not the whole grading run;
* turns anything it raises, ``SystemExit`` and ``KeyboardInterrupt`` included, into
  :class:`CodeRaised`, which names the exception and the line of the student's cell;
* swallows what it prints (keeping at most a few kilobytes), so a print in a loop cannot flood
  the feedback.

:func:`compare` checks a result against the reference (tfm's implementation or an independent
computation) and, when it differs, tries the known mistakes: if the result equals one of them,
the failure message names that mistake. All failures are ``AssertionError`` subclasses whose
names say what kind of failure it is (otter prints the class name and the message).
"""
from __future__ import annotations

import contextlib
import io
import linecache
import os
import random
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_TIMEOUT = 10.0
OUTPUT_KEEP = 4_000  # characters of a call's prints that are kept (the rest is counted, not stored)


def timeout_seconds() -> float:
    """Per-call limit: ``TFM_EXERCISE_TIMEOUT`` (seconds) or 10; 0 turns the limit off."""
    try:
        return float(os.environ.get("TFM_EXERCISE_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


# ---------------------------------------------------------------------------
# Failures: each says what went wrong in its name and how to fix it in its message
# ---------------------------------------------------------------------------

class NotDefined(AssertionError):
    """The name the test needs does not exist in the notebook."""


class TimedOut(AssertionError):
    """The student's code ran longer than the limit."""


class CodeRaised(AssertionError):
    """The student's code raised an exception."""


class WrongType(AssertionError):
    """The result has the wrong type or dtype."""


class WrongShape(AssertionError):
    """The result has the wrong shape."""


class WrongValues(AssertionError):
    """The result has the right shape but other numbers than the reference."""


class Mistake(AssertionError):
    """The result equals what a known, named mistake gives."""


class _Alarm(BaseException):
    """Raised by the timer inside student code; BaseException so `except Exception` cannot eat it."""


# ---------------------------------------------------------------------------
# Running student code safely
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _time_limit(seconds: float):
    usable = (seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:  # Windows, or not the main thread: no limit here (the grader's timeouts remain)
        yield
        return

    def on_alarm(signum, frame):
        raise _Alarm()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Sink(io.TextIOBase):
    """A stream that keeps the first OUTPUT_KEEP characters written to it and counts the rest."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        room = OUTPUT_KEEP - self.size
        if room > 0:
            self.kept.append(s[:room])
        self.size += len(s)
        return len(s)

    def text(self) -> str:
        return "".join(self.kept)


last_output = ""  # what the last call printed (truncated), for debugging a check by hand


def _student_line(tb) -> str:
    """' (line N of your cell: `code`)' for the innermost frame that is notebook code, else ''."""
    frames = [f for f in traceback.extract_tb(tb)
              if "ipykernel" in f.filename or f.filename.startswith("<")]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno)).strip()
    return f" (line {f.lineno} of your cell: `{line}`)" if line else f" (line {f.lineno} of your cell)"


def _describe_args(args: tuple, kwargs: dict) -> str:
    def short(a: Any) -> str:
        if _remote(a) or (hasattr(a, "named_parameters") and callable(getattr(a, "forward", None))):
            return f"<{type_name(a)}>"  # a module: its repr is many lines
        shape = getattr(a, "shape", None)
        if shape is not None:
            return f"<tensor of shape {tuple(shape)}>"
        text = repr(a)
        return text if len(text) <= 40 else text[:37] + "..."
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _missing_argument_name(frame) -> str | None:
    """The name of the first argument of the test function in ``frame`` whose value is None.

    otter passes each name a test asks for from the notebook, or None when it is not defined.
    """
    code = frame.f_code
    for arg in code.co_varnames[:code.co_argcount]:
        if frame.f_locals.get(arg, 0) is None:
            return arg
    return None


def _remote(x: Any) -> bool:
    from .wire import Remote
    return isinstance(x, Remote)


def type_name(x: Any) -> str:
    return x._type if _remote(x) else type(x).__name__


def rng() -> random.Random:
    """The random source of the running test: seeded by the grader's seed (hidden sizes and values)."""
    return _state["rng"]


def seed_test(seed: int) -> None:
    """Seed torch and :func:`rng` for one test (the runner calls this before each test)."""
    import torch
    torch.manual_seed(seed)
    _state["rng"] = random.Random(seed)


_state: dict[str, Any] = {"rng": random.Random(0)}


def need(obj: Any, name: str | None = None) -> Any:
    """Fail with a clear message when the notebook does not define ``name`` (otter passes None)."""
    if obj is None:
        if name is None:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename == __file__:
                frame = frame.f_back
            name = (_missing_argument_name(frame) if frame is not None else None) or "your code"
        raise NotDefined(f"`{name}` is not defined. Run the cell where you write it (did it raise an "
                         "error?), then run this check again.")
    return obj


def call(fn: Callable | None, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call student code with a time limit, its output swallowed and its errors explained."""
    global last_output
    need(fn, name)
    if _remote(fn):  # in the grader: the worker runs it, with the same limits, and sends back data
        label = name or fn._label
        if not fn._callable:
            raise WrongType(f"`{label}` should be a function or class, but it is a {fn._type}")
        return fn._link.call(fn, args, kwargs, label)
    label = name or getattr(fn, "__name__", "your code")
    if not callable(fn):
        raise WrongType(f"`{label}` should be a function or class, but it is a {type(fn).__name__}")
    limit = timeout_seconds()
    sink = _Sink()
    try:
        with _time_limit(limit), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            result = fn(*args, **kwargs)
    except _Alarm:
        raise TimedOut(f"{label}({_describe_args(args, kwargs)}) did not finish within {limit:g} seconds: "
                       "an endless loop? (these inputs are tiny, so the reference takes milliseconds)"
                       ) from None
    except (Exception, SystemExit, KeyboardInterrupt) as e:
        where = _student_line(e.__traceback__)
        raise CodeRaised(f"{label}({_describe_args(args, kwargs)}) raised {type(e).__name__}: {e}{where}"
                         ) from None
    finally:
        last_output = sink.text()
    return result


def limit_output(max_chars: int = 200_000) -> None:
    """Let at most ``max_chars`` characters of stdout and stderr through, in total (used by the grader).

    A submission that prints megabytes (a print in a loop) would otherwise fill the grader's memory
    and the feedback. What is cut is replaced by one line saying so.
    """
    budget = {"left": max_chars}

    class Limited:
        def __init__(self, stream):
            self._stream = stream

        def write(self, s):
            left = budget["left"]
            if left > 0:
                part = s[:left]
                budget["left"] = left - len(s)
                self._stream.write(part)
                if budget["left"] <= 0:
                    self._stream.write(f"\n[the grader cut the output here: more than {max_chars:,} characters]\n")
            return len(s)

        def __getattr__(self, name):
            return getattr(self._stream, name)

    if not isinstance(sys.stdout, Limited):
        sys.stdout = Limited(sys.stdout)
    if not isinstance(sys.stderr, Limited):
        sys.stderr = Limited(sys.stderr)


# ---------------------------------------------------------------------------
# Comparing results with the reference
# ---------------------------------------------------------------------------

def _is_tensor(x: Any) -> bool:
    import torch
    return isinstance(x, torch.Tensor)


def tensor(x: Any, what: str = "your result") -> Any:
    """Fail unless ``x`` is a torch.Tensor, with a hint for the usual reasons."""
    if _is_tensor(x):
        return x
    if x is None:
        raise WrongType(f"{what} is None: did you forget `return`? (the `...` placeholder returns None)")
    if isinstance(x, tuple):
        raise WrongType(f"{what} is a tuple of {len(x)} items; a single torch.Tensor was expected")
    raise WrongType(f"{what} is a {type_name(x)}; a torch.Tensor was expected")


def close(a: Any, b: Any, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Same shape and (for floats) equal within tolerance, NaN never equal; bools and ints exactly."""
    import torch
    if not (_is_tensor(a) and _is_tensor(b)) or a.shape != b.shape:
        return False
    if a.dtype == torch.bool or b.dtype == torch.bool or not (a.is_floating_point() or b.is_floating_point()):
        return bool(torch.equal(a.to(b.dtype), b)) if a.dtype == torch.bool or b.dtype == torch.bool \
            else bool(torch.equal(a.long(), b.long()))
    return bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol))


def compare(got: Any, want: Any, what: str = "your result",
            mistakes: Iterable[tuple[str, Any]] = (), rtol: float = 1e-4, atol: float = 1e-5,
            nan_hint: str = "") -> None:
    """Pass when ``got`` equals the reference ``want``; otherwise fail and say why.

    ``mistakes`` are (message, value) pairs, the value being what a known mistake computes (or a
    function of no arguments returning it). The first one ``got`` equals decides the message.
    ``nan_hint`` is said when the result holds NaN or infinities (e.g. what usually causes them).
    """
    import torch
    tensor(got, what)
    mistakes = list(mistakes)

    def matching_mistake() -> str | None:
        for message, value in mistakes:
            value = value() if callable(value) else value
            if close(got, value, rtol, atol):
                return message
        return None

    if got.shape != want.shape:
        message = matching_mistake()
        if message:
            raise Mistake(message)
        raise WrongShape(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if (want.dtype == torch.bool) != (got.dtype == torch.bool):
        message = matching_mistake()
        if message:
            raise Mistake(message)
        raise WrongType(f"{what} has dtype {got.dtype}, expected {want.dtype}")
    if close(got, want, rtol, atol):
        return
    message = matching_mistake()
    if message:
        raise Mistake(message)
    if got.is_floating_point() and not torch.isfinite(got).all():
        bad = int((~torch.isfinite(got)).sum())
        raise WrongValues(f"{what} has the right shape but contains {bad} NaN or infinite values"
                          + (f": {nan_hint}" if nan_hint else ""))
    if want.dtype == torch.bool:
        wrong = (got != want).nonzero()
        raise WrongValues(f"{what} has the right shape but {len(wrong)} entries differ from the reference, "
                          f"the first at index {tuple(wrong[0].tolist())}")
    diff = (got.double() - want.double()).abs()
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    raise WrongValues(f"{what} has the right shape but other values than the reference: the largest "
                      f"difference is {diff.max().item():.3g}, at index {index} "
                      f"(yours {got[index].item():.4g}, expected {want[index].item():.4g})")


def check(condition: bool, message: str, kind: type[AssertionError] = WrongValues) -> None:
    """``assert`` with a failure class of our own (otter shows its name)."""
    if not condition:
        raise kind(message)


def copy_weights(dst: Any, src: Any, names: dict[str, str] | None = None) -> None:
    """Copy the parameters of module ``src`` into module ``dst`` (same shapes) so both compute the same.

    ``names`` maps a parameter name of ``dst`` to the name it has in ``src`` where they differ,
    by prefix, e.g. {"norm1.": "res_attn.norm."}.
    """
    import torch
    names = names or {}
    src_params = dict(src.named_parameters())
    if _remote(dst):  # the student's module lives in the worker: send it the weights, by its names
        listed = call(dst.named_parameters, name=f"{dst._label}.named_parameters")
        dst_params = dict(list(listed))
    else:
        dst_params = dict(dst.named_parameters())
    state = {}
    with torch.no_grad():
        for name, p in dst_params.items():
            source_name = name
            for prefix, replacement in names.items():
                if name.startswith(prefix):
                    source_name = replacement + name[len(prefix):]
                    break
            if source_name not in src_params:
                raise WrongValues(f"your module has a parameter `{name}` that the reference has no "
                                  f"counterpart for (looked for `{source_name}`)")
            q = src_params[source_name]
            if not isinstance(p, torch.Tensor) or p.shape != q.shape:
                raise WrongShape(f"parameter `{name}` has shape {tuple(getattr(p, 'shape', ()))}, "
                                 f"expected {tuple(q.shape)}")
            if _remote(dst):
                state[name] = q.detach().clone()
            else:
                p.copy_(q)
    if _remote(dst):
        call(dst.load_state_dict, state, False, name=f"{dst._label}.load_state_dict")


def is_instance(obj: Any, cls: type) -> bool:
    """``isinstance`` that also works on the grader's stand-in for a student's object (by class names)."""
    if _remote(obj):
        return f"{cls.__module__}.{cls.__qualname__}" in obj._bases
    return isinstance(obj, cls)


def gradient(fn: Any, args: tuple, wrt: int, cotangent: Any, name: str | None = None) -> tuple[Any, Any]:
    """Call ``fn(*args)`` with ``args[wrt]`` requiring a gradient; return (output, gradient of
    ``(output * cotangent).sum()`` with respect to ``args[wrt]``), the gradient None when the output
    is not a tensor of the cotangent's shape connected to that argument."""
    import torch
    need(fn, name)
    if _remote(fn):
        return fn._link.gradient(fn, args, wrt, cotangent, name or fn._label)
    args = list(args)
    args[wrt] = args[wrt].detach().clone().requires_grad_(True)
    out = call(fn, *args, name=name)
    if not (isinstance(out, torch.Tensor) and out.requires_grad and out.shape == cotangent.shape):
        return out, None
    (out * cotangent).sum().backward()
    return out, args[wrt].grad


def integer(x: Any, what: str = "your result") -> int:
    """Fail unless ``x`` is an int (a 0-d integer tensor or numpy integer is accepted and converted)."""
    if isinstance(x, bool) or x is None or _remote(x) or not hasattr(x, "__index__"):
        if x is None:
            raise WrongType(f"{what} is None: did you forget `return`? (the `...` placeholder returns None)")
        raise WrongType(f"{what} should be an int, got {type_name(x)}: {x!r:.60}")
    return int(x.__index__())


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# What a "predict" exercise may ask for: kind -> (accepts the answer, converts it for comparison, how to write one)
PREDICTION_KINDS: dict[str, tuple[Callable, Callable, str]] = {
    "int": (_is_int, lambda v: v, "an int, e.g. 1_234_567"),
    "shape": (lambda v: type(v) in (tuple, list) and all(isinstance(x, int) for x in v), tuple,
              "a tuple of ints, e.g. (2, 3, 4)"),
    "number": (_is_number, float, "a number, e.g. 1 / 7"),
    "numbers": (lambda v: type(v) in (list, tuple) and all(_is_number(x) for x in v), lambda v: [float(x) for x in v],
                "a list of numbers, e.g. [1.0, 2.5, ...]"),
    "positions": (lambda v: type(v) in (list, tuple) and all(_is_int(x) for x in v), sorted,
                  "a list of ints, e.g. [0, 2] (write list(range(...)) for a range)"),
}


def prediction(answers: Any, key: str, kind: str = "int", asked: str = "predictions()", want: str | None = None) -> Any:
    """The answer ``key`` of the dict a predict exercise's ``asked`` returned, converted for comparison, or a failure
    that says what is wrong with it: not a dict, the key missing, still ``...``, or not of ``kind`` (PREDICTION_KINDS;
    ``want`` replaces that kind's "how to write one")."""
    accepts, convert, example = PREDICTION_KINDS[kind]
    if not isinstance(answers, dict):
        raise WrongType(f"{asked} should return a dict, got {type_name(answers)}")
    if key not in answers:
        raise NotDefined(f"{asked} has no entry {key!r}: keep the keys of the answer cell")
    value = answers[key]
    if accepts(value):
        return convert(value)
    if value is Ellipsis or type_name(value) == "ellipsis":
        raise NotDefined(f"{key!r} is not filled in yet: replace the ... with your prediction")
    raise WrongType(f"{key!r} should be {want or example}, got {type_name(value)}: {value!r:.60}")

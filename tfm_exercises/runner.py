"""Running an exercise's tests: the same code for the student's check and for the grader.

A question's tests live in ``tfm_exercises/cases/<question>.py`` (generated from the exercise's
source notebook by ``tfm_exercises.assign``). Each is a function decorated with :func:`case`
whose parameters name what it needs from the notebook, e.g. ``def test_values(causal_mask)``.

:func:`run_case` seeds torch and :func:`tfm_exercises.checks.rng` from (seed, question, test), so
every test draws the same inputs for the same seed and other inputs for another seed, then calls
the test with the objects that ``lookup`` gives for its parameters (the notebook's own objects in
the student's kernel, stand-ins for the worker's objects in the grader).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from . import checks

MESSAGE_LIMIT = 1_000  # characters of one test's feedback kept in the report
PUBLIC_SEED = 0  # the seed of the student's own checks (the grader uses the instructor's)


@dataclass
class Case:
    question: str
    name: str
    points: float
    hidden: bool
    description: str
    func: Callable

    def info(self) -> dict:
        return {"question": self.question, "name": self.name, "points": self.points, "hidden": self.hidden,
                "description": self.description}


def case(points: float, hidden: bool = False):
    """Mark a function as a test worth ``points``; hidden tests run only in the grader."""
    def mark(func: Callable) -> Callable:
        func._tfm_case = (float(points), bool(hidden))
        return func
    return mark


def load_cases(question: str) -> list[Case]:
    """The tests of one question, in file order."""
    module = importlib.import_module(f"tfm_exercises.cases.{question}")
    cases = []
    for func in vars(module).values():
        if callable(func) and hasattr(func, "_tfm_case"):
            points, hidden = func._tfm_case
            cases.append(Case(question, func.__name__, points, hidden, (func.__doc__ or "").strip(), func))
    cases.sort(key=lambda c: c.func.__code__.co_firstlineno)
    return cases


def test_seed(seed: int | str, question: str, name: str) -> int:
    """The seed of one test: a hash of the run's seed and the test's name (the same on every machine)."""
    return int(hashlib.sha256(f"{seed}:{question}:{name}".encode()).hexdigest()[:15], 16)


def feedback(error: BaseException) -> str:
    """'Mistake: the scores are not scaled ...': the failure's class and message, capped."""
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " [...]"


def run_case(c: Case, lookup: Callable[[str], Any], seed: int | str) -> dict:
    """Run one test; return its info with score, passed and the failure message."""
    checks.seed_test(test_seed(seed, c.question, c.name))
    try:
        args = [lookup(p) for p in inspect.signature(c.func).parameters]
        c.func(*args)
    except Exception as e:  # AssertionError subclasses name the failure; anything else is reported as is
        return {**c.info(), "score": 0.0, "passed": False, "message": feedback(e)}
    return {**c.info(), "score": c.points, "passed": True, "message": ""}

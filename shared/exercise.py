"""Exercises: a stub for the learner to fill in, one check that says how it went, the solution below it.

A notebook's exercise is the task in prose; a stub that raises ``NotImplementedError`` until the learner
writes it, and its test ending with ``exercise.check(stub, test)`` (one cell or two); and a solution cell,
collapsed on Colab and in Jupyter, that runs the same check on a worked answer. So the notebook runs top to
bottom before the exercise is done, and CI checks that the solution passes the test a learner's version must
pass.
"""
from __future__ import annotations

from typing import Callable


def check(attempt: Callable, test: Callable[[Callable], None]) -> None:
    """Run ``test(attempt)`` and say in one line how it went: "not written yet" while ``attempt`` still
    raises ``NotImplementedError`` (the stub), "passes the check" when ``test`` returns. A wrong answer is
    not caught: ``test`` raises an ``AssertionError`` whose message says what differs. Returns nothing, so
    that a cell ending with the check shows only its line."""
    name = getattr(attempt, "__name__", "your function")
    try:
        test(attempt)
    except NotImplementedError:
        print(f"{name}: not written yet (fill in the cell above; the solution is in the collapsed cell below)")
        return
    print(f"{name}: passes the check")

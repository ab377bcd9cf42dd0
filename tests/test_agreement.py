"""The visible check in the notebook and the grade agree.

A student runs ``check("adam_step", adam_step)`` in a kernel where ``dlopt`` and
torch are loaded; the grade comes from a sandbox where neither exists, with
stderr discarded. For every correct variant, every catalogued mistake and the
answers that behave differently in the two places (an import of ``dlopt`` or
torch inside the function, output on stderr), both must pass or both fail, and
fail with the same first message.
"""

from __future__ import annotations

import re

import pytest
from submissions.variants import VARIANTS

from dlopt.grading import sandbox
from dlopt.grading.assignments import EXERCISES
from dlopt.grading.mistakes import MISTAKES
from dlopt.grading.verdicts import check, judge

pytestmark = pytest.mark.slow  # one sandboxed child per answer: about a minute


def _first_variant(name: str) -> str:
    return next(iter(VARIANTS[name].values()))


def _in_body(source: str, name: str, line: str) -> str:
    """``source`` with ``line`` inserted as the first statement of ``def name``."""
    match = re.search(rf"^def {name}\(.*?\):[^\n]*\n", source, flags=re.M | re.S)
    assert match, f"no def {name} in the variant"
    return source[: match.end()] + f"    {line}\n" + source[match.end() :]


def _answers():
    for name in EXERCISES:
        for key, source in VARIANTS[name].items():
            yield pytest.param(name, source, id=f"{name}-variant-{key}")
        for m in MISTAKES:
            if m.exercise == name:
                yield pytest.param(name, m.source, id=f"{name}-mistake-{m.key}")
        good = _first_variant(name)
        yield pytest.param(name, _in_body(good, name, "import torch"), id=f"{name}-imports-torch")
        yield pytest.param(
            name, _in_body(good, name, "import dlopt.rules"), id=f"{name}-imports-dlopt"
        )
        debug = "import sys; print('debug', file=sys.stderr)"
        yield pytest.param(name, _in_body(good, name, debug), id=f"{name}-writes-stderr")
        yield pytest.param(
            name,
            _in_body(good, name, "import logging; logging.warning('note')"),
            id=f"{name}-logs-a-warning",
        )


def _normalise(message: str) -> str:
    """The first two lines, without the answer's line numbers (the kernel names no lines)."""
    lines = message.splitlines()[:2]
    return "\n".join(re.sub(r" \(line \d+: .*?\)", "", line) for line in lines)


def visible_check(name: str, source: str) -> tuple[bool, str]:
    namespace: dict = {"__name__": "__main__"}
    exec(compile(source, "<answer cell 1>", "exec"), namespace)  # noqa: S102 - the student's cell
    try:
        check(name, namespace[name])
    except AssertionError as exc:
        return False, str(exc)
    return True, ""


def graded(name: str, source: str) -> tuple[bool, str]:
    exercise = EXERCISES[name]
    cases = exercise.cases()
    run = sandbox.run_answer(
        [source],
        [c.task for c in cases],
        stand_ins=any(getattr(c.task, "stand_ins", None) for c in cases),
    )
    verdict = judge(exercise, cases, run.outcomes, answer_errors=run.cell_errors)
    return verdict.passed, "" if verdict.passed else verdict.summary()


@pytest.mark.parametrize(("name", "source"), list(_answers()))
def test_visible_check_and_grade_agree(name, source, capsys):
    seen, said = visible_check(name, source)
    passed, summary = graded(name, source)
    assert seen == passed, f"visible check {seen} ({said}), grade {passed} ({summary})"
    assert _normalise(said) == _normalise(summary)

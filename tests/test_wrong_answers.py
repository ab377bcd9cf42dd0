"""The held-out battery of wrong answers (``submissions/wrong_answers.py``) loses points.

No nbgrader here: each answer runs through :func:`dlopt.grading.tasks.run_task` on the
visible cases, and :func:`dlopt.grading.judge` must fail it there or, if it passes the
visible check, on the hidden cases of every seed tried (a test cell calls ``check`` twice,
so either failing costs the points). For the contract clauses the feedback must name the clause.
"""

from __future__ import annotations

from collections import Counter

import pytest
from submissions.variants import VARIANTS
from submissions.wrong_answers import WRONG

from dlopt.grading.assignments import EXERCISES
from dlopt.grading.mistakes import MISTAKES, Mistake
from dlopt.grading.tasks import load_stand_ins, run_task
from dlopt.grading.verdicts import judge

STAND_INS = load_stand_ins()
SEEDS = (11, 12, 13)

#: What the feedback must say for each kind of contract violation (any of the phrases).
CLAUSE = {
    "mutates_input": ("changed its argument",),
    "alias": ("shares memory with its argument", "an earlier call also returned"),
    "dtype": ("wrong dtype", "wrong type"),
    "rebind": ("rebinds its parameter",),
    "kept_grad": ("changed its argument `grad`", "keeps a reference to the caller's `grad`"),
}


def verdict(name: str, fn, *, hidden: bool, seed=None):
    exercise = EXERCISES[name]
    cases = exercise.cases(hidden, seed=seed)
    outcomes = [run_task(c.task, fn, stand_ins=STAND_INS, time_limit=10.0) for c in cases]
    return judge(exercise, cases, outcomes)


def compiled(name: str, key: str, source: str):
    return Mistake(name, key, "", source).function()


@pytest.mark.parametrize("name, key, kind, source", WRONG, ids=[w[1] + "-" + w[0] for w in WRONG])
def test_wrong_answer_loses_the_points_of_its_exercise(name, key, kind, source):
    failed = [verdict(name, compiled(name, key, source), hidden=False)]
    if failed[0].passed:  # then every student's hidden cases must catch it
        # a fresh compile per grading: module-level state (a global counter) starts over
        failed = [verdict(name, compiled(name, key, source), hidden=True, seed=s) for s in SEEDS]
    for result in failed:
        assert not result.passed, f"{key} keeps the points of {name}"
        if kind in CLAUSE:
            assert any(phrase in result.summary() for phrase in CLAUSE[kind]), result.summary()


def test_battery_covers_every_exercise_with_five_answers_none_catalogued():
    per_exercise = Counter(w[0] for w in WRONG)
    assert set(per_exercise) == set(EXERCISES)
    assert min(per_exercise.values()) >= 5
    assert len({(w[0], w[1]) for w in WRONG}) == len(WRONG)
    catalogued = {m.source for m in MISTAKES}
    assert not [w[1] for w in WRONG if w[3] in catalogued]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_still_pass_with_the_battery_seeds(name):
    for key, source in VARIANTS[name].items():
        for seed in SEEDS:
            result = verdict(name, compiled(name, key, source), hidden=True, seed=seed)
            assert result.passed, f"{key}: {result.summary()}"

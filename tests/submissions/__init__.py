"""Fixture submissions for the grading tests: correct variants, wrong answers, cheat attempts."""

"""Fixture answers for the exercise tests: correct variants and cheat attempts."""

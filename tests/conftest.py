"""Shared pytest configuration for the course's tests."""

# tests/notebooks/ holds hand-made notebooks that test_grading.py feeds to the grader. Some
# loop forever or kill their kernel on purpose, so nbval (`pytest --nbval-lax tests`) must
# not collect them as notebooks to run.
collect_ignore_glob = ["notebooks/*.ipynb"]

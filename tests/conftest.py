"""Shared pytest configuration for the course's tests."""

# tests/notebooks/ holds hand-made notebooks that test_grading.py feeds to the grader. Some
# loop forever or kill their kernel on purpose, so nbval (`pytest --nbval-lax tests`) must
# not collect them as notebooks to run.
collect_ignore_glob = ["notebooks/*.ipynb"]


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``@pytest.mark.gpu`` on a machine without CUDA."""
    import pytest
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)

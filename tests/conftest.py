"""Shared pytest configuration for the course's tests."""

import pytest

# tests/notebooks/ holds hand-made notebooks that test_grading.py feeds to the grader. Some
# loop forever or kill their kernel on purpose, so nbval (`pytest --nbval-lax tests`) must
# not collect them as notebooks to run.
collect_ignore_glob = ["notebooks/*.ipynb"]


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``@pytest.mark.gpu`` on a machine without CUDA."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def load_benchmark(monkeypatch):
    """Load ``benchmarks/<name>.py`` as a module (benchmarks/ is a folder of scripts, not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
        monkeypatch.setattr(sys, "path", list(sys.path))  # the script adds benchmarks/ to it
        spec.loader.exec_module(module)
        return module

    return load

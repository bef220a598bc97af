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


@pytest.fixture
def tiny_train_config():
    """A factory of ``TrainConfig``s that train in about a second (tests/test_train_*.py).

    ``tiny_train_config(tmp_path=None, **changes)``: d_model 32, 1 + 1 layers, dropout 0.1,
    12 steps of 16 pairs, an evaluation every 6 steps on 8 numbers per held-out set, 400
    training numbers, no progress bar; ``out`` is ``tmp_path`` when given.
    """
    from course_lib.train import TrainConfig
    from course_lib.transformer import TransformerConfig

    def make(tmp_path=None, **changes) -> TrainConfig:
        model = TransformerConfig(vocab_size=52, d_model=32, num_heads=4, d_ff=64, num_layers=1, dropout=0.1,
                                  norm_first=True, max_len=64)
        base = dict(model=model, steps=12, batch_size=16, lr=3e-3, warmup_steps=5, eval_every=6, eval_size=8,
                    test_size=8, train_size=400, progress=False, out=str(tmp_path) if tmp_path else None)
        base.update(changes)
        return TrainConfig(**base)

    return make

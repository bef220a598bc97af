"""course_lib.memo.remember: computed once per build, everything it left behind restored."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.memo import remember


def _train(model: nn.Linear, folder, calls: list) -> dict:
    """A stand-in for a heavy cell: trains in place, writes a file, draws random numbers."""
    calls.append(1)
    with torch.no_grad():
        model.weight.add_(torch.randn(model.weight.shape))
    (folder / "log.txt").write_text("trained")
    np.random.rand(3), random.random()
    return {"loss": model.weight.detach().sum().item()}


def test_without_a_memo_folder_it_just_computes(monkeypatch):
    monkeypatch.delenv("COURSE_MEMO", raising=False)
    calls = []
    assert remember("a/b", lambda: calls.append(1) or 5) == 5
    assert remember("a/b", lambda: calls.append(1) or 6) == 6
    assert len(calls) == 2


def test_the_second_edition_gets_everything_the_first_left_behind(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MEMO", str(tmp_path / "memo"))
    runs = []
    for edition in ("en", "zh"):
        torch.manual_seed(0), np.random.seed(0), random.seed(0)
        model = nn.Linear(3, 2)
        folder = tmp_path / edition
        folder.mkdir()
        calls = []
        result = remember("11_training/train",
                          lambda: _train(model, folder, calls), modules=[model], files=folder)
        runs.append(dict(result=result, calls=len(calls), weight=model.weight.detach().clone(),
                         log=(folder / "log.txt").read_text(),
                         after=(torch.rand(1).item(), np.random.rand(), random.random())))
    en, zh = runs
    assert (en["calls"], zh["calls"]) == (1, 0)  # the Chinese build did not train again
    assert en["result"] == zh["result"] and zh["log"] == "trained"
    torch.testing.assert_close(zh["weight"], en["weight"])
    assert zh["after"] == en["after"]  # the next cells draw the same random numbers


def test_names_are_separate_entries(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MEMO", str(tmp_path))
    assert remember("ch/one", lambda: 1) == 1
    assert remember("ch/two", lambda: 2) == 2
    assert remember("ch/one", lambda: 3) == 1


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="../escape", compute=lambda: 1), "name='../escape'"),
    (dict(name="", compute=lambda: 1), "name=''"),
    (dict(name=3, compute=lambda: 1), "name=3"),
    (dict(name="a", compute=5), "compute=5; expected a function"),
    (dict(name="a", compute=lambda: 1, modules=[3]), "modules=.*expected nn.Module"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        remember(**kwargs)

"""Tests for course_lib.train.folder: one run per ``--out`` (lock), no run replaced by accident, writable, atomic writes.

Tests run as root, which ignores permission bits, so an unwritable folder is a path under
a file, or a write that the test makes fail.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import course_lib
from course_lib import train as T
from course_lib.train import folder
from course_lib.train.folder import claim_run_folder, write_atomically
from course_lib.train.loop import _write_metrics


def _names(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_a_folder_holding_a_run_is_refused_and_left_untouched(tmp_path, tiny_train_config):
    out = tmp_path / "run"
    T.train(tiny_train_config(out, steps=6))
    before = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "metrics.jsonl")}
    with pytest.raises(T.RunFolderError, match=r"already holds a run \(checkpoint\.pt and metrics\.jsonl\); "
                                               r"continue it with --resume, replace it with --overwrite") as e:
        T.train(tiny_train_config(out, steps=3, eval_every=3))
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
    assert {name: (out / name).read_bytes() for name in before} == before  # the step-6 run is intact
    (out / "checkpoint.pt").unlink()  # metrics.jsonl alone is a run too
    with pytest.raises(T.RunFolderError, match=r"already holds a run \(metrics\.jsonl\)"):
        T.train(tiny_train_config(out, steps=3, eval_every=3))


def test_overwrite_replaces_the_run_and_nothing_else(tmp_path, tiny_train_config):
    out = tmp_path / "run"
    T.train(tiny_train_config(out, steps=6, eval_every=2))
    (out / "curves.png").write_bytes(b"old figure")
    (out / "notes.txt").write_text("mine")
    result = T.train(tiny_train_config(out, steps=3, eval_every=3), overwrite=True)
    assert T.load_checkpoint(out / "checkpoint.pt")["step"] == 3 and result.step == 3
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [3]
    assert _names(out) == ["checkpoint.pt", "metrics.jsonl", "notes.txt"]  # the old figure went with its run
    assert T.train(tiny_train_config(tmp_path / "new", steps=3, eval_every=3), overwrite=True).step == 3
    with pytest.raises(ValueError, match=r"^overwrite=True; expected False when resume=True"):
        T.train(tiny_train_config(out), resume=True, overwrite=True)
    with pytest.raises(ValueError, match=r"^overwrite='yes'; expected True or False"):
        T.train(tiny_train_config(out), overwrite="yes")


def test_resume_continues_the_run_in_the_folder(tmp_path, tiny_train_config):
    full = T.train(tiny_train_config(tmp_path / "full", steps=12))
    out = tmp_path / "run"
    T.train(tiny_train_config(out, steps=6))
    assert T.train(tiny_train_config(out, steps=12), resume=True).losses == full.losses
    assert ".lock" not in _names(out)  # released at the end


def test_a_folder_in_use_is_refused_naming_its_holder(tmp_path, tiny_train_config):
    out = tmp_path / "run"
    with claim_run_folder(out):  # a first run holds it
        lock = json.loads((out / ".lock").read_text())
        assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname() and lock["started"]
        for flags in ({}, {"resume": True}, {"overwrite": True}):
            with pytest.raises(T.RunFolderError, match=rf"^{re.escape(str(out))} is in use by another course-train run \(pid "
                                                       rf"{os.getpid()} on {socket.gethostname()}, since "):
                T.train(tiny_train_config(out), **flags)
    assert T.train(tiny_train_config(out, steps=2)).step == 2  # free again


def _hold_in_another_process(out: Path) -> subprocess.Popen:
    """Start a process that claims ``out`` and sleeps; return it once it holds the lock."""
    code = ("import sys, time\nfrom course_lib.train.folder import claim_run_folder\n"
            "with claim_run_folder(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(120)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(course_lib.__file__).parents[1]))
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, env=env)
    assert holder.stdout.readline().strip() == b"locked"
    return holder


def test_a_second_run_is_refused_while_another_process_holds_the_folder(tmp_path, tiny_train_config, capsys):
    out = tmp_path / "run"
    holder = _hold_in_another_process(out)
    try:
        with pytest.raises(T.RunFolderError, match=rf"in use by another course-train run \(pid {holder.pid} on "):
            T.train(tiny_train_config(out))
        with pytest.raises(SystemExit) as exit_info:
            T.main(["--preset", "tiny", "--out", str(out), "--no-progress", "--steps", "1"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("course-train: error: ") and f"pid {holder.pid}" in err[0]
    finally:
        holder.kill()  # kill -9: the holder never gets to release anything itself
        holder.wait()
    assert json.loads((out / ".lock").read_text())["pid"] == holder.pid  # its lock file is left behind...
    assert T.train(tiny_train_config(out, steps=2)).step == 2  # ...and blocks nobody: the OS dropped the lock


def test_the_lock_is_released_when_the_run_fails(tmp_path, tiny_train_config):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(T.CheckpointError):
        T.train(tiny_train_config(out), resume=True)
    assert _names(out) == ["checkpoint.pt"]
    with claim_run_folder(out, resume=True):
        pass


def test_an_unwritable_folder_is_refused_before_the_first_step(tmp_path, tiny_train_config, monkeypatch):
    steps = []
    (tmp_path / "file").write_text("")
    with pytest.raises(T.RunFolderError, match=r"^cannot write to .*file/sub \(Not a directory\); choose another"):
        T.train(tiny_train_config(tmp_path / "file" / "sub"), on_step=steps.append)
    with pytest.raises(T.RunFolderError, match=r"^.*file is a file, not a folder; choose another --out"):
        T.train(tiny_train_config(tmp_path / "file"), on_step=steps.append)

    def refuse(*args, **kwargs):  # what a read-only folder does to a user who is not root
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(folder.tempfile, "mkstemp", refuse)
    with pytest.raises(T.RunFolderError, match=r"^cannot write to .*run \(Permission denied\); choose another --out"):
        T.train(tiny_train_config(tmp_path / "run"), on_step=steps.append)
    assert steps == []  # refused before training, not at the first evaluation


def test_leftover_temporary_files_are_removed_when_the_folder_is_claimed(tmp_path):
    for name in (".checkpoint.pt.k2j4x9.tmp", ".metrics.jsonl.tmp", ".metrics.jsonl.a8b7c6.tmp", "notes.txt"):
        (tmp_path / name).write_text("")
    with claim_run_folder(tmp_path):
        assert _names(tmp_path) == [".lock", "notes.txt"]
    assert _names(tmp_path) == ["notes.txt"]


def test_atomic_writes_have_unique_temporary_names(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"

    def first_writer(f):
        f.write(b"first\n")
        write_atomically(path, lambda g: g.write(b"second\n"))  # another writer, in the middle of the first

    write_atomically(path, first_writer)  # with one fixed temporary name, the second would have taken it away
    assert path.read_bytes() == b"first\n" and _names(tmp_path) == ["metrics.jsonl"]
    (tmp_path / ".metrics.jsonl.tmp").mkdir()  # the fixed name of old is taken: no matter
    _write_metrics(tmp_path, [{"step": 1}, {"step": 2}])
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    # Checkpoints too: a save in the middle of another one.
    real_save = torch.save
    nested = []

    def save_twice(obj, f, *args, **kwargs):
        if not nested:
            nested.append(1)
            T.save_checkpoint(tmp_path / "checkpoint.pt", {"step": 2})
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_twice)
    T.save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
    monkeypatch.undo()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True) == {"step": 1}
    assert not [name for name in _names(tmp_path) if name.endswith(".tmp") and name != ".metrics.jsonl.tmp"]

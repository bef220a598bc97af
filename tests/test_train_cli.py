"""Tests for course_lib.train.cli: ``course-train``'s errors, ``--print-config``, and the end-of-run report."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import pytest

from course_lib import train as T
from course_lib.train import cli


def test_cli_rejects_unknown_key_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        T.main(["--preset", "tiny", "--set", "colour=blue"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--set key='colour'; expected a known key" in err[-1] and "Traceback" not in "".join(err)


def test_cli_turns_a_bad_checkpoint_into_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x80\x02 this is not a checkpoint")
    # The command line turns it into one line on stderr and a non-zero exit, no traceback.
    args = ["--preset", "tiny", "--out", str(out), "--resume", "--no-progress", "--steps", "1"]
    with pytest.raises(SystemExit) as exit_info:
        T.main(args)
    message = str(exit_info.value.code)
    assert message.startswith("course-train: error:") and "not a readable checkpoint" in message
    assert "\n" not in message


def test_print_config_prints_the_configuration_as_json(capsys):
    assert T.main(["--preset", "tiny", "--steps", "7", "--set", "betas=0.8,0.9", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 7 and printed["betas"] == [0.8, 0.9] and printed["model"]["d_model"] == 64


def test_report_lives_with_the_command_line():
    assert T.report is cli.report and T.report.__module__ == "course_lib.train.cli"


def test_report_after_training_leaves_the_matplotlib_backend_alone(tmp_path, capsys, tiny_train_config):
    import matplotlib.pyplot as plt

    config = tiny_train_config(tmp_path, steps=6, eval_every=6, model=dataclasses.replace(
        tiny_train_config().model, fast=True, num_layers=2))
    result = T.train(config)
    previous, interactive = matplotlib.get_backend(), plt.isinteractive()
    plt.switch_backend("svg")  # not Agg: the report must neither need it nor switch to it
    try:
        lines = T.report(result, count=3)
        assert matplotlib.get_backend() == "svg" and plt.isinteractive() == interactive
        assert plt.get_fignums() == []  # its figures are closed
    finally:
        plt.switch_backend(previous)
    assert len(lines) == 2 * (1 + 3) and all(line.startswith(("held-out", "  ")) for line in lines)
    assert "figures:" in capsys.readouterr().out
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "attention.png").stat().st_size > 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_curves_plot_the_records():
    # The curves the report saves (course_lib.viz.training_curves) from metrics.jsonl records.
    import matplotlib.pyplot as plt

    from course_lib.viz import training_curves

    metrics = [{"step": s, "loss": 3.0 / s, "uniform/loss": 2.0 / s, "zero_heavy/loss": 2.5 / s,
                "uniform/token_accuracy": 0.5 + s / 10, "zero_heavy/token_accuracy": 0.4 + s / 10,
                "uniform/exact_match": s / 5, "zero_heavy/exact_match": s / 6} for s in (1, 2, 3)]
    with plt.ioff():
        fig = training_curves(metrics, losses=[3.0, 2.5, 2.0, 1.0], smooth=2)
    ax_loss, ax_acc = fig.axes
    lines = {line.get_label(): line for line in ax_acc.get_lines()}
    assert list(lines["zero-heavy: exact match (greedy)"].get_ydata()) == [1 / 6, 2 / 6, 3 / 6]
    running = [line for line in ax_loss.get_lines() if line.get_label().startswith("training")][0]
    assert list(running.get_ydata()) == [2.75, 2.25, 1.5]
    with pytest.raises(ValueError, match="metrics is empty"):
        training_curves([])
    plt.close("all")

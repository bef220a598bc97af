"""Tests for course_lib.train.cli: ``course-train``'s errors, ``--print-config``, and the end-of-run report."""

from __future__ import annotations

import dataclasses
import json
import re

import matplotlib
import pytest
import torch

from course_lib import train as T
from course_lib.train import cli


def test_cli_rejects_unknown_key_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        T.main(["--preset", "tiny", "--set", "colour=blue"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--set key='colour'; expected a known key" in err[-1] and "Traceback" not in "".join(err)


_SMALL = ["--preset", "tiny", "--no-progress", "--set", "d_model=32", "--set", "d_ff=64", "--set", "num_layers=1",
          "--set", "train_size=400", "--set", "test_size=8", "--set", "eval_size=8", "--set", "batch_size=16"]


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err, captured.err
    assert captured.out == ""  # nothing printed before the refusal, no configuration either
    assert err[0].startswith("course-train: error: ")
    return err[0].removeprefix("course-train: error: ")


@pytest.mark.parametrize("print_config", [True, False])
@pytest.mark.parametrize("args,message", [
    (["--set", "lr=-0.1"], "lr=-0.1; expected a finite number > 0"),
    (["--set", "lr=nan"], "lr=nan; expected a finite number > 0"),
    (["--set", "lr=inf"], "lr=inf; expected a finite number > 0"),
    (["--set", "betas=0.9,2"], "betas=(0.9, 2.0); expected two numbers (beta1, beta2), each 0 <= beta < 1"),
    (["--set", "eps=-1"], "eps=-1.0; expected a finite number > 0"),
    (["--device", "tpu"], "device='tpu'; expected None, 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    (["--steps", "0"], "steps=0; expected a positive int"),
    (["--seed", "-1"], "seed=-1; expected an int with 0 <= seed < 2**32"),
    (["--target-exact", "2"], "target_exact=2.0; expected a number with 0 <= target_exact <= 1"),
    (["--set", "max_len=10"], "model.max_len=10; expected at least 42 for en-zh"),
    (["--set", "weight_decay=-1"], "weight_decay=-1.0; expected a number with 0 <= weight_decay"),
])
def test_a_bad_field_is_refused_in_one_line_before_anything_runs(args, message, print_config, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        T.main(["--preset", "tiny", "--no-progress", "--out", str(out), *args]
               + (["--print-config"] if print_config else []))
    assert exit_info.value.code == 2
    assert _one_error_line(capsys).startswith(message)
    assert not out.exists()


def test_a_missing_device_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        T.main([*_SMALL, "--device", "cuda", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert _one_error_line(capsys) == "device='cuda'; expected a device available on this machine ('cpu')"
    assert not (tmp_path / "run").exists()
    # --print-config shows a configuration for another machine: the device need not exist here.
    assert T.main([*_SMALL, "--device", "cuda", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "cuda"


def test_a_diverged_run_ends_in_one_line_and_status_1(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        T.main([*_SMALL, "--set", "lr=1e30", "--out", str(tmp_path / "run")])
    message = str(exit_info.value.code)  # SystemExit(message): printed to stderr, status 1
    assert re.fullmatch(rf"course-train: error: loss became (nan|inf) at step \d+; no checkpoint had been saved in "
                        rf"{re.escape(str(tmp_path / 'run'))} yet", message), message


def test_run_folder_refusals_are_one_line_and_overwrite_replaces(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert T.main([*_SMALL, "--steps", "4", "--set", "eval_every=2", "--out", out]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        T.main([*_SMALL, "--steps", "2", "--out", out])
    assert exit_info.value.code == 2
    assert _one_error_line(capsys).startswith(f"{out} already holds a run (checkpoint.pt and metrics.jsonl)")
    assert T.load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 4
    assert T.main([*_SMALL, "--steps", "2", "--set", "eval_every=2", "--out", out, "--overwrite"]) == 0
    assert T.load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2
    with pytest.raises(SystemExit) as exit_info:
        T.main([*_SMALL, "--out", out, "--resume", "--overwrite"])
    assert exit_info.value.code == 2
    assert "not allowed with argument --resume" in capsys.readouterr().err


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


def test_in_chinese_the_report_the_progress_bar_and_the_figures_are_chinese(tmp_path, capsys, monkeypatch,
                                                                            tiny_train_config):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    monkeypatch.setenv("COURSE_LANG", "zh")  # read when the run prints, not at import
    config = tiny_train_config(tmp_path, steps=6, eval_every=6, progress=True)
    result = T.train(config)
    assert "训练:" in capsys.readouterr().err  # the progress bar's description
    drawn = {}
    save = Figure.savefig

    def record(fig, path, **kwargs):  # the labels of the figures the report saves
        drawn[path.name] = [fig._suptitle.get_text() if fig._suptitle else ""] + [
            text for ax in fig.axes for text in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
        ] + [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        return save(fig, path, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    with plt.ioff():
        lines = T.report(result, count=2)
    assert [line for line in lines if not line.startswith("  ")] == [
        "留出的数（均匀集），贪心解码的翻译：", "留出的数（多零集），贪心解码的翻译："]
    assert capsys.readouterr().out.splitlines()[-1].startswith("图：")
    assert set(drawn) == {"curves.png", "attention.png"}
    words = [w for texts in drawn.values() for t in texts for w in re.findall(r"[A-Za-z]{3,}", t)]
    assert words == ["course", "train"]  # the command's name, the curves' title
    assert "头 0" in drawn["attention.png"] and "最后一个解码器层的交叉注意力" in drawn["attention.png"][0]

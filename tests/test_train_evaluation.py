"""Tests for course_lib.train.evaluation: exact match and token accuracy, attention maps of a trained model."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import types

import pytest
import torch

from course_lib import train as T
from course_lib.data import JOINT_VOCAB, make_batch
from course_lib.train import evaluation


class _Oracle(torch.nn.Module):
    """Knows each source's reference translation; writes it, except one wrong first token for ``spoil``."""

    def __init__(self, numbers, spoil):
        super().__init__()
        self.config = types.SimpleNamespace(pad_id=0)
        batch = make_batch(numbers, shared_vocab=True)
        self.answers = {}
        for n, src, tgt in zip(numbers, batch.src.tolist(), batch.tgt_out.tolist()):
            tgt = [t for t in tgt if t != 0]
            if n == spoil:
                tgt[0] = JOINT_VOCAB.stoi["九"]
            self.answers[tuple(t for t in src if t != 0)] = tgt

    def encode(self, src, src_mask=None):
        return src  # the "memory" is the source itself

    def decode(self, tgt_in, memory, tgt_mask=None, memory_mask=None):
        logits = torch.zeros(*tgt_in.shape, len(JOINT_VOCAB))
        for b, row in enumerate(memory.tolist()):
            answer = self.answers[tuple(t for t in row if t != 0)]
            for i in range(tgt_in.shape[1]):
                logits[b, i, answer[i] if i < len(answer) else 0] = 1.0
        return logits

    def forward(self, src, tgt_in, src_mask=None, tgt_mask=None):
        return self.decode(tgt_in, self.encode(src, src_mask))


def test_evaluate_counts_exact_matches_and_tokens():
    numbers = [0, 7, 15, 4021, 100_000]
    r = T.evaluate(_Oracle(numbers, spoil=15), numbers, batch_size=2, return_predictions=True)
    # References: 零 七 十五 四千零二十一 十万, each plus <eos>: 2 + 2 + 3 + 7 + 3 = 17 target tokens.
    assert r["predictions"] == ["零", "七", "九五", "四千零二十一", "十万"]
    assert r["correct"] == [True, True, False, True, True]
    assert r["exact_match"] == pytest.approx(4 / 5)
    assert r["token_accuracy"] == pytest.approx(16 / 17)  # teacher forcing: only 十 of 十五 is wrong
    assert r["n"] == 5 and r["loss"] > 0


def test_attention_maps_after_training(tiny_train_config):
    config = tiny_train_config(steps=6, eval_every=6, model=dataclasses.replace(
        tiny_train_config().model, fast=True, num_layers=2))
    result = T.train(config)
    maps = T.attention_maps(result.model, 4021)
    batch = make_batch([4021], shared_vocab=True)
    S, T_len = batch.src.shape[1], batch.tgt_in.shape[1]
    assert maps.cross.shape == (2, 4, T_len, S) and maps.encoder_self.shape == (2, 4, S, S)
    torch.testing.assert_close(maps.cross.sum(-1), torch.ones(2, 4, T_len))  # rows are distributions
    assert maps.decoder_self.shape == (2, 4, T_len, T_len)
    torch.testing.assert_close(maps.decoder_self.sum(-1), torch.ones(2, 4, T_len))
    assert (maps.decoder_self.triu(1) == 0).all()  # causal: no target position reads a later one
    assert maps.src_tokens == ["four", "thousand", "and", "twenty", "-", "one"]
    assert maps.tgt_tokens[-1] == "<eos>" and "".join(maps.tgt_tokens[:-1]) == "四千零二十一"
    with torch.no_grad():  # the explicit copy computes what the fast model computes
        expected = result.model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
    torch.testing.assert_close(maps.logits, expected, rtol=1e-4, atol=1e-4)
    assert result.model.config.fast  # the model itself was not switched to the explicit path


def test_evaluation_imports_neither_the_loop_nor_the_report():
    # evaluate() is what the loop calls; the end-of-run report lives with the command line.
    tree = ast.parse(inspect.getsource(evaluation))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not {m for m in imported if m.startswith(("course_lib.train.loop", "course_lib.train.cli", "matplotlib"))}
    assert not hasattr(evaluation, "report")

"""The chapter 11 grader check of beam_step: correct versions pass, known mistakes fail and are named."""

from __future__ import annotations

import pytest
import torch

from course_lib.decoding import beam_step
from course_lib.grading import check, get


def learner_beam_step(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0,
                      per_beam=False, accumulate=True, extend_finished=False, penalty=True, old_length=False,
                      finished_grows=False, multiply=False, pad_costs=False, normalised_score=False,
                      split_by_k=False):
    """A learner-style beam step (the reference solution of the exercise), with switches for mistakes."""
    B, K, V = log_probs.shape
    prev = scores.unsqueeze(-1) if accumulate else torch.zeros_like(scores).unsqueeze(-1)
    cand = prev + log_probs  # (B, K, V)
    if not extend_finished:
        done = finished.unsqueeze(-1).expand_as(cand)
        is_pad = torch.zeros_like(done)
        is_pad[..., pad_id] = True
        stay = cand if pad_costs else prev.expand_as(cand)
        cand = torch.where(done & ~is_pad, torch.full_like(cand, float("-inf")), torch.where(done, stay, cand))
    grow = torch.ones_like(lengths) if finished_grows else (~finished).long()
    length = (lengths if old_length else lengths + grow).unsqueeze(-1).to(cand.dtype)
    lp = ((5 + length) / 6) ** length_penalty if penalty else torch.ones_like(length)
    key = cand * lp if multiply else cand / lp
    k = min(beam_size, K * V)
    if per_beam:
        best_tok = key.argmax(-1)  # (B, K): each beam's favourite token
        best_key = key.gather(-1, best_tok.unsqueeze(-1)).squeeze(-1)
        order = best_key.argsort(-1, descending=True)[:, :k]
        top = order * V + best_tok.gather(-1, order)
    else:
        top = key.reshape(B, K * V).topk(k, dim=-1).indices
    out = (key if normalised_score else cand).reshape(B, K * V).gather(-1, top)
    return (top % K, top // K, out) if split_by_k else (top // V, top % V, out)


def _with(**switches):
    return lambda *args, **kwargs: learner_beam_step(*args, **kwargs, **switches)


def _stub(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    # YOUR CODE HERE
    raise NotImplementedError


@pytest.mark.parametrize("candidate", [beam_step, learner_beam_step], ids=["library", "learner"])
def test_correct_versions_score_full_marks(candidate):
    result = check("decoding.beam_step", candidate, quiet=True)
    assert result.passed, result.message
    assert result.points == result.max_points == get("decoding.beam_step").max_points > 0
    assert get("decoding.beam_step").chapter == "11" and get("decoding.beam_step").name == "beam_step"


def test_a_stub_scores_zero_without_crashing_the_grader():
    result = check("decoding.beam_step", _stub, quiet=True)
    assert result.points == 0 and not result.passed
    assert all("not implemented" in message for _, _, message in result.cases)


@pytest.mark.parametrize("switch,named", [
    ("per_beam", "taken per beam"),
    ("accumulate", "not accumulated"),
    ("extend_finished", "extended like open ones"),
    ("pad_costs", "pays the log-probability of its padding"),
    ("penalty", "ranked by raw score"),
    ("old_length", "length before the new token"),
    ("finished_grows", "finished beams grow"),
    ("multiply", "multiplied by the length penalty"),
    ("normalised_score", "returned score is the penalised one"),
    ("split_by_k", "split with K"),
])
def test_known_mistakes_fail_with_a_named_hint(switch, named):
    default = learner_beam_step.__kwdefaults__[switch]
    result = check("decoding.beam_step", _with(**{switch: not default}), quiet=True)
    assert not result.passed and result.points < result.max_points
    assert any(named in message for _, ok, message in result.cases if not ok), result.cases


def test_wrong_return_types_and_in_place_edits_are_reported():
    result = check("decoding.beam_step", lambda *a, **k: learner_beam_step(*a, **k)[:2], quiet=True)
    assert result.points == 0 and "three tensors" in result.message

    def in_place(log_probs, scores, *args, **kwargs):
        out = learner_beam_step(log_probs, scores, *args, **kwargs)
        scores.zero_()
        return out

    assert "changed its input `scores`" in check("decoding.beam_step", in_place, quiet=True).message


def test_the_check_does_not_touch_the_global_random_state():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    check("decoding.beam_step", beam_step, quiet=True)
    assert torch.equal(torch.get_rng_state(), before)

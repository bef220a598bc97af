"""Checks for chapter 12's GPT exercise: causal_lm_loss.

The known wrong losses (no shift, both cut at the front, the shift the wrong way round,
the mask not shifted with the targets, the mask ignored, a sum instead of a mean, masked
positions counted in the mean, a mean of per-sequence means) are listed as ``mistakes``
so that the hint names them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.gpt import causal_lm_loss
from course_lib.grading.registry import exercise


def _ce(logits: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor | None = None,
        reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of (B, L, V) logits against (B, L) targets, counting ``keep`` only."""
    targets = targets if keep is None else targets.masked_fill(~keep, -100)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=-100, reduction=reduction)


def _mistakes(logits, ids, mask=None) -> dict[str, torch.Tensor]:
    shifted_keep = None if mask is None else mask[:, 1:]
    found = {
        "the targets are not shifted: position t is scored against its own token ids[:, t] instead "
        "of the next one ids[:, t + 1]": _ce(logits, ids, mask),
        "the shift goes the wrong way: logits[:, 1:] against ids[:, :-1] (position t + 1 predicting "
        "token t); drop the LAST position's logits and the FIRST token": _ce(logits[:, 1:], ids[:, :-1], shifted_keep),
        "logits[:, 1:] against ids[:, 1:]: both are cut at the front, so position t is still scored "
        "against its own token; cut the LAST position's logits instead (logits[:, :-1])":
            _ce(logits[:, 1:], ids[:, 1:], shifted_keep),
        "the losses are summed, not averaged over the counted targets":
            _ce(logits[:, :-1], ids[:, 1:], shifted_keep, reduction="sum"),
    }
    if mask is not None:
        per_token = _ce(logits[:, :-1], ids[:, 1:], reduction="none").reshape(ids.shape[0], -1)
        found.update({
            "target_mask is not shifted with the targets: the target of position t is ids[:, t + 1], "
            "so it is counted when target_mask[:, t + 1] is True (use target_mask[:, 1:])":
                _ce(logits[:, :-1], ids[:, 1:], mask[:, :-1]),
            "target_mask is ignored: every next token is counted": _ce(logits[:, :-1], ids[:, 1:]),
            "the masked positions are counted in the mean as zeros: divide by the number of counted "
            "targets, not by every position": (per_token * mask[:, 1:]).sum() / per_token.numel(),
            "the loss is averaged per sequence, then over the sequences, so a sequence with few "
            "counted targets weighs as much as one with many: average over all counted targets at once":
                ((per_token * mask[:, 1:]).sum(1) / mask[:, 1:].sum(1)).mean(),
        })
    return found


@exercise("gpt.causal_lm_loss", name="causal_lm_loss", chapter="12")
def _(candidate, g):
    """causal_lm_loss(logits, ids, target_mask=None) -> scalar next-token cross-entropy."""
    hint = ("position t's logits predict the token at t + 1: compare logits[:, :-1] with ids[:, 1:] "
            "and average over the targets that count")
    V = 11
    for B, L in ((2, 6), (3, 9), (1, 2)):
        logits, ids = g.randn(B, L, V), g.randint(0, V, B, L)
        with g.case(f"no mask, logits ({B}, {L}, {V}): matches the reference"):
            g.assert_close(candidate(logits, ids), causal_lm_loss(logits, ids), what="loss", hint=hint,
                           mistakes=_mistakes(logits, ids), atol=1e-8)
    logits, ids = g.randn(3, 8, V), g.randint(0, V, 3, 8)
    mask = g.rand_mask(3, 8, p=0.6)
    mask[:, 1] = True  # at least one counted target per row
    with g.case("with a target_mask (True = counted), shaped like ids", points=2):
        g.assert_close(candidate(logits, ids, mask), causal_lm_loss(logits, ids, mask), what="loss",
                       hint=hint + "; the mask is indexed like ids", mistakes=_mistakes(logits, ids, mask),
                       atol=1e-8)
    with g.case("only the answer counts: a prompt of 4 tokens, then 3 answer tokens"):
        answer = torch.zeros(2, 7, dtype=torch.bool)
        answer[:, 4:] = True
        logits, ids = g.randn(2, 7, V), g.randint(0, V, 2, 7)
        g.assert_close(candidate(logits, ids, answer), causal_lm_loss(logits, ids, answer), what="loss",
                       hint="the targets counted are ids[:, 4:], predicted by positions 3, 4 and 5",
                       mistakes=_mistakes(logits, ids, answer), atol=1e-8)

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
from course_lib.i18n import tr


def _ce(logits: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor | None = None,
        reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of (B, L, V) logits against (B, L) targets, counting ``keep`` only."""
    targets = targets if keep is None else targets.masked_fill(~keep, -100)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=-100, reduction=reduction)


def _mistakes(logits, ids, mask=None) -> dict[str, torch.Tensor]:
    shifted_keep = None if mask is None else mask[:, 1:]
    found = {
        tr("the targets are not shifted: position t is scored against its own token ids[:, t] instead "
           "of the next one ids[:, t + 1]",
           "目标没有移位：位置 t 是拿它自己的词元 ids[:, t] 打分，而不是下一个 ids[:, "
           "t + 1]"): _ce(logits, ids, mask),
        tr("the shift goes the wrong way: logits[:, 1:] against ids[:, :-1] (position t + 1 predicting "
           "token t); drop the LAST position's logits and the FIRST token",
           "移位方向反了：logits[:, 1:] 对 ids[:, :-1]（位置 t + 1 预测词元 "
           "t）；应去掉最后一个位置的 logits 和第一个词元"): _ce(logits[:, 1:], ids[:, :-1], shifted_keep),
        tr("logits[:, 1:] against ids[:, 1:]: both are cut at the front, so position t is still scored "
           "against its own token; cut the LAST position's logits instead (logits[:, :-1])",
           "logits[:, 1:] 对 ids[:, 1:]：两者都从前面截掉，位置 t 仍在和自己的词元比较；"
           "应截掉最后一个位置的 logits（logits[:, :-1]）"):
            _ce(logits[:, 1:], ids[:, 1:], shifted_keep),
        tr("the losses are summed, not averaged over the counted targets",
           "损失被求和了，而不是在计入的目标上取平均"):
            _ce(logits[:, :-1], ids[:, 1:], shifted_keep, reduction="sum"),
    }
    if mask is not None:
        per_token = _ce(logits[:, :-1], ids[:, 1:], reduction="none").reshape(ids.shape[0], -1)
        found.update({
            tr("target_mask is not shifted with the targets: the target of position t is ids[:, t + 1], "
               "so it is counted when target_mask[:, t + 1] is True (use target_mask[:, 1:])",
               "target_mask 没有随目标一起移位：位置 t 的目标是 ids[:, t + 1]，所以当 "
               "target_mask[:, t + 1] 为 True 时才计入（用 target_mask[:, "
               "1:]）"):
                _ce(logits[:, :-1], ids[:, 1:], mask[:, :-1]),
            tr("target_mask is ignored: every next token is counted",
               "忽略了 target_mask：每个下一个词元都被计入了"): _ce(logits[:, :-1], ids[:, 1:]),
            tr("the masked positions are counted in the mean as zeros: divide by the number of counted "
               "targets, not by every position",
               "被掩蔽的位置以零计入了平均：应除以计入的目标个数，而不是所有位置数"): (per_token * mask[:, 1:]).sum() / per_token.numel(),
            tr("the loss is averaged per sequence, then over the sequences, so a sequence with few "
               "counted targets weighs as much as one with many: average over all counted targets at once",
               "损失先在每个序列内平均，再在序列间平均，于是计入目标很少的序列和很多的序列权重一样：应对所有计入的目标一次性取平均"):
                ((per_token * mask[:, 1:]).sum(1) / mask[:, 1:].sum(1)).mean(),
        })
    return found


@exercise("gpt.causal_lm_loss", name="causal_lm_loss", chapter="12")
def _(candidate, g):
    """causal_lm_loss(logits, ids, target_mask=None) -> scalar next-token cross-entropy."""
    hint = (tr("position t's logits predict the token at t + 1: compare logits[:, :-1] with ids[:, 1:] "
               "and average over the targets that count",
               "位置 t 的 logits 预测位置 t + 1 的词元：把 logits[:, :-1] 与 "
               "ids[:, 1:] 比较，并在计入的目标上取平均"))
    V = 11
    for B, L in ((2, 6), (3, 9), (1, 2)):
        logits, ids = g.randn(B, L, V), g.randint(0, V, B, L)
        with g.case(tr(f"no mask, logits ({B}, {L}, {V}): matches the reference",
                       f"没有掩码，logits ({B}, {L}, {V})：与参考实现一致")):
            g.assert_close(candidate(logits, ids), causal_lm_loss(logits, ids), what="loss", hint=hint,
                           mistakes=_mistakes(logits, ids), atol=1e-8)
    logits, ids = g.randn(3, 8, V), g.randint(0, V, 3, 8)
    mask = g.rand_mask(3, 8, p=0.6)
    mask[:, 1] = True  # at least one counted target per row
    with g.case(tr("with a target_mask (True = counted), shaped like ids",
                   "带 target_mask（True = 计入），形状与 ids 相同"), points=2):
        g.assert_close(candidate(logits, ids, mask), causal_lm_loss(logits, ids, mask), what="loss",
                       hint=hint + tr("; the mask is indexed like ids",
                                      "；掩码的下标与 ids 一致"), mistakes=_mistakes(logits, ids, mask),
                       atol=1e-8)
    with g.case(tr("only the answer counts: a prompt of 4 tokens, then 3 answer tokens",
                   "只有回答计入：4 个词元的提示，然后是 3 个回答词元")):
        answer = torch.zeros(2, 7, dtype=torch.bool)
        answer[:, 4:] = True
        logits, ids = g.randn(2, 7, V), g.randint(0, V, 2, 7)
        g.assert_close(candidate(logits, ids, answer), causal_lm_loss(logits, ids, answer), what="loss",
                       hint=tr("the targets counted are ids[:, 4:], predicted by positions 3, 4 and 5",
                               "计入的目标是 ids[:, 4:]，由位置 3、4 和 5 预测"),
                       mistakes=_mistakes(logits, ids, answer), atol=1e-8)

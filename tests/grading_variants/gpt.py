"""Chapter 12 variants: causal_lm_loss."""

import torch
import torch.nn.functional as F

from . import correct, wrong

LM = "gpt.causal_lm_loss"


def lm_ignore_index(logits, ids, target_mask=None):
    targets = ids[:, 1:]
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, 1:], -100)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)


def lm_gather(logits, ids, target_mask=None):
    logp = logits[:, :-1].log_softmax(-1)
    nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, L - 1)
    if target_mask is None:
        return nll.mean()
    keep = target_mask[:, 1:]
    return nll[keep].mean()


def lm_weighted(logits, ids, target_mask=None):
    B, L, V = logits.shape
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")  # (B, L - 1)
    w = torch.ones_like(nll) if target_mask is None else target_mask[:, 1:].to(nll.dtype)
    return (nll * w).sum() / w.sum()


def lm_loops(logits, ids, target_mask=None):
    total, count = 0.0, 0
    B, L, _ = logits.shape
    for b in range(B):
        for t in range(L - 1):
            if target_mask is not None and not target_mask[b, t + 1]:
                continue
            row = logits[b, t]
            total = total + torch.logsumexp(row, 0) - row[ids[b, t + 1]]
            count += 1
    return total / count


def lm_not_shifted(logits, ids, target_mask=None):
    targets = ids if target_mask is None else ids.masked_fill(~target_mask, -100)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def lm_both_sliced_from_one(logits, ids, target_mask=None):
    """Drops the first position of both, so position t is still scored on its own token."""
    targets = ids[:, 1:]
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, 1:], -100)
    return F.cross_entropy(logits[:, 1:].flatten(0, 1), targets.flatten())


def lm_mask_not_shifted(logits, ids, target_mask=None):
    targets = ids[:, 1:]
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, :-1], -100)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten())


def lm_mean_over_all(logits, ids, target_mask=None):
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    if target_mask is not None:
        nll = nll * target_mask[:, 1:]
    return nll.mean()  # divides by every position, counted or not


def lm_mean_per_sequence(logits, ids, target_mask=None):
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    w = torch.ones_like(nll) if target_mask is None else target_mask[:, 1:].to(nll.dtype)
    return ((nll * w).sum(1) / w.sum(1)).mean()  # each sequence weighs the same


def lm_summed(logits, ids, target_mask=None):
    targets = ids[:, 1:]
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, 1:], -100)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="sum")


def lm_mask_ignored(logits, ids, target_mask=None):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())


VARIANTS = [
    correct(LM, "cross_entropy with ignore_index", lm_ignore_index),
    correct(LM, "log_softmax and gather", lm_gather),
    correct(LM, "per-token losses weighted by the mask", lm_weighted),
    correct(LM, "loops with logsumexp", lm_loops),
    wrong(LM, "targets not shifted", lm_not_shifted, "not shifted"),
    wrong(LM, "logits and ids both sliced from 1", lm_both_sliced_from_one, "cut at the front"),
    wrong(LM, "target_mask not shifted", lm_mask_not_shifted, "target_mask is not shifted"),
    wrong(LM, "mean over every position", lm_mean_over_all, "counted in the mean"),
    wrong(LM, "mean per sequence, then over sequences", lm_mean_per_sequence, "averaged per sequence"),
    wrong(LM, "summed", lm_summed, "summed"),
    wrong(LM, "target_mask ignored", lm_mask_ignored, "target_mask is ignored"),
]

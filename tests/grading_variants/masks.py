"""Chapter 5 variants: causal_mask, padding_mask, combine_masks."""

import torch

from . import correct, wrong

CM, PM, CB = "masks.causal_mask", "masks.padding_mask", "masks.combine_masks"


def cm_arange(L):
    i = torch.arange(L)
    return i[None, :] <= i[:, None]


def cm_loops(L):
    mask = torch.zeros(L, L, dtype=torch.bool)
    for i in range(L):
        for j in range(i + 1):
            mask[i, j] = True
    return mask


def cm_strict(L):
    return torch.ones(L, L).tril(-1).bool()


def cm_upper(L):
    return torch.ones(L, L, dtype=torch.bool).triu()


def cm_float(L):
    return torch.ones(L, L).tril()


def cm_hide(L):
    return torch.ones(L, L, dtype=torch.bool).triu(1)


def pm_compare(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    if (lengths < 0).any() or (lengths > max_len).any():
        raise ValueError(f"lengths={lengths.tolist()}; expected 0 <= length <= max_len={max_len}")
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, :]


def pm_loops(lengths, max_len):
    lengths = [int(n) for n in lengths]
    for n in lengths:
        if not 0 <= n <= max_len:
            raise ValueError(f"lengths has {n}; expected values in [0, {max_len}]")
    mask = torch.zeros(len(lengths), 1, max_len, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, 0, :n] = True
    return mask


def pm_unnamed_error(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    if (lengths < 0).any() or (lengths > max_len).any():
        raise ValueError("bad input")
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, :]


def pm_no_query_axis(lengths, max_len):
    return pm_compare(lengths, max_len)[:, 0, :]


def pm_off_by_one(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    if (lengths < 0).any() or (lengths > max_len).any():
        raise ValueError("lengths out of range")
    return (torch.arange(max_len)[None, :] <= lengths[:, None])[:, None, :]


def pm_no_check(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, :]


def pm_negative_ok(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    if (lengths > max_len).any():
        raise ValueError("lengths longer than max_len")
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, :]


def cb_reduce(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("masks: nothing to combine (no mask, or only None)")
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


def cb_broadcast(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("masks=(); expected at least one mask")
    return torch.stack(torch.broadcast_tensors(*masks)).all(dim=0)


def cb_or(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("no masks")
    out = masks[0]
    for m in masks[1:]:
        out = out | m
    return out


def cb_in_place(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("no masks")
    out = masks[0]
    for m in masks[1:]:
        out &= m
    return out


def cb_first_two(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("no masks")
    return masks[0] & masks[1] if len(masks) > 1 else masks[0]


def cb_none_for_empty(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    return cb_reduce(*masks)


VARIANTS = [
    correct(CM, "arange comparison", cm_arange),
    correct(CM, "loops", cm_loops),
    wrong(CM, "diagonal excluded", cm_strict, "diagonal is excluded"),
    wrong(CM, "upper triangular", cm_upper, "transposed"),
    wrong(CM, "float mask", cm_float, "dtype"),
    wrong(CM, "True means hide", cm_hide, "inverted"),
    correct(PM, "arange comparison", pm_compare),
    correct(PM, "loops", pm_loops),
    wrong(PM, "no query axis", pm_no_query_axis, "query axis"),
    wrong(PM, "<= instead of <", pm_off_by_one, "off-by-one"),
    wrong(PM, "no validation", pm_no_check, "ValueError"),
    wrong(PM, "a ValueError that does not name lengths", pm_unnamed_error, "does not name `lengths`"),
    wrong(PM, "negative lengths accepted", pm_negative_ok, "negative|ValueError"),
    correct(CB, "reduce with &", cb_reduce),
    correct(CB, "broadcast_tensors and all", cb_broadcast),
    wrong(CB, "OR", cb_or, "OR instead of an AND"),
    wrong(CB, "in-place &=", cb_in_place, "changed its input"),
    wrong(CB, "only the first two", cb_first_two, "first two"),
    wrong(CB, "None instead of ValueError", cb_none_for_empty, "ValueError"),
]

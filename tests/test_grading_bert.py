"""The chapter 12 grader check for bert.mask_tokens: a correct version passes, each known mistake is named."""

import torch

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero

ID = "bert.mask_tokens"


def _mask(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None,
          rule=(0.8, 0.1), labels_everywhere=False, keep_specials=True, chosen_share=None, fixed_seed=False):
    """A learner-style 80/10/10, written with one uniform draw per token, with switches for mistakes."""
    g = torch.Generator().manual_seed(0) if fixed_seed else generator
    u = torch.rand(ids.shape, generator=g)
    p = mask_prob if chosen_share is None else chosen_share
    chosen = u < p
    if keep_specials:
        for s in special_ids:
            chosen &= ids != s
    # reuse the same draw, rescaled inside the chosen interval, for 80/10/10
    r = u / p
    to_mask = chosen & (r < rule[0])
    to_random = chosen & (r >= rule[0]) & (r < rule[0] + rule[1])
    inputs = ids.clone()
    inputs[to_mask] = mask_id
    inputs[to_random] = torch.randint(vocab_size, (int(to_random.sum()),), generator=g)
    labels = ids.clone() if labels_everywhere else torch.where(chosen, ids, torch.full_like(ids, -100))
    return inputs, labels


def test_a_learner_style_version_gets_full_marks():
    assert_full_marks(ID, _mask)


def test_every_chosen_token_masked_is_named():
    assert_mistake_named(ID, lambda ids, **kw: _mask(ids, rule=(1.0, 0.0), **kw), "every chosen token became [MASK]")


def test_labels_everywhere_are_named():
    assert_mistake_named(ID, lambda ids, **kw: _mask(ids, labels_everywhere=True, **kw), "labels on every position")


def test_twelve_percent_is_named():
    def twelve(ids, **kw):
        return _mask(ids, chosen_share=0.12, **kw)
    assert_mistake_named(ID, twelve, "15% x 80% = 12%")


def test_masking_special_tokens_is_named():
    assert_mistake_named(ID, lambda ids, **kw: _mask(ids, keep_specials=False, **kw), "never be chosen")


def test_an_ignored_generator_is_named():
    assert_mistake_named(ID, lambda ids, **kw: _mask(ids, fixed_seed=True, **kw), "use the generator")


def test_a_fixed_count_per_sequence_is_named():
    def fixed(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
        """round(mask_prob * n) of each row's n ordinary tokens, at random places: no per-token draw."""
        inputs, labels = ids.clone(), torch.full_like(ids, -100)
        for b, row in enumerate(ids):
            ordinary = (~torch.isin(row, torch.tensor(list(special_ids)))).nonzero().squeeze(1)
            picked = ordinary[torch.randperm(len(ordinary), generator=generator)[:round(mask_prob * len(ordinary))]]
            labels[b, picked] = row[picked]
            inputs[b, picked[: round(0.8 * len(picked))]] = mask_id
        return inputs, labels
    assert_mistake_named(ID, fixed, "not a fixed count per sequence")


def test_stub_scores_zero():
    assert_stub_scores_zero(ID, "12")

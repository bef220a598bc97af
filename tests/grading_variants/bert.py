"""Chapter 12 variants: mask_tokens (15% chosen, then 80/10/10)."""

import torch

from . import correct, wrong

MT = "bert.mask_tokens"


def _ordinary(ids, special_ids):
    return ~torch.isin(ids, torch.as_tensor(list(special_ids), dtype=ids.dtype))


def mt_two_draws_where(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & _ordinary(ids, special_ids)
    r = torch.rand(ids.shape, generator=generator)
    # 10% random, 10% kept, 80% [MASK]: the same three shares, cut in another order
    inputs = ids.clone()
    to_random = chosen & (r < 0.1)
    inputs[chosen & (r >= 0.2)] = mask_id
    inputs[to_random] = torch.randint(vocab_size, (int(to_random.sum()),), generator=generator)
    labels = ids.masked_fill(~chosen, -100)
    return inputs, labels


def mt_one_draw(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    chosen = (u < mask_prob) & _ordinary(ids, special_ids)
    r = u / mask_prob  # uniform on [0, 1) again inside the chosen interval
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (r < 0.8), mask_id, ids)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, inputs)
    return inputs, torch.where(chosen, ids, -100)


def mt_bernoulli_multinomial(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    chosen = torch.bernoulli(torch.full(ids.shape, float(mask_prob)), generator=generator).bool()
    for s in special_ids:
        chosen &= ids != s
    n = int(chosen.sum())
    case = torch.multinomial(torch.tensor([0.8, 0.1, 0.1]), n, replacement=True, generator=generator)
    new = ids[chosen].clone()
    new[case == 0] = mask_id
    new[case == 1] = torch.randint(vocab_size, (int((case == 1).sum()),), generator=generator)
    inputs, labels = ids.clone(), torch.full_like(ids, -100)
    inputs[chosen], labels[chosen] = new, ids[chosen]
    return inputs, labels


def mt_specials_masked(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    return mt_one_draw(ids, vocab_size=vocab_size, mask_id=mask_id, special_ids=(), mask_prob=mask_prob,
                       generator=generator)


def mt_swapped(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & _ordinary(ids, special_ids)
    r = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (r < 0.1), mask_id, ids)  # 10% [MASK], 80% random
    inputs = torch.where(chosen & (r >= 0.1) & (r < 0.9), random_ids, inputs)
    return inputs, torch.where(chosen, ids, -100)


def mt_same_draw_unscaled(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    chosen = (u < mask_prob) & _ordinary(ids, special_ids)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (u < 0.8), mask_id, ids)  # u < 0.15 already: always true
    inputs = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, torch.where(chosen, ids, -100)


def mt_fixed_count(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """Exactly round(mask_prob * n) ordinary tokens per sequence, not each token on its own."""
    ordinary = _ordinary(ids, special_ids)
    chosen = torch.zeros_like(ids, dtype=torch.bool)
    for b in range(ids.shape[0]):
        where = ordinary[b].nonzero().squeeze(1)
        k = round(mask_prob * len(where))
        chosen[b, where[torch.randperm(len(where), generator=generator)[:k]]] = True
    r = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (r < 0.8), mask_id, ids)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, inputs)
    return inputs, torch.where(chosen, ids, -100)


def mt_labels_only_masked(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    inputs, _ = mt_one_draw(ids, vocab_size=vocab_size, mask_id=mask_id, special_ids=special_ids,
                            mask_prob=mask_prob, generator=generator)
    return inputs, torch.where(inputs == mask_id, ids, -100)


def mt_labels_from_inputs(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    inputs, labels = mt_one_draw(ids, vocab_size=vocab_size, mask_id=mask_id, special_ids=special_ids,
                                 mask_prob=mask_prob, generator=generator)
    return inputs, torch.where(labels != -100, inputs, -100)


def mt_global_rng(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    return mt_one_draw(ids, vocab_size=vocab_size, mask_id=mask_id, special_ids=special_ids,
                       mask_prob=mask_prob, generator=None)


def mt_last_id_never(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & _ordinary(ids, special_ids)
    r = torch.rand(ids.shape, generator=generator)
    words = torch.randint(0, vocab_size - 1, ids.shape, generator=generator)  # off by one: never the last id
    inputs = torch.where(chosen & (r < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), words, inputs)
    return inputs, ids.masked_fill(~chosen, -100)


def mt_fixed_15(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    return mt_one_draw(ids, vocab_size=vocab_size, mask_id=mask_id, special_ids=special_ids,
                       mask_prob=0.15, generator=generator)


VARIANTS = [
    correct(MT, "two draws, cases cut in another order", mt_two_draws_where),
    correct(MT, "one draw, rescaled inside the chosen interval", mt_one_draw),
    correct(MT, "bernoulli and multinomial", mt_bernoulli_multinomial),
    wrong(MT, "special tokens masked", mt_specials_masked, "special_ids"),
    wrong(MT, "80/10/10 swapped to 10/80/10", mt_swapped, r"\[MASK\]; expected about 80%"),
    wrong(MT, "one draw reused without rescaling", mt_same_draw_unscaled, "every chosen token became"),
    wrong(MT, "a fixed count per sequence", mt_fixed_count, "independently|on its own"),
    wrong(MT, "labels only where [MASK] shows", mt_labels_only_masked, "12%"),
    wrong(MT, "labels read from inputs", mt_labels_from_inputs, "ORIGINAL"),
    wrong(MT, "the global random generator", mt_global_rng, "generator"),
    wrong(MT, "mask_prob ignored", mt_fixed_15, "mask_prob"),
    wrong(MT, "random words never the last id", mt_last_id_never, "last id"),
]

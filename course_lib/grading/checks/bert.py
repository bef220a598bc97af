"""Checks for chapter 12's BERT exercise: mask_tokens (15%, then 80/10/10).

Random choices differ between correct implementations, so the checks test the rule's
properties on a large batch (about 15% chosen; of those about 80% ``[MASK]``, 10% random,
10% kept; labels -100 off the chosen positions; each token chosen on its own, so the
count per sequence varies; special tokens never chosen; the generator makes it
reproducible) and name the common mistakes by their statistics.
"""

from __future__ import annotations

import torch

from course_lib.grading.registry import CaseFailed, exercise

_V, _MASK, _SPECIAL = 1000, 3, (0, 1, 2)


def _batch(g) -> torch.Tensor:
    ids = g.randint(4, _V, 400, 50)  # (400, 50): 20,000 tokens, shares to about ±0.5%
    ids[:, 0], ids[:, -1] = 1, 2  # [CLS]-like and [SEP]-like special tokens
    ids[:50, 40:-1] = 0  # padding
    return ids


def _call(candidate, ids, seed=0, **kw):
    out = candidate(ids, vocab_size=_V, mask_id=_MASK, special_ids=list(_SPECIAL),
                    generator=torch.Generator().manual_seed(seed), **kw)
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise CaseFailed("return a tuple (inputs, labels) of two tensors")
    return out


@exercise("bert.mask_tokens", name="mask_tokens", chapter="12")
def _(candidate, g):
    """mask_tokens(ids, *, vocab_size, mask_id, special_ids, mask_prob, generator) -> (inputs, labels)."""
    ids = _batch(g)
    ordinary = (ids >= 4)
    with g.case("returns (inputs, labels), each an integer tensor shaped like ids"):
        inputs, labels = _call(candidate, ids)
        g.expect(inputs.shape == ids.shape and labels.shape == ids.shape,
                 f"inputs and labels must have ids's shape {tuple(ids.shape)}")
        g.expect(not inputs.is_floating_point() and not labels.is_floating_point(), "return integer token ids")
    with g.case("labels: the original token at chosen positions, -100 everywhere else", points=2):
        inputs, labels = _call(candidate, ids)
        chosen = labels != -100
        g.expect(chosen.float().mean() < 0.5,
                 "looks like labels on every position: only the chosen tokens are targets, "
                 "label all others -100 so that cross_entropy ignores them")
        g.expect(torch.equal(labels[chosen], ids[chosen]),
                 "a label must be the ORIGINAL token (from ids), not what the input shows after masking")
        g.expect(torch.equal(inputs[~chosen], ids[~chosen]),
                 "a token that was not chosen must stay unchanged in inputs (apply the 80/10/10 rule "
                 "to the chosen 15% only, not to every token)")
    with g.case("special tokens (padding, [CLS], [SEP]) are never chosen"):
        _, labels = _call(candidate, ids)
        g.expect(bool((labels[~ordinary] == -100).all()), "tokens in special_ids must never be chosen or changed")
    with g.case("about 15% of the ordinary tokens are chosen (mask_prob)"):
        _, labels = _call(candidate, ids)
        share = (labels[ordinary] != -100).float().mean().item()
        if 0.11 < share < 0.13:
            g.expect(False, f"{share:.1%} chosen looks like 15% x 80% = 12%: the chosen 15% are the targets, "
                            "and the 80/10/10 rule only decides what their input shows")
        g.expect(0.135 < share < 0.165, f"{share:.1%} of the ordinary tokens were chosen; expected about "
                                        "mask_prob = 15%")
        _, labels30 = _call(candidate, ids, mask_prob=0.3)
        share30 = (labels30[ordinary] != -100).float().mean().item()
        g.expect(0.28 < share30 < 0.32, f"with mask_prob=0.3, {share30:.1%} were chosen: use the mask_prob argument")
    with g.case("each token is chosen on its own: the count per sequence varies"):
        _, labels = _call(candidate, ids)
        counts = (labels[50:] != -100).sum(1).double()  # rows of 48 ordinary tokens: Binomial(48, 0.15)
        g.expect(counts.var().item() > 2.0,
                 f"every sequence of 48 ordinary tokens got about {counts.mean().item():.0f} chosen (variance "
                 f"{counts.var().item():.2f}, while independent choices give about 48 x 0.15 x 0.85 = 6.1): "
                 "choose each token independently with probability mask_prob, not a fixed count per sequence")
    with g.case("of the chosen: about 80% [MASK], 10% a random word, 10% unchanged", points=2):
        inputs, labels = _call(candidate, ids)
        chosen = labels != -100
        masked = (inputs[chosen] == _MASK).float().mean().item()
        kept = (inputs[chosen] == ids[chosen]).float().mean().item()
        if masked > 0.97:
            g.expect(False, "every chosen token became [MASK]: 10% must get a random word and 10% stay as they "
                            "are, or the model learns that an unmasked word is never a target")
        g.expect(0.75 < masked < 0.85, f"{masked:.0%} of the chosen became [MASK]; expected about 80%")
        g.expect(0.06 < kept < 0.14, f"{kept:.0%} of the chosen were left unchanged; expected about 10%")
        g.expect(0.06 < 1 - masked - kept < 0.14,
                 f"{1 - masked - kept:.0%} of the chosen became another word; expected about 10% random words")
    with g.case("the generator makes the draw reproducible"):
        a, b, c = _call(candidate, ids, 5), _call(candidate, ids, 5), _call(candidate, ids, 6)
        g.expect(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]),
                 "the same generator seed must give the same result: draw every random number from generator")
        g.expect(not torch.equal(a[1], c[1]), "another seed gave the same choice: use the generator passed in")

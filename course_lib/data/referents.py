"""Referents: a toy task in which a pronoun must find the noun it refers to (chapter 3).

The paper's Figure 4 shows a trained translation model's self-attention linking *its* to
*Law*. Chapter 3 reproduces the idea on a task generated in code, small enough to train
in seconds. Every sentence has the same nine slots::

    the law and the cats stood , but its      ->  law
    the dogs and the lamp waited , but their  ->  dogs

Two nouns that differ in number (one singular, one plural), a verb, and a pronoun that
agrees with exactly one of them: *its* with the singular noun, *their* with the plural
one. The task is to name the pronoun's referent. Which noun comes first is random, and
every noun appears in both numbers, so nothing but agreement with the pronoun tells the
referent from the other noun: a model that names it must have found it.

Held-out sentences use pairs of nouns that training never puts together
(:func:`is_held_out_pair`), so the test measures agreement, not memorised pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib import _validate

__all__ = ["NOUNS", "PRONOUNS", "REFERENT_WORDS", "SENTENCE_LENGTH", "is_held_out_pair",
           "ReferentBatch", "referent_sentences"]

#: Singular nouns; the plural adds an "s". Every noun is used in both numbers.
NOUNS = ("law", "cat", "dog", "house", "river", "tree", "book", "car", "lamp", "road",
         "star", "ship", "bird", "door", "hill", "boat")
#: The pronouns and the number each agrees with.
PRONOUNS = {"its": "singular", "their": "plural"}
_VERBS = ("stood", "waited", "fell", "moved", "stayed", "shone")
_FRAME = ("the", "and", ",", "but")
#: The vocabulary: a word's id is its index here.
REFERENT_WORDS = (*_FRAME, *_VERBS, *PRONOUNS, *NOUNS, *(n + "s" for n in NOUNS))
#: Every sentence has this many tokens; the pronoun is the last.
SENTENCE_LENGTH = 9

_ID = {w: i for i, w in enumerate(REFERENT_WORDS)}
_SPLITS = ("train", "test")


def is_held_out_pair(singular: str, plural: str) -> bool:
    """Whether the pair (singular noun, plural noun) is kept for the held-out sentences.

    A fifth of the ordered pairs of two different nouns (48 of 240) is held out, chosen by the
    nouns' indices in :data:`NOUNS`, so every noun still occurs in training.

    Parameters
    ----------
    singular, plural : str
        Two different nouns of :data:`NOUNS`, in their singular form.

    Returns
    -------
    bool
    """
    i = NOUNS.index(_validate.one_of("singular", singular, NOUNS))
    j = NOUNS.index(_validate.one_of("plural", plural, NOUNS))
    if i == j:
        raise ValueError(f"singular={singular!r} and plural={plural!r}; expected two different nouns")
    return (i + 3 * j) % 4 == 0


@dataclass(frozen=True)
class ReferentBatch:
    """A batch of referent sentences as tensors (``n`` sentences of ``L`` tokens).

    Attributes
    ----------
    tokens : Tensor, shape (n, L), int64
        Ids into :data:`REFERENT_WORDS`.
    pronoun, referent, distractor : Tensor, shape (n,), int64
        Positions of the pronoun, of the noun it refers to, and of the other noun.
    target : Tensor, shape (n,), int64
        The referent's word id, ``tokens[i, referent[i]]``: what a model must name.
    """

    tokens: Tensor
    pronoun: Tensor
    referent: Tensor
    distractor: Tensor
    target: Tensor

    def words(self, i: int) -> list[str]:
        """The words of sentence ``i``."""
        return [REFERENT_WORDS[t] for t in self.tokens[i].tolist()]


def referent_sentences(count: int, *, split: str = "train", seed: int = 0) -> ReferentBatch:
    """Generate ``count`` sentences in which a pronoun agrees with exactly one of two nouns.

    Parameters
    ----------
    count : int
        Number of sentences ``n``.
    split : {"train", "test"}
        Draw the noun pairs from the training pairs or from the held-out ones
        (:func:`is_held_out_pair`).
    seed : int
        The same seed and split give the same sentences.

    Returns
    -------
    ReferentBatch
        ``tokens`` of shape ``(count, SENTENCE_LENGTH)``; the pronoun is *its* or *their*
        with probability 1/2, and the singular noun comes first with probability 1/2.
    """
    count = _validate.positive_int("count", count)
    split = _validate.one_of("split", split, _SPLITS)
    seed = _validate.integer("seed", seed)
    held_out = split == "test"
    pairs = [(s, p) for s in NOUNS for p in NOUNS if s != p and is_held_out_pair(s, p) == held_out]
    gen = torch.Generator().manual_seed(seed * 2 + held_out)
    pick = torch.randint(len(pairs), (count,), generator=gen).tolist()
    verbs = torch.randint(len(_VERBS), (count,), generator=gen).tolist()
    plural_pronoun = torch.randint(2, (count,), generator=gen).bool().tolist()
    singular_first = torch.randint(2, (count,), generator=gen).bool().tolist()
    rows, referent = [], []
    for k in range(count):
        singular, plural = pairs[pick[k]][0], pairs[pick[k]][1] + "s"
        first, second = (singular, plural) if singular_first[k] else (plural, singular)
        pronoun = "their" if plural_pronoun[k] else "its"
        rows.append(["the", first, "and", "the", second, _VERBS[verbs[k]], ",", "but", pronoun])
        # positions 1 and 4 hold the nouns; the referent is the one whose number agrees
        referent.append(1 if singular_first[k] != plural_pronoun[k] else 4)
    tokens = torch.tensor([[_ID[w] for w in row] for row in rows], dtype=torch.int64)
    referent_t = torch.tensor(referent, dtype=torch.int64)
    rows_t = torch.arange(count)
    return ReferentBatch(tokens=tokens, pronoun=torch.full((count,), SENTENCE_LENGTH - 1),
                         referent=referent_t, distractor=5 - referent_t,
                         target=tokens[rows_t, referent_t])

"""Tests for ``course_lib.data.referents``: the pronoun agrees with exactly one noun, the
target is that noun, and held-out sentences use noun pairs training never sees."""

from __future__ import annotations

import pytest
import torch

from course_lib.data import referents
from course_lib.data.referents import (
    NOUNS,
    PRONOUNS,
    REFERENT_WORDS,
    SENTENCE_LENGTH,
    is_held_out_pair,
    referent_sentences,
)


def number(word: str) -> str:
    """Singular or plural, read from the word itself (an independent check of the generator)."""
    if word in NOUNS:
        return "singular"
    assert word.endswith("s") and word[:-1] in NOUNS, word
    return "plural"


def test_shapes_dtypes_and_the_vocabulary_has_unique_words():
    batch = referent_sentences(50, seed=3)
    assert batch.tokens.shape == (50, SENTENCE_LENGTH) and batch.tokens.dtype == torch.int64
    for field in (batch.pronoun, batch.referent, batch.distractor, batch.target):
        assert field.shape == (50,) and field.dtype == torch.int64
    assert len(set(REFERENT_WORDS)) == len(REFERENT_WORDS)
    assert batch.tokens.min() >= 0 and batch.tokens.max() < len(REFERENT_WORDS)


def test_the_pronoun_agrees_with_exactly_one_noun_and_the_target_is_that_noun():
    batch = referent_sentences(400, seed=0)
    for i in range(400):
        words = batch.words(i)
        p, r, d = batch.pronoun[i].item(), batch.referent[i].item(), batch.distractor[i].item()
        assert p == SENTENCE_LENGTH - 1 and words[p] in PRONOUNS
        assert {r, d} == {1, 4}
        assert number(words[r]) == PRONOUNS[words[p]] != number(words[d])
        assert REFERENT_WORDS[batch.target[i].item()] == words[r]
        assert words[0] == words[3] == "the" and words[2] == "and"


def test_no_shortcut_both_pronouns_both_orders_and_every_noun_in_both_numbers():
    batch = referent_sentences(2000, seed=1)
    words = [batch.words(i) for i in range(2000)]
    pronouns = [w[-1] for w in words]
    # the referent is first about half of the time, whichever the pronoun
    for pronoun in PRONOUNS:
        first = [batch.referent[i].item() == 1 for i in range(2000) if pronouns[i] == pronoun]
        assert 0.4 < sum(first) / len(first) < 0.6, pronoun
    assert 0.4 < pronouns.count("its") / 2000 < 0.6
    seen = {w[k] for w in words for k in (1, 4)}
    assert seen == set(NOUNS) | {n + "s" for n in NOUNS}


def test_held_out_sentences_use_only_pairs_training_never_has():
    def pairs(batch):
        out = set()
        for i in range(len(batch.tokens)):
            w = batch.words(i)
            a, b = w[1], w[4]
            singular, plural = (a, b) if a in NOUNS else (b, a)
            out.add((singular, plural[:-1]))
        return out

    train = pairs(referent_sentences(3000, split="train", seed=0))
    test = pairs(referent_sentences(1000, split="test", seed=0))
    assert train and test and not train & test
    assert all(is_held_out_pair(s, p) for s, p in test)
    assert not any(is_held_out_pair(s, p) for s, p in train)
    everything = [(s, p) for s in NOUNS for p in NOUNS if s != p]
    share = sum(is_held_out_pair(s, p) for s, p in everything) / len(everything)
    assert share == 48 / 240  # a fifth, as the docstring says
    # every noun still occurs in training, as singular and as plural
    assert {s for s, _ in train} == {p for _, p in train} == set(NOUNS)


def test_same_seed_same_sentences_other_seed_other_sentences():
    a = referent_sentences(20, seed=5)
    b = referent_sentences(20, seed=5)
    c = referent_sentences(20, seed=6)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.target, b.target)
    assert not torch.equal(a.tokens, c.tokens)
    assert not torch.equal(referent_sentences(20, split="test", seed=5).tokens, a.tokens)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"count=0; expected a positive int"):
        referent_sentences(0)
    with pytest.raises(ValueError, match=r"split='dev'; expected one of 'train', 'test'"):
        referent_sentences(3, split="dev")
    with pytest.raises(ValueError, match=r"singular='law' and plural='law'"):
        is_held_out_pair("law", "law")
    with pytest.raises(ValueError, match=r"plural='cats'; expected one of"):
        is_held_out_pair("law", "cats")


def test_the_package_reexports_the_module():
    import course_lib.data as data

    assert set(referents.__all__) <= set(data.__all__)
    assert data.referent_sentences is referent_sentences

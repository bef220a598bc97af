"""Tests for course_lib.data.vocab: the fixed token <-> id tables and their round trips."""

from __future__ import annotations

import pytest
import torch

from course_lib.data import (
    CHINESE_VOCAB,
    ENGLISH_VOCAB,
    JOINT_VOCAB,
    Vocab,
    chinese_numerals,
    english_words,
    sample_numbers,
)

# --------------------------------------------------------------------------- vocabularies


def test_vocab_ids_are_fixed_and_closed():
    for vocab in (ENGLISH_VOCAB, CHINESE_VOCAB):
        assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
        assert (Vocab.PAD, Vocab.BOS, Vocab.EOS, Vocab.UNK) == (0, 1, 2, 3)
        assert len(set(vocab.itos)) == len(vocab)
    assert len(ENGLISH_VOCAB) == 4 + 33  # 20 ones, 8 tens, hundred thousand million and -
    assert CHINESE_VOCAB.itos[4:] == list("零一二三四五六七八九十百千万亿")
    assert Vocab("en").itos == ENGLISH_VOCAB.itos  # never depends on a sample


def test_vocab_to_ids_to_text_round_trip():
    stoi = ENGLISH_VOCAB.stoi
    assert ENGLISH_VOCAB.to_ids("twenty-one") == [stoi["twenty"], stoi["-"], stoi["one"]]
    assert CHINESE_VOCAB.to_text([1, 8, 14, 5, 2, 0]) == "四十一"
    numbers = sample_numbers(2_000, generator=torch.Generator().manual_seed(9))
    for n in numbers:
        for text, vocab in ((english_words(n), ENGLISH_VOCAB),
                            (chinese_numerals(n), CHINESE_VOCAB)):
            ids = vocab.to_ids(text)
            assert Vocab.UNK not in ids and min(ids) >= 4
            assert vocab.to_text(ids) == text
            assert vocab.to_text(torch.tensor([Vocab.BOS, *ids, Vocab.EOS, Vocab.PAD, 7])) == text


def test_vocab_unknown_tokens_and_bad_language():
    assert CHINESE_VOCAB.to_ids("两千") == [Vocab.UNK, CHINESE_VOCAB.stoi["千"]]
    assert ENGLISH_VOCAB.to_text([ENGLISH_VOCAB.stoi["five"], Vocab.UNK]) == "five <unk>"
    # An id a model cannot produce reads as <unk>, not as some other token (itos[-1] = 亿).
    assert CHINESE_VOCAB.to_text([-1, len(CHINESE_VOCAB)]) == "<unk><unk>"
    with pytest.raises(ValueError, match=r"^language='fr'; expected one of 'en', 'zh', 'joint'$"):
        Vocab("fr")
    with pytest.raises(ValueError, match=r"^language=True; expected"):
        Vocab(True)


def test_joint_vocab_holds_both_languages_in_one_id_space():
    joint = JOINT_VOCAB
    assert len(joint) == len(ENGLISH_VOCAB) + len(CHINESE_VOCAB) - len(Vocab.SPECIALS) == 52
    assert joint.itos[:4] == list(Vocab.SPECIALS)
    # English words keep their ids; the characters follow them, none shared.
    assert joint.itos[: len(ENGLISH_VOCAB)] == ENGLISH_VOCAB.itos
    assert joint.itos[len(ENGLISH_VOCAB):] == CHINESE_VOCAB.itos[4:]
    assert len(set(joint.itos)) == len(joint)
    for n in [0, 10, 4_021, 100_010_000, 777_777_777]:
        en, zh = english_words(n), chinese_numerals(n)
        assert joint.to_text(joint.to_ids(en)) == en and joint.to_text(joint.to_ids(zh)) == zh
        assert [joint.itos[i] for i in joint.to_ids(zh)] == list(zh)  # one token per character
        assert len(joint.to_ids(en)) == len(ENGLISH_VOCAB.to_ids(en))
    assert joint.to_ids("four 千") == [joint.stoi["four"], joint.stoi["千"]]
    assert joint.to_ids("hello") == [Vocab.UNK]
    assert repr(joint) == "Vocab('joint', size=52)"



@pytest.mark.parametrize("vocab", [ENGLISH_VOCAB, CHINESE_VOCAB, JOINT_VOCAB])
def test_vocab_to_ids_refuses_what_is_not_text(vocab):
    with pytest.raises(ValueError, match=r"^text=5; expected a str$"):
        vocab.to_ids(5)


def test_vocab_methods_say_which_way_they_go():
    # "decode" names the module course_lib.decode and Transformer.decode; the vocabulary's
    # methods are to_ids / to_text, with no old name kept beside them.
    assert not hasattr(Vocab, "encode") and not hasattr(Vocab, "decode")
    assert JOINT_VOCAB.to_text(JOINT_VOCAB.to_ids("四千零二十一")) == "四千零二十一"

"""Tests for course_lib.data.batches: padded batches, their masks, and epochs of batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import data
from course_lib.data import (
    CHINESE_VOCAB,
    ENGLISH_VOCAB,
    JOINT_VOCAB,
    Vocab,
    chinese_numerals,
    english_words,
    iterate_batches,
    make_batch,
)

# --------------------------------------------------------------------------- batches

BATCH_NUMBERS = [0, 4_021, 777_777_777]


def test_batch_shapes_and_contents():
    b = make_batch(BATCH_NUMBERS)
    # Hand-counted: "zero"; "four thousand and twenty - one"; 3 x "seven hundred and
    # seventy - seven" + "million" + "thousand". Chinese: 零; 四千零二十一; 17 characters.
    assert b.src_lengths.tolist() == [1, 6, 20]
    assert b.tgt_lengths.tolist() == [2, 7, 18]  # + <bos> / <eos>
    assert b.src.shape == (3, 20) and b.tgt_in.shape == b.tgt_out.shape == (3, 18)
    assert b.src.dtype == b.tgt_in.dtype == torch.long
    for i, n in enumerate(BATCH_NUMBERS):
        S, T = b.src_lengths[i].item(), b.tgt_lengths[i].item()
        assert ENGLISH_VOCAB.to_text(b.src[i]) == english_words(n)
        assert CHINESE_VOCAB.to_text(b.tgt_out[i]) == chinese_numerals(n)
        assert b.tgt_in[i, 0] == Vocab.BOS and b.tgt_out[i, T - 1] == Vocab.EOS
        assert torch.equal(b.tgt_in[i, 1:T], b.tgt_out[i, : T - 1])  # shifted by one
        assert (b.src[i, S:] == Vocab.PAD).all() and (b.src[i, :S] != Vocab.PAD).all()
        assert (b.tgt_in[i, T:] == Vocab.PAD).all() and (b.tgt_out[i, T:] == Vocab.PAD).all()
    assert b.numbers == BATCH_NUMBERS


def test_batch_masks_follow_the_design_convention():
    b = make_batch(BATCH_NUMBERS)
    B, S = b.src.shape
    T = b.tgt_in.shape[1]
    assert b.src_mask.dtype == b.tgt_mask.dtype == torch.bool
    assert b.src_mask.shape == (B, 1, S) and b.tgt_mask.shape == (B, T, T)
    for i in range(B):
        for k in range(S):
            assert b.src_mask[i, 0, k] == (k < b.src_lengths[i])  # True = may attend
        for q in range(T):
            for k in range(T):
                assert b.tgt_mask[i, q, k] == (k <= q and k < b.tgt_lengths[i])


def test_batch_src_mask_hides_padding_from_attention():
    from course_lib.attention import scaled_dot_product_attention

    b = make_batch(BATCH_NUMBERS)
    x = torch.randn(*b.src.shape, 8, generator=torch.Generator().manual_seed(0))  # (B, S, 8)
    _, weights = scaled_dot_product_attention(x, x, x, mask=b.src_mask)  # (B, S, S)
    for i, S in enumerate(b.src_lengths.tolist()):
        assert (weights[i, :, S:] == 0).all()
        torch.testing.assert_close(weights[i, :, :S].sum(-1), torch.ones(weights.shape[1]))


def test_batch_zh_to_en_direction():
    b = make_batch(BATCH_NUMBERS, direction="zh-en")
    assert b.src_lengths.tolist() == [1, 6, 17]
    assert b.tgt_lengths.tolist() == [2, 7, 21]
    for i, n in enumerate(BATCH_NUMBERS):
        assert CHINESE_VOCAB.to_text(b.src[i]) == chinese_numerals(n)
        assert ENGLISH_VOCAB.to_text(b.tgt_out[i]) == english_words(n)
    with pytest.raises(ValueError, match=r"^direction='en-fr'; expected one of 'en-zh', 'zh-en'$"):
        make_batch(BATCH_NUMBERS, direction="en-fr")
    with pytest.raises(ValueError, match=r"^numbers=\[\]; expected at least one number"):
        make_batch([])



def test_batch_to_device_keeps_everything():
    b = make_batch(BATCH_NUMBERS)
    c = b.to("cpu")
    assert torch.equal(c.src, b.src) and torch.equal(c.tgt_mask, b.tgt_mask)
    assert c.numbers == b.numbers


def test_iterate_batches_covers_every_number_once():
    numbers = list(range(100, 1_100, 10))  # 100 numbers
    batches = list(iterate_batches(numbers, batch_size=32))
    assert [len(b.numbers) for b in batches] == [32, 32, 32, 4]
    assert [n for b in batches for n in b.numbers] == numbers  # no generator: order kept
    shuffled = [n for b in iterate_batches(numbers, batch_size=32,
                                           generator=torch.Generator().manual_seed(0))
                for n in b.numbers]
    assert shuffled != numbers and sorted(shuffled) == numbers
    again = [n for b in iterate_batches(numbers, batch_size=32,
                                        generator=torch.Generator().manual_seed(0))
             for n in b.numbers]
    assert again == shuffled
    dropped = list(iterate_batches(numbers, batch_size=32, drop_last=True, direction="zh-en"))
    assert [len(b.numbers) for b in dropped] == [32, 32, 32]
    assert CHINESE_VOCAB.to_text(dropped[0].src[0]) == chinese_numerals(100)



@pytest.mark.parametrize("direction", ["en-zh", "zh-en"])
def test_shared_vocab_batches_use_the_joint_ids_and_keep_everything_else(direction):
    separate = make_batch(BATCH_NUMBERS, direction=direction)
    shared = make_batch(BATCH_NUMBERS, direction=direction, shared_vocab=True)
    src_vocab, tgt_vocab = (ENGLISH_VOCAB, CHINESE_VOCAB) if direction == "en-zh" else (CHINESE_VOCAB, ENGLISH_VOCAB)
    for name in ("src_lengths", "tgt_lengths", "src_mask", "tgt_mask"):
        assert torch.equal(getattr(shared, name), getattr(separate, name)), name
    for i in range(len(BATCH_NUMBERS)):
        assert JOINT_VOCAB.to_text(shared.src[i]) == src_vocab.to_text(separate.src[i])
        assert JOINT_VOCAB.to_text(shared.tgt_out[i]) == tgt_vocab.to_text(separate.tgt_out[i])
    # The Chinese side really moved to new ids (an id space shared with English).
    zh = shared.tgt_out if direction == "en-zh" else shared.src
    assert zh[zh > Vocab.UNK].min() >= len(ENGLISH_VOCAB)
    batches = list(iterate_batches(BATCH_NUMBERS, batch_size=2, direction=direction, shared_vocab=True))
    assert torch.equal(batches[0].src, make_batch(BATCH_NUMBERS[:2], direction=direction, shared_vocab=True).src)
    with pytest.raises(ValueError, match=r"^shared_vocab='yes'; expected True or False$"):
        make_batch(BATCH_NUMBERS, shared_vocab="yes")
    with pytest.raises(ValueError, match=r"^shared_vocab=1; expected True or False$"):
        make_batch(BATCH_NUMBERS, shared_vocab=1)


@pytest.mark.parametrize("bad, match", [
    (5, r"^numbers=5; expected a sequence of ints$"),
    (None, r"^numbers=None; expected a sequence of ints$"),
    (torch.tensor(5), r"^numbers=a tensor of shape \(\) .*; expected a sequence of ints$"),
    ("12", r"^numbers='12'; expected a sequence of ints$"),
    ([4_021, -1], r"^numbers\[1\]=-1; expected an int with 0 <= n <= 999,999,999$"),
    ([10**9], r"^numbers\[0\]=1000000000; expected an int with 0 <= n <= 999,999,999$"),
    ([True], r"^numbers\[0\]=True; expected an int .*True/False is not a number"),
    ([2.0], r"^numbers\[0\]=2\.0; expected an int"),
])
def test_make_batch_refuses_bad_numbers_naming_the_argument(bad, match):
    # Not a TypeError from len(5), nor an error about "n" from inside english_words.
    with pytest.raises(ValueError, match=match):
        make_batch(bad)


def test_make_batch_accepts_arrays_and_tensors_of_ints():
    expected = make_batch(BATCH_NUMBERS)
    for numbers in (np.array(BATCH_NUMBERS), torch.tensor(BATCH_NUMBERS), tuple(BATCH_NUMBERS)):
        got = make_batch(numbers)
        assert torch.equal(got.src, expected.src) and torch.equal(got.tgt_out, expected.tgt_out)
        assert got.numbers == BATCH_NUMBERS and all(type(n) is int for n in got.numbers)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, r"^batch_size=0; expected a positive int$"),
    ({"batch_size": True}, r"^batch_size=True; expected a positive int"),
    ({"batch_size": 2, "drop_last": "yes"}, r"^drop_last='yes'; expected True or False$"),
])
def test_iterate_batches_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        next(iterate_batches(BATCH_NUMBERS, **kwargs))


def test_module_exports_exist():
    for name in data.__all__:
        assert hasattr(data, name), name

    # Every module's public names, and only those, are re-exported by the package.
    modules = (data.spelling, data.vocab, data.splits, data.batches, data.referents)
    assert sorted(data.__all__) == sorted(name for m in modules for name in m.__all__)
    for module in modules:
        for name in module.__all__:
            assert getattr(data, name) is getattr(module, name), name

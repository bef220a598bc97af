"""Tests for course_lib.data: number words, sampling, held-out splits, vocabularies, batches.

The reading rules are checked on hand-written cases, and on 10,000 sampled numbers by two
strict parsers written here independently of the library: each converts text back to an
integer and *rejects* any spelling that is not the canonical one (a missing or doubled 零,
一十 at the start, a missing "and"), so a round trip checks the spelling, not just the value.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from course_lib import data
from course_lib.data import (
    CHINESE_VOCAB,
    ENGLISH_VOCAB,
    MAX_NUMBER,
    Vocab,
    chinese_numerals,
    english_words,
    is_held_out,
    iterate_batches,
    make_batch,
    make_splits,
    sample_numbers,
)

# --------------------------------------------------------------------------- hand-written cases

CHINESE_CASES = {
    # plain digits and zero
    0: "零", 1: "一", 2: "二", 7: "七", 9: "九",
    # 十 not 一十 at the very start
    10: "十", 11: "十一", 15: "十五", 19: "十九", 100_000: "十万", 150_000: "十五万",
    # 一十 inside a number
    20: "二十", 99: "九十九", 110: "一百一十", 111: "一百一十一", 1_010: "一千零一十",
    20_010: "二万零一十", 210_000: "二十一万", 1_100_000: "一百一十万",
    110_000_000: "一亿一千万",
    # one 零 for a run of inner zeros
    101: "一百零一", 1_001: "一千零一", 1_000_001: "一百万零一",
    100_010_000: "一亿零一万", 100_000_001: "一亿零一", 4_021: "四千零二十一",
    10_100: "一万零一百", 100_001_000: "一亿零一千", 200_020_002: "二亿零二万零二",
    # zeros that end a group are silent
    100: "一百", 5_000: "五千", 10_000: "一万", 3_005_000: "三百万五千",
    100_000_000: "一亿", 1_000_000: "一百万", 50_000_000: "五千万",
    101_000: "十万一千", 2_300: "二千三百",
    # 零 between groups when the next group's leading digit is zero
    10_001: "一万零一", 105_000: "十万五千", 1_050_000: "一百零五万",
    3_000_500: "三百万零五百", 12_345_678: "一千二百三十四万五千六百七十八",
    # 二, never 两
    2_000: "二千", 20_000: "二万", 222_222_222: "二亿二千二百二十二万二千二百二十二",
    999_999_999: "九亿九千九百九十九万九千九百九十九",
}

ENGLISH_CASES = {
    0: "zero", 7: "seven", 13: "thirteen", 20: "twenty", 21: "twenty-one", 99: "ninety-nine",
    100: "one hundred", 105: "one hundred and five", 110: "one hundred and ten",
    999: "nine hundred and ninety-nine", 1_000: "one thousand",
    1_001: "one thousand and one", 4_021: "four thousand and twenty-one",
    1_100: "one thousand one hundred", 1_105: "one thousand one hundred and five",
    100_000: "one hundred thousand", 120_000: "one hundred and twenty thousand",
    3_005_000: "three million five thousand", 2_000_050: "two million and fifty",
    1_000_100: "one million one hundred", 100_000_000: "one hundred million",
    100_010_000: "one hundred million ten thousand",
    999_999_999: "nine hundred and ninety-nine million nine hundred and ninety-nine thousand "
                 "nine hundred and ninety-nine",
}


@pytest.mark.parametrize("n, text", sorted(CHINESE_CASES.items()))
def test_chinese_numerals_hand_written(n, text):
    assert chinese_numerals(n) == text


@pytest.mark.parametrize("n, text", sorted(ENGLISH_CASES.items()))
def test_english_words_hand_written(n, text):
    assert english_words(n) == text


def test_examples_from_the_issue():
    for english, chinese in [("four thousand and twenty-one", "四千零二十一"),
                             ("one hundred thousand", "十万"),
                             ("three million five thousand", "三百万五千")]:
        n = parse_english(english)
        assert english_words(n) == english
        assert chinese_numerals(n) == chinese


# --------------------------------------------------------------------------- strict parsers

_ZH_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")}
_ZH_UNIT = {"十": 1, "百": 2, "千": 3}
_ZH_GROUP = {"万": 4, "亿": 8}


def parse_chinese(text: str) -> int:
    """Read canonical Chinese numerals; raise ValueError on any non-canonical spelling."""
    if text == "零":
        return 0
    items: list = []  # (digit, exponent) terms and "Z" markers, in reading order
    group: list = []  # items of the group not yet closed by 万 or 亿
    pending = None  # a digit waiting for its unit
    for i, c in enumerate(text):
        if c == "零":
            if pending is not None or (group[-1:] or items[-1:]) in ([], ["Z"]):
                raise ValueError(f"misplaced 零 in {text}")
            group.append("Z")
        elif c in _ZH_DIGIT:
            if pending is not None:
                raise ValueError(f"two digits in a row in {text}")
            pending = _ZH_DIGIT[c]
        elif c in _ZH_UNIT:
            if pending is None:
                if not (c == "十" and i == 0):
                    raise ValueError(f"{c} without a digit in {text}")
                pending = 1
            elif pending == 1 and c == "十" and i == 1:
                raise ValueError(f"一十 at the start of {text}")
            group.append((pending, _ZH_UNIT[c]))
            pending = None
        elif c in _ZH_GROUP:
            if pending is not None:
                group.append((pending, 0))
                pending = None
            if not [t for t in group if t != "Z"] or group[-1] == "Z":
                raise ValueError(f"empty group or trailing 零 before {c} in {text}")
            items += [t if t == "Z" else (t[0], t[1] + _ZH_GROUP[c]) for t in group]
            group = []
        else:
            raise ValueError(f"unexpected character {c!r} in {text}")
    if pending is not None:
        group.append((pending, 0))
    items += group
    if items[-1] == "Z":
        raise ValueError(f"trailing 零 in {text}")
    terms = [t for t in items if t != "Z"]
    for a, b in zip(terms, terms[1:]):
        if a[1] <= b[1]:
            raise ValueError(f"places out of order in {text}")
        i, j = items.index(a), items.index(b)
        has_zero = j - i == 2
        # 零 is read iff digits are skipped, unless the skipped zeros all end a's group and
        # b is the 千 digit opening the next group down (zeros that end a group are silent;
        # an all-zero group in between is not, 100,001,000 is 一亿零一千).
        silent = b[1] % 4 == 3 and b[1] // 4 == a[1] // 4 - 1
        if has_zero != (a[1] - b[1] > 1 and not silent):
            raise ValueError(f"零 {'not ' if has_zero else ''}expected between terms of {text}")
    return sum(d * 10**e for d, e in terms)


_EN_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_EN_SCALES = {"million": 10**6, "thousand": 10**3}


def _parse_below_100(text: str) -> int:
    m = re.fullmatch(r"([a-z]+)-([a-z]+)", text)
    if m:
        if m[1] not in _EN_TENS or _EN_ONES.get(m[2], 0) not in range(1, 10):
            raise ValueError(f"bad compound {text}")
        return _EN_TENS[m[1]] + _EN_ONES[m[2]]
    if text in _EN_TENS:
        return _EN_TENS[text]
    if _EN_ONES.get(text, 0) >= 1:
        return _EN_ONES[text]
    raise ValueError(f"bad word {text}")


def parse_english(text: str) -> int:
    """Read canonical British number words; raise ValueError on any other spelling."""
    if text == "zero":
        return 0
    words = text.split(" ")
    segments, current = [], []
    for w in words:  # split at scale words: [(words, scale), ...]
        if w in _EN_SCALES:
            segments.append((current, _EN_SCALES[w]))
            current = []
        else:
            current.append(w)
    segments.append((current, 1))
    if segments[-1] == ([], 1):
        segments.pop()
    total, last_scale = 0, None
    for k, (seg, scale) in enumerate(segments):
        if last_scale is not None and scale >= last_scale:
            raise ValueError(f"scales out of order in {text}")
        last_scale = scale
        leading_and = seg[:1] == ["and"]
        if leading_and:
            seg = seg[1:]
        value = 0
        if len(seg) >= 2 and seg[1] == "hundred":
            if _EN_ONES.get(seg[0], 0) not in range(1, 10):
                raise ValueError(f"bad hundreds in {text}")
            value, seg = 100 * _EN_ONES[seg[0]], seg[2:]
            if seg:
                if seg[0] != "and":
                    raise ValueError(f"missing 'and' after hundred in {text}")
                seg = seg[1:]
                if not seg:
                    raise ValueError(f"dangling 'and' in {text}")
        if len(seg) > 1 or (not seg and not value):
            raise ValueError(f"bad group in {text}")
        if seg:
            value += _parse_below_100(seg[0])
        needs_and = scale == 1 and k > 0 and value < 100
        if leading_and != needs_and:
            raise ValueError(f"'and' {'not ' if leading_and else ''}expected in {text}")
        total += value * scale
    return total


def test_strict_parsers_reject_wrong_spellings():
    # Each parser must reject the mistakes a plausible wrong implementation makes.
    for wrong in ["一十", "一十五万", "一千零零一", "一千一", "一万一", "五千零", "一百十",
                  "三百万零五千", "一百万一", "一亿万", "十万零五千", "一亿一千", "两千",
                  "零一", "一百五万"]:
        with pytest.raises(ValueError):
            parse_chinese(wrong)
    for wrong in ["one hundred five", "four thousand twenty-one",
                  "three million and five thousand",
                  "one thousand and one hundred", "twenty one", "twenty-zero", "thousand",
                  "one hundred and", "one thousand million", "and five"]:
        with pytest.raises(ValueError):
            parse_english(wrong)


@pytest.mark.parametrize("n", sorted(CHINESE_CASES))
def test_strict_chinese_parser_accepts_the_hand_written_cases(n):
    assert parse_chinese(CHINESE_CASES[n]) == n


@pytest.mark.parametrize("n", sorted(ENGLISH_CASES))
def test_strict_english_parser_accepts_the_hand_written_cases(n):
    assert parse_english(ENGLISH_CASES[n]) == n


def test_round_trip_on_10000_sampled_numbers():
    numbers = sample_numbers(10_000, generator=torch.Generator().manual_seed(0))
    numbers += [0, 10, MAX_NUMBER, 10**8, 10**8 + 1, 10**4 + 1]
    for n in numbers:
        zh, en = chinese_numerals(n), english_words(n)
        assert parse_chinese(zh) == n, (n, zh)
        assert parse_english(en) == n, (n, en)
        assert "两" not in zh


def test_round_trip_on_every_number_below_20000():
    for n in range(20_000):
        assert parse_chinese(chinese_numerals(n)) == n
        assert parse_english(english_words(n)) == n


# --------------------------------------------------------------------------- range errors


@pytest.mark.parametrize("func", [english_words, chinese_numerals])
@pytest.mark.parametrize("bad", [-1, MAX_NUMBER + 1, 10**12])
def test_out_of_range_raises_naming_argument_and_range(func, bad):
    with pytest.raises(ValueError, match=r"n=-?\d+ is outside .*999,999,999"):
        func(bad)


@pytest.mark.parametrize("func", [english_words, chinese_numerals])
@pytest.mark.parametrize("bad", [3.0, 2.5, "12", None, True])
def test_non_integer_raises(func, bad):
    with pytest.raises(ValueError, match="n must be an integer"):
        func(bad)


def test_integer_like_inputs_are_accepted():
    assert chinese_numerals(np.int64(4021)) == "四千零二十一"
    assert english_words(torch.tensor(4021)) == "four thousand and twenty-one"


# --------------------------------------------------------------------------- sampling


def _digits(n: int) -> int:
    return len(str(n))


def _is_round(n: int) -> bool:
    """At least 3 digits and at least 60% of the digits after the first are zero."""
    s = str(n)
    return len(s) >= 3 and s[1:].count("0") >= 0.6 * (len(s) - 1)


def test_uniform_sampling_is_uniform_over_digit_counts():
    numbers = sample_numbers(18_000, generator=torch.Generator().manual_seed(1),
                             zero_heavy_fraction=0.0)
    counts = np.bincount([_digits(n) for n in numbers], minlength=10)[1:]
    # Each of the 9 digit counts gets 1/9 of the draws; binomial sd ~ 0.0023.
    np.testing.assert_allclose(counts / len(numbers), 1 / 9, atol=0.008)
    assert 0 in numbers and 9 in numbers  # one-digit numbers include 0 and 9
    nine = [n for n in numbers if _digits(n) == 9]
    assert abs(np.mean(nine) / 5.5e8 - 1) < 0.05  # uniform within 100,000,000..999,999,999
    assert np.mean([_is_round(n) for n in numbers]) < 0.05


def test_zero_heavy_numbers_are_round():
    g = torch.Generator().manual_seed(2)
    heavy = sample_numbers(2_000, generator=g, zero_heavy_fraction=1.0)
    assert np.mean([_is_round(n) for n in heavy]) > 0.6
    assert min(heavy) >= 10  # at least two digits: a single digit has no zeros to read
    assert set(map(_digits, heavy)) == set(range(2, 10))
    # zero_prob=1: a nonzero leading digit followed by zeros only.
    only_zeros = sample_numbers(500, generator=g, zero_heavy_fraction=1.0, zero_prob=1.0)
    assert all(re.fullmatch(r"[1-9]0+", str(n)) for n in only_zeros)
    # zero_prob=0: no zero digit at all.
    no_zeros = sample_numbers(500, generator=g, zero_heavy_fraction=1.0, zero_prob=0.0)
    assert all("0" not in str(n) for n in no_zeros)


def test_zero_heavy_fraction_is_as_configured():
    def round_share(fraction, seed):
        numbers = sample_numbers(4_000, generator=torch.Generator().manual_seed(seed),
                                 zero_heavy_fraction=fraction)
        return np.mean([_is_round(n) for n in numbers])

    low, high = round_share(0.0, 3), round_share(1.0, 4)
    assert high - low > 0.5
    for fraction in (0.2, 0.7):
        expected = fraction * high + (1 - fraction) * low
        assert abs(round_share(fraction, 5) - expected) < 0.04, fraction


def test_sampling_respects_max_value_and_is_deterministic():
    g = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    numbers = sample_numbers(2_000, generator=g(6), max_value=5_000)
    assert max(numbers) <= 5_000 and max(numbers) > 4_000
    assert set(map(_digits, numbers)) == {1, 2, 3, 4}
    assert sample_numbers(100, generator=g(7)) == sample_numbers(100, generator=g(7))
    assert sample_numbers(100, generator=g(7)) != sample_numbers(100, generator=g(8))
    assert sample_numbers(0, generator=g(7)) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"zero_heavy_fraction": 1.5}, "zero_heavy_fraction"),
    ({"zero_prob": -0.1}, "zero_prob"),
    ({"max_value": MAX_NUMBER + 1}, "max_value"),
    ({"max_value": 0}, "max_value"),
])
def test_sampling_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_numbers(10, generator=torch.Generator(), **kwargs)


# --------------------------------------------------------------------------- splits


def test_held_out_membership_is_a_stable_fraction_of_values():
    values = np.arange(200_000)
    held = is_held_out(values)
    assert abs(held.mean() - 0.1) < 0.005
    assert np.array_equal(held, is_held_out(values))  # a function of the value only
    assert is_held_out(int(values[held][0])) is True
    assert not np.array_equal(held, is_held_out(values, salt=1))
    assert abs(is_held_out(values, held_out_fraction=0.3).mean() - 0.3) < 0.01


def test_splits_are_disjoint_by_value_and_deterministic():
    splits = make_splits(train_size=3_000, test_size=300, seed=0)
    assert len(splits.train) == 3_000
    assert len(splits.test_uniform) == len(splits.test_zero_heavy) == 300
    train = set(splits.train)
    assert not train & set(splits.test_uniform)
    assert not train & set(splits.test_zero_heavy)
    assert not is_held_out(splits.train).any()
    assert is_held_out(splits.test_uniform).all() and is_held_out(splits.test_zero_heavy).all()
    assert len(set(splits.test_uniform)) == 300 and len(set(splits.test_zero_heavy)) == 300
    # The zero-heavy test set is made of round numbers; the uniform one almost never.
    assert np.mean([_is_round(n) for n in splits.test_zero_heavy]) > 0.6
    assert np.mean([_is_round(n) for n in splits.test_uniform]) < 0.05
    assert make_splits(train_size=3_000, test_size=300, seed=0) == splits
    assert make_splits(train_size=3_000, test_size=300, seed=1).train != splits.train


def test_test_sets_do_not_depend_on_train_size():
    small = make_splits(train_size=100, test_size=200, seed=3)
    large = make_splits(train_size=2_000, test_size=200, seed=3)
    assert small.test_uniform == large.test_uniform
    assert small.test_zero_heavy == large.test_zero_heavy


def test_splits_raise_when_held_out_values_run_out():
    with pytest.raises(ValueError, match="distinct held-out numbers"):
        make_splits(train_size=10, test_size=50, seed=0, max_value=99)
    with pytest.raises(ValueError, match="test_size=-1"):
        make_splits(train_size=10, test_size=-1, seed=0)
    with pytest.raises(ValueError, match="held_out_fraction"):
        make_splits(train_size=10, test_size=5, seed=0, held_out_fraction=0.0)


# --------------------------------------------------------------------------- vocabularies


def test_vocab_ids_are_fixed_and_closed():
    for vocab in (ENGLISH_VOCAB, CHINESE_VOCAB):
        assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
        assert (Vocab.PAD, Vocab.BOS, Vocab.EOS, Vocab.UNK) == (0, 1, 2, 3)
        assert len(set(vocab.itos)) == len(vocab)
    assert len(ENGLISH_VOCAB) == 4 + 33  # 20 ones, 8 tens, hundred thousand million and -
    assert CHINESE_VOCAB.itos[4:] == list("零一二三四五六七八九十百千万亿")
    assert Vocab("en").itos == ENGLISH_VOCAB.itos  # never depends on a sample


def test_vocab_encode_decode_round_trip():
    stoi = ENGLISH_VOCAB.stoi
    assert ENGLISH_VOCAB.encode("twenty-one") == [stoi["twenty"], stoi["-"], stoi["one"]]
    assert CHINESE_VOCAB.decode([1, 8, 14, 5, 2, 0]) == "四十一"
    numbers = sample_numbers(2_000, generator=torch.Generator().manual_seed(9))
    for n in numbers:
        for text, vocab in ((english_words(n), ENGLISH_VOCAB),
                            (chinese_numerals(n), CHINESE_VOCAB)):
            ids = vocab.encode(text)
            assert Vocab.UNK not in ids and min(ids) >= 4
            assert vocab.decode(ids) == text
            assert vocab.decode(torch.tensor([Vocab.BOS, *ids, Vocab.EOS, Vocab.PAD, 7])) == text


def test_vocab_unknown_tokens_and_bad_language():
    assert CHINESE_VOCAB.encode("两千") == [Vocab.UNK, CHINESE_VOCAB.stoi["千"]]
    assert ENGLISH_VOCAB.decode([ENGLISH_VOCAB.stoi["five"], Vocab.UNK]) == "five <unk>"
    # An id a model cannot produce reads as <unk>, not as some other token (itos[-1] = 亿).
    assert CHINESE_VOCAB.decode([-1, len(CHINESE_VOCAB)]) == "<unk><unk>"
    with pytest.raises(ValueError, match="language"):
        Vocab("fr")


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
        assert ENGLISH_VOCAB.decode(b.src[i]) == english_words(n)
        assert CHINESE_VOCAB.decode(b.tgt_out[i]) == chinese_numerals(n)
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
        assert CHINESE_VOCAB.decode(b.src[i]) == chinese_numerals(n)
        assert ENGLISH_VOCAB.decode(b.tgt_out[i]) == english_words(n)
    with pytest.raises(ValueError, match="direction"):
        make_batch(BATCH_NUMBERS, direction="en-fr")
    with pytest.raises(ValueError, match="numbers"):
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
    assert CHINESE_VOCAB.decode(dropped[0].src[0]) == chinese_numerals(100)


def test_module_exports_exist():
    for name in data.__all__:
        assert hasattr(data, name), name


def test_joint_vocab_holds_both_languages_in_one_id_space():
    joint = data.JOINT_VOCAB
    assert len(joint) == len(ENGLISH_VOCAB) + len(CHINESE_VOCAB) - len(Vocab.SPECIALS) == 52
    assert joint.itos[:4] == list(Vocab.SPECIALS)
    # English words keep their ids; the characters follow them, none shared.
    assert joint.itos[: len(ENGLISH_VOCAB)] == ENGLISH_VOCAB.itos
    assert joint.itos[len(ENGLISH_VOCAB):] == CHINESE_VOCAB.itos[4:]
    assert len(set(joint.itos)) == len(joint)
    for n in [0, 10, 4_021, 100_010_000, 777_777_777]:
        en, zh = english_words(n), chinese_numerals(n)
        assert joint.decode(joint.encode(en)) == en and joint.decode(joint.encode(zh)) == zh
        assert [joint.itos[i] for i in joint.encode(zh)] == list(zh)  # one token per character
        assert len(joint.encode(en)) == len(ENGLISH_VOCAB.encode(en))
    assert joint.encode("four 千") == [joint.stoi["four"], joint.stoi["千"]]
    assert joint.encode("hello") == [Vocab.UNK]
    assert repr(joint) == "Vocab('joint', size=52)"


@pytest.mark.parametrize("direction", ["en-zh", "zh-en"])
def test_shared_vocab_batches_use_the_joint_ids_and_keep_everything_else(direction):
    separate = make_batch(BATCH_NUMBERS, direction=direction)
    shared = make_batch(BATCH_NUMBERS, direction=direction, shared_vocab=True)
    src_vocab, tgt_vocab = (ENGLISH_VOCAB, CHINESE_VOCAB) if direction == "en-zh" else (CHINESE_VOCAB, ENGLISH_VOCAB)
    for name in ("src_lengths", "tgt_lengths", "src_mask", "tgt_mask"):
        assert torch.equal(getattr(shared, name), getattr(separate, name)), name
    for i in range(len(BATCH_NUMBERS)):
        assert data.JOINT_VOCAB.decode(shared.src[i]) == src_vocab.decode(separate.src[i])
        assert data.JOINT_VOCAB.decode(shared.tgt_out[i]) == tgt_vocab.decode(separate.tgt_out[i])
    # The Chinese side really moved to new ids (an id space shared with English).
    zh = shared.tgt_out if direction == "en-zh" else shared.src
    assert zh[zh > Vocab.UNK].min() >= len(ENGLISH_VOCAB)
    batches = list(iterate_batches(BATCH_NUMBERS, batch_size=2, direction=direction, shared_vocab=True))
    assert torch.equal(batches[0].src, make_batch(BATCH_NUMBERS[:2], direction=direction, shared_vocab=True).src)
    with pytest.raises(ValueError, match="shared_vocab"):
        make_batch(BATCH_NUMBERS, shared_vocab="yes")

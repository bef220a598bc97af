"""Tests for course_lib.data.spelling: English number words and Chinese numerals.

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

from course_lib.data import (
    MAX_NUMBER,
    chinese_numerals,
    chinese_tokens,
    english_tokens,
    english_words,
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
    with pytest.raises(ValueError, match=r"^n=-?\d+; expected an int with 0 <= n <= 999,999,999$"):
        func(bad)


@pytest.mark.parametrize("func", [english_words, chinese_numerals])
@pytest.mark.parametrize("bad", [3.0, 2.5, "12", None, True, torch.tensor([12]), torch.tensor(12.0)])
def test_non_integer_raises(func, bad):
    with pytest.raises(ValueError, match=r"^n=.*; expected an int with 0 <= n <= 999,999,999"):
        func(bad)


def test_integer_like_inputs_are_accepted():
    assert chinese_numerals(np.int64(4021)) == "四千零二十一"
    assert english_words(torch.tensor(4021)) == "four thousand and twenty-one"

    assert chinese_numerals(np.uint8(10)) == "十"


# --------------------------------------------------------------------------- tokens


def test_tokenisers_split_words_and_characters():
    assert english_tokens("four thousand and twenty-one") == ["four", "thousand", "and", "twenty", "-", "one"]
    assert " ".join(english_tokens("ninety-nine")).replace(" - ", "-") == "ninety-nine"
    assert chinese_tokens("四千零二十一") == ["四", "千", "零", "二", "十", "一"]


@pytest.mark.parametrize("tokenise", [english_tokens, chinese_tokens])
@pytest.mark.parametrize("bad", [5, None, ["four"], b"four"])
def test_tokenisers_refuse_what_is_not_text_naming_the_argument(tokenise, bad):
    # Not an AttributeError from str.replace, nor a list of the items of a list.
    with pytest.raises(ValueError, match=r"^text=.*; expected a str$"):
        tokenise(bad)

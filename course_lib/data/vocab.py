"""Vocabularies: fixed token <-> id tables for the number task, with four special tokens.

:class:`Vocab` numbers the closed set of tokens of :mod:`course_lib.data.spelling` and adds
``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>`` (ids 0-3). :meth:`Vocab.to_ids` turns text
into ids, :meth:`Vocab.to_text` turns ids (a model's output) back into text.
:data:`ENGLISH_VOCAB` (37 ids) and :data:`CHINESE_VOCAB` (19 ids) serve one side each;
``Vocab("joint")`` (:data:`JOINT_VOCAB`) holds both sides in one table of 52 ids, as the
paper's shared source/target vocabulary does: a model whose source embedding, target
embedding and output projection are one matrix (``tie_embeddings=True``, chapter 10) needs
one id space for both languages.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from course_lib import _validate
from course_lib.data.spelling import CHINESE_CHARACTERS, ENGLISH_WORDS, chinese_tokens, english_tokens

__all__ = ["Vocab", "ENGLISH_VOCAB", "CHINESE_VOCAB", "JOINT_VOCAB"]


class Vocab:
    """A fixed token <-> id table for one side of the task (or both), with four special tokens.

    The table is built from the closed set of tokens the generator can produce
    (:data:`ENGLISH_WORDS` or :data:`CHINESE_CHARACTERS`), never from a sample, so ids are
    the same in every run and every split. Special tokens have fixed ids:
    ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3.

    Parameters
    ----------
    language : {"en", "zh", "joint"}
        English words, Chinese characters, or both in one table (the English words first,
        then the characters: ``Vocab("joint")`` gives an English word the id it has in
        ``Vocab("en")``). A joint vocabulary reads either language: Chinese is cut into
        characters, English into words, and :meth:`to_text` writes each back in its own way.

    Attributes
    ----------
    itos : list of str
        Token of each id.
    stoi : dict of str to int
        Id of each token.
    """

    PAD, BOS, EOS, UNK = 0, 1, 2, 3
    SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, language: str) -> None:
        _validate.one_of("language", language, ("en", "zh", "joint"))
        if language == "en":
            tokens, self._split, self._join = ENGLISH_WORDS, english_tokens, _join_english
        elif language == "zh":
            tokens, self._split, self._join = CHINESE_CHARACTERS, chinese_tokens, "".join
        else:  # "joint"
            tokens, self._split, self._join = ENGLISH_WORDS + CHINESE_CHARACTERS, _joint_tokens, _join_joint
        self.language = language
        self.itos: list[str] = [*self.SPECIALS, *tokens]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({self.language!r}, size={len(self)})"

    def to_ids(self, text: str) -> list[int]:
        """Tokenise ``text`` and return its ids (text -> ids), without ``<bos>``/``<eos>``.

        Parameters
        ----------
        text : str
            English number words or Chinese numerals. A token outside the vocabulary
            becomes ``<unk>`` (3).

        Returns
        -------
        list of int
            One id per token.

        Raises
        ------
        ValueError
            If ``text`` is not a ``str``.
        """
        return [self.stoi.get(t, self.UNK) for t in self._split(text)]

    def to_text(self, ids: Sequence[int] | Tensor) -> str:
        """Turn ids back into text (ids -> text), the way a model's output is read.

        Reading stops at the first ``<eos>``; ``<pad>`` and ``<bos>`` are dropped, so the
        rows of ``tgt_out`` or of a decoder's output read directly.

        Parameters
        ----------
        ids : sequence of int or Tensor, shape (T,)
            Token ids; one outside ``[0, len(itos))`` reads ``<unk>``.

        Returns
        -------
        str
            E.g. ``CHINESE_VOCAB.to_text([1, 8, 14, 5, 2, 0]) == "四十一"``.
        """
        if isinstance(ids, Tensor):
            if ids.dim() != 1:
                raise _validate.shape_error("ids", ids, "(T,): one row of token ids")
            ids = ids.tolist()
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise _validate.fail("ids", ids, "a sequence of int token ids or a 1-D tensor")
        tokens = []
        for n, i in enumerate(ids):
            i = _validate.integer(f"ids[{n}]", i, expected="an int token id")  # an id outside the table reads <unk>
            if i == self.EOS:
                break
            if i in (self.PAD, self.BOS):
                continue
            tokens.append(self.itos[i] if 0 <= i < len(self.itos) else "<unk>")
        return self._join(tokens)


def _join_english(tokens: list[str]) -> str:
    return " ".join(tokens).replace(" - ", "-")


_CHINESE_SET = frozenset(CHINESE_CHARACTERS)


def _joint_tokens(text: str) -> list[str]:
    """Words for English, characters for Chinese: "四千" -> ["四", "千"], "forty-one" -> 3 words."""
    tokens: list[str] = []
    for word in english_tokens(text):
        tokens += list(word) if all(c in _CHINESE_SET for c in word) else [word]
    return tokens


def _join_joint(tokens: list[str]) -> str:
    """Chinese characters join with nothing between them, everything else with a space."""
    out = ""
    for prev, token in zip([None, *tokens], tokens):
        both_chinese = prev in _CHINESE_SET and token in _CHINESE_SET
        out += token if prev is None or both_chinese else " " + token
    return out.replace(" - ", "-")


#: The source vocabulary of the en→zh direction: 4 specials + 33 words.
ENGLISH_VOCAB = Vocab("en")
#: The target vocabulary of the en→zh direction: 4 specials + 15 characters.
CHINESE_VOCAB = Vocab("zh")
#: Both languages in one table, for a model with shared embeddings: 4 specials + 33 + 15.
JOINT_VOCAB = Vocab("joint")

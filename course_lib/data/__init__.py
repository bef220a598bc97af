"""A synthetic translation task: English number words to Chinese numerals (chapters 10-11).

Chapters 10 and 11 train a Transformer on a task that needs no download and that a CPU
learns in minutes, yet is a real sequence-to-sequence (序列到序列) problem: the source and
target differ in length and in word order, and getting it right needs attention to the
right source words. The model reads an English number and writes it in Chinese::

    four thousand and twenty-one        ->  四千零二十一
    three million five thousand         ->  三百万五千
    one hundred thousand                ->  十万

One module per concept; every public name is re-exported here
(``from course_lib.data import make_batch``):

- :mod:`course_lib.data.spelling`: the integer written on both sides, for
  ``0 <= n <= 999,999,999`` (:data:`MAX_NUMBER`): :func:`english_words` (British style),
  :func:`chinese_numerals` (with the 零 rules), and their tokenisers;
- :mod:`course_lib.data.vocab`: :class:`Vocab`, token <-> id tables with ``<pad>``,
  ``<bos>``, ``<eos>``, ``<unk>`` (ids 0-3): :data:`ENGLISH_VOCAB`, :data:`CHINESE_VOCAB`
  and the shared :data:`JOINT_VOCAB`;
- :mod:`course_lib.data.splits`: :func:`sample_numbers` (uniform per digit count, mixed
  with zero-heavy round numbers) and :func:`make_splits`, a training set and two held-out
  test sets disjoint from it by value (:func:`is_held_out`);
- :mod:`course_lib.data.batches`: :func:`make_batch` and :func:`iterate_batches`, padded
  :class:`Batch` tensors with the masks of ``docs/DESIGN.md`` (True = may attend);
- :mod:`course_lib.data.referents` (chapter 3, a separate toy task): sentences in which a
  pronoun (*its* / *their*) agrees with exactly one of two nouns,
  :func:`referent_sentences` returning a :class:`ReferentBatch`.
"""

from course_lib.data import batches, referents, splits, spelling, vocab
from course_lib.data.batches import Batch, iterate_batches, make_batch
from course_lib.data.referents import (
    NOUNS,
    PRONOUNS,
    REFERENT_WORDS,
    SENTENCE_LENGTH,
    ReferentBatch,
    is_held_out_pair,
    referent_sentences,
)
from course_lib.data.spelling import (
    CHINESE_CHARACTERS,
    ENGLISH_WORDS,
    MAX_NUMBER,
    chinese_numerals,
    chinese_tokens,
    english_tokens,
    english_words,
)
from course_lib.data.splits import Splits, is_held_out, make_splits, sample_numbers
from course_lib.data.vocab import CHINESE_VOCAB, ENGLISH_VOCAB, JOINT_VOCAB, Vocab

__all__ = [*spelling.__all__, *vocab.__all__, *splits.__all__, *batches.__all__,
           *referents.__all__]

"""course_lib: the tested library behind *Attention, from the ground up*.

One module per concept, in chapter order (see ``docs/DESIGN.md``):

``attention``   chapters 1, 3: softmax, scores, scaled dot-product and self-attention
``complexity``  chapter 2: parameter counts, per-layer costs, the long-range task
``multihead``   chapter 4: split and merge heads, ``MultiHeadAttention``
``masks``       chapter 5: causal and padding masks (True = may attend)
``ffn``         chapter 6: the position-wise feed-forward network
``norm``        chapter 7: layer normalisation and the residual wrapper (pre-/post-LN)
``positional``  chapter 8: sinusoidal positional encoding
``embedding``   chapter 9: scaled embeddings and the tied output projection
``transformer`` chapter 10: encoder and decoder layers and stacks, ``Transformer(config)``
``decoding``    chapters 10-11: greedy decoding, beam search, the key/value cache
``train``       chapter 11: the training recipe, checkpoints, ``course-train``
``data``        chapters 10-11: English number words to Chinese numerals, in code
``gpt``         chapter 12: the decoder-only GPT, ``causal_lm_loss``, ``from_huggingface``
``bert``        chapter 12: the encoder-only BERT, ``mask_tokens``, ``from_huggingface``
``numpy_ref``   the same math in plain numpy: an independent oracle
``viz``         heatmaps and other figures used by the chapters
``grading``     exercise registry, ``check`` and the ``course-grade`` command

Symbol glossary, used the same way in every docstring:

==========  ==============================================================
``B``       batch size
``L``       sequence length (``L_q`` queries, ``L_k`` keys and values)
``S``       source length, ``T`` target length (Transformer, decoding)
``D``       feature width of one vector (``d_model`` for the model width)
``H``       number of attention heads
``d_k``     width of a query/key vector; ``d_v`` width of a value vector
``d_head``  width of one head, ``d_model / H``
``d_ff``    inner width of the position-wise feed-forward network
``V``       vocabulary size
``N``       number of layers in the encoder and in the decoder
==========  ==============================================================
"""

import os

__version__ = "0.1.0"


def budget() -> str:
    """Return the compute budget the notebooks run under: ``"full"`` or ``"test"``.

    The book build runs every experiment in full; ``make test`` sets
    ``COURSE_BUDGET=test`` so that nbval re-executes the same cells in seconds.
    """
    value = os.environ.get("COURSE_BUDGET", "full").strip().lower()
    if value not in ("full", "test"):
        raise ValueError(f"COURSE_BUDGET={value!r}; expected 'full' or 'test'")
    return value


def pick(*, full, test):
    """Return ``full`` under the full budget and ``test`` under the test budget.

    Heavy notebook cells size their work with it, e.g. ``steps = pick(full=2000, test=20)``.
    """
    return full if budget() == "full" else test

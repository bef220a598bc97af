"""Comparing layer types: parameters, cost per layer, and reach across a sequence (chapter 2).

The study notes (注意力的优点) claim three advantages of attention over CNNs and RNNs:
fewer parameters (参数少), speed because the steps do not wait on each other (速度快,
可并行), and long-range information that is not weakened (长距离信息不会被弱化). This
module holds what the chapter needs to test each claim:

* parameter counts of one layer of each type at equal width ``d_model``, matching the
  ``torch.nn`` modules exactly (:func:`attention_layer_params`,
  :func:`recurrent_layer_params`, :func:`conv1d_layer_params`);
* the per-layer cost table of *Attention Is All You Need* (Vaswani et al., 2017, Table 1)
  as numbers for a given ``n``, ``d``, ``k``, ``r`` (:func:`layer_complexity`);
* a synthetic long-range task, "which token was ``distance`` steps back?"
  (:func:`long_range_task`), and two tiny classifiers to run on it, one recurrent
  (:class:`LSTMClassifier`) and one with a single attention layer
  (:class:`AttentionClassifier`).

Symbols: ``n`` sequence length, ``d`` width (``d_model``), ``k`` convolution kernel size,
``r`` neighbourhood size of restricted self-attention.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_lib._validate import boolean, fail, generator as _generator, integer, one_of, positive_int

__all__ = [
    "RECURRENT_GATES",
    "LAYER_KINDS",
    "LayerCost",
    "attention_layer_params",
    "recurrent_layer_params",
    "conv1d_layer_params",
    "layer_complexity",
    "long_range_task",
    "LSTMClassifier",
    "AttentionClassifier",
]

# How many d-by-d "gate" blocks each recurrent cell has: a plain RNN computes one
# candidate state, an LSTM four (input, forget, cell, output), a GRU three (reset,
# update, new).
RECURRENT_GATES = {"rnn": 1, "lstm": 4, "gru": 3}

LAYER_KINDS = ("self_attention", "recurrent", "convolutional", "restricted_self_attention")


def attention_layer_params(d_model: int, *, bias: bool = True) -> int:
    """Count the parameters of one self-attention layer of width ``d_model``.

    Four ``d_model x d_model`` projections, one each for queries, keys, values and the
    output (Vaswani et al., 2017, section 3.2.2: :math:`W^Q, W^K, W^V, W^O`), each with a
    bias vector of length ``d_model`` when ``bias`` is True:

    .. math:: 4 d^2 + 4 d

    The count does not depend on the number of heads: ``h`` heads of width ``d / h`` use
    the same four matrices, cut into slices. It equals
    ``sum(p.numel() for p in nn.MultiheadAttention(d_model, h, bias=bias).parameters())``.

    Parameters
    ----------
    d_model : int
        Width of the layer's input and output vectors.
    bias : bool, default True
        Whether each projection has a bias vector.

    Returns
    -------
    int
        The number of trainable scalars.
    """
    d_model = positive_int("d_model", d_model)
    return 4 * d_model * d_model + (4 * d_model if boolean("bias", bias) else 0)


def recurrent_layer_params(kind: str, d_model: int, *, bias: bool = True) -> int:
    """Count the parameters of one recurrent layer (``"rnn"``, ``"lstm"`` or ``"gru"``).

    Each gate reads the input through a ``d x d`` matrix :math:`W_{i\\cdot}` and the
    previous hidden state through another, :math:`W_{h\\cdot}` (input size = hidden
    size = ``d_model``). PyTorch gives each of the two its own bias vector, ``b_ih`` and
    ``b_hh``, although one would do (their sum is all that matters). With ``g`` gates
    (1 for an RNN, 4 for an LSTM, 3 for a GRU):

    .. math:: g\\,(2 d^2 + 2 d)

    so an LSTM has :math:`8d^2 + 8d` and a GRU :math:`6d^2 + 6d`. It equals
    ``sum(p.numel() for p in nn.LSTM(d_model, d_model, bias=bias).parameters())``
    (likewise ``nn.RNN``, ``nn.GRU``), single layer, one direction.

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
        The recurrent cell.
    d_model : int
        Input size and hidden size.
    bias : bool, default True
        Whether the layer has the bias vectors ``b_ih`` and ``b_hh``.

    Returns
    -------
    int
        The number of trainable scalars.
    """
    kind = one_of("kind", kind, RECURRENT_GATES)
    d_model = positive_int("d_model", d_model)
    gates = RECURRENT_GATES[kind]
    per_gate = 2 * d_model * d_model + (2 * d_model if boolean("bias", bias) else 0)  # W_i, W_h (+ b_i, b_h)
    return gates * per_gate


def conv1d_layer_params(d_model: int, kernel_size: int, *, bias: bool = True) -> int:
    """Count the parameters of one 1-D convolution from ``d_model`` to ``d_model`` channels.

    Each of the ``d`` output channels has a ``d x k`` filter over the ``k`` neighbouring
    positions of all ``d`` input channels, plus one bias:

    .. math:: k d^2 + d

    So a convolution has fewer parameters than self-attention (:math:`4d^2 + 4d`) only for
    ``kernel_size`` of 3 or less. It equals
    ``sum(p.numel() for p in nn.Conv1d(d_model, d_model, kernel_size, bias=bias).parameters())``.

    Parameters
    ----------
    d_model : int
        Input and output channels.
    kernel_size : int
        Width ``k`` of the window each output position reads.
    bias : bool, default True
        Whether each output channel has a bias.

    Returns
    -------
    int
        The number of trainable scalars.
    """
    d_model, kernel_size = positive_int("d_model", d_model), positive_int("kernel_size", kernel_size)
    return kernel_size * d_model * d_model + (d_model if boolean("bias", bias) else 0)


class LayerCost(NamedTuple):
    """One row of Table 1 of *Attention Is All You Need*, evaluated at given sizes."""

    complexity: int
    """Multiply-adds of one layer over the whole sequence, up to a constant factor."""
    sequential_ops: int
    """Steps that must run one after another (the rest can run in parallel)."""
    max_path_length: int
    """Layers-or-steps a signal crosses between the two furthest positions."""


def _ceil_log(n: int, base: int) -> int:
    # Smallest m with base**m >= n, in integers: float log gives log_5(125) = 3.0000000000000004,
    # whose ceiling would be 4 layers instead of 3.
    m, reach = 0, 1
    while reach < n:
        reach *= base
        m += 1
    return m


def layer_complexity(kind: str, n: int, d: int, k: int = 3, r: int | None = None) -> LayerCost:
    """Evaluate one row of the per-layer cost table for sequence length ``n`` and width ``d``.

    Vaswani et al. (2017), Table 1, with each big-O term read as an exact count:

    ==============================  ==========  ===============  ===================
    ``kind``                        complexity  sequential ops   max path length
    ==============================  ==========  ===============  ===================
    ``"self_attention"``            n² d        1                1
    ``"recurrent"``                 n d²        n                n
    ``"convolutional"``             k n d²      1                ⌈log_k n⌉
    ``"restricted_self_attention"`` r n d       1                ⌈n / r⌉
    ==============================  ==========  ===============  ===================

    The convolution's path length is that of a stack of dilated convolutions (the table's
    entry); contiguous kernels need ``⌈n / k⌉`` layers instead. Path lengths are in layers
    for the parallel kinds and in time steps for the recurrent one.

    Parameters
    ----------
    kind : {"self_attention", "recurrent", "convolutional", "restricted_self_attention"}
        The layer type.
    n : int
        Sequence length.
    d : int
        Representation width ``d_model``.
    k : int, default 3
        Kernel size of the convolution (used by ``"convolutional"`` only); at least 2.
    r : int, optional
        Neighbourhood size of restricted self-attention (required for that kind only).

    Returns
    -------
    LayerCost
        ``(complexity, sequential_ops, max_path_length)`` as ints.
    """
    kind = one_of("kind", kind, LAYER_KINDS)
    n, d = positive_int("n", n), positive_int("d", d)
    if kind == "self_attention":
        # every position scores every other one with a length-d dot product
        return LayerCost(n * n * d, 1, 1)
    if kind == "recurrent":
        # one d x d matrix-vector product per step, and step t needs step t-1
        return LayerCost(n * d * d, n, n)
    if kind == "convolutional":
        k = integer("k", k, minimum=2, expected="a kernel size of at least 2 (k=1 never widens the view)")
        return LayerCost(k * n * d * d, 1, _ceil_log(n, k))
    if r is None:
        raise fail("r", r, "the neighbourhood size of restricted_self_attention, a positive int")
    r = positive_int("r", r)
    return LayerCost(r * n * d, 1, -(-n // r))


def long_range_task(
    num_samples: int,
    seq_len: int,
    distance: int,
    vocab: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Sample sequences of random tokens labelled with the token ``distance`` steps back.

    Reading the sequence left to right, a model must answer at the last position "which
    token did I see ``distance`` steps ago?": the label of row ``i`` is
    ``x[i, seq_len - 1 - distance]``. ``distance = 0`` asks for the last token itself;
    ``distance = seq_len - 1`` for the first. Every other token is a distractor drawn from
    the same vocabulary, so nothing but the right position carries the answer.

    Parameters
    ----------
    num_samples : int
        Number of sequences ``N``.
    seq_len : int
        Length ``L`` of each sequence.
    distance : int
        How far back the answer lies, ``0 <= distance < seq_len``.
    vocab : int
        Number of distinct tokens (and of classes); at least 2.
    generator : torch.Generator, optional
        Source of randomness, for reproducible data.

    Returns
    -------
    x : Tensor, shape (N, L), int64
        Token ids in ``[0, vocab)``.
    y : Tensor, shape (N,), int64
        The label, ``x[:, L - 1 - distance]``.
    """
    num_samples, seq_len = positive_int("num_samples", num_samples), positive_int("seq_len", seq_len)
    vocab = integer("vocab", vocab, minimum=2, expected="an int >= 2 (at least 2 tokens)")
    distance = integer("distance", distance, minimum=0, maximum=seq_len - 1,
                       expected=f"an int in [0, seq_len={seq_len})")
    x = torch.randint(0, vocab, (num_samples, seq_len), generator=_generator("generator", generator))
    return x, x[:, seq_len - 1 - distance].clone()


class LSTMClassifier(nn.Module):
    """Embed tokens, run one LSTM layer, classify from the last hidden state.

    Everything the model knows about early tokens must survive the trip through every
    later step of the recurrence (路径长度 ``n``).

    Parameters
    ----------
    vocab : int
        Number of token ids (and of classes).
    d_model : int
        Embedding width and hidden size.
    """

    def __init__(self, vocab: int, d_model: int):
        super().__init__()
        vocab, d_model = positive_int("vocab", vocab), positive_int("d_model", d_model)
        self.embed = nn.Embedding(vocab, d_model)
        self.rnn = nn.LSTM(d_model, d_model, batch_first=True)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, x: Tensor) -> Tensor:
        """Map token ids ``(B, L)`` to class logits ``(B, vocab)``."""
        return self.from_embeddings(self.embed(x))

    def from_embeddings(self, e: Tensor) -> Tensor:
        """Map token embeddings ``(B, L, d_model)`` to class logits ``(B, vocab)``.

        Split from :meth:`forward` so that a gradient can be taken w.r.t. each position.
        """
        h, _ = self.rnn(e)  # (B, L, d)
        return self.head(h[:, -1])


class AttentionClassifier(nn.Module):
    """Embed tokens and positions, let the last position attend once over all, classify.

    One attention layer connects the last position to every position directly (路径长度
    1). Position embeddings (learned, one per position) are what let the query tell
    "``distance`` steps back" from any other step: attention by itself ignores order.

    Parameters
    ----------
    vocab : int
        Number of token ids (and of classes).
    d_model : int
        Embedding width.
    max_len : int
        Longest sequence the position table covers.
    num_heads : int, default 1
        Heads of the ``nn.MultiheadAttention`` layer.
    """

    def __init__(self, vocab: int, d_model: int, max_len: int, num_heads: int = 1):
        super().__init__()
        vocab, d_model, max_len = (positive_int(n, v) for n, v in (("vocab", vocab), ("d_model", d_model),
                                                                   ("max_len", max_len)))
        num_heads = positive_int("num_heads", num_heads)
        if d_model % num_heads:
            raise fail("num_heads", num_heads, f"a divisor of d_model={d_model}")
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.attn = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, x: Tensor) -> Tensor:
        """Map token ids ``(B, L)`` to class logits ``(B, vocab)``."""
        return self.from_embeddings(self.embed(x))

    def from_embeddings(self, e: Tensor) -> Tensor:
        """Map token embeddings ``(B, L, d_model)`` to class logits ``(B, vocab)``.

        Split from :meth:`forward` so that a gradient can be taken w.r.t. each position.
        """
        L = e.shape[1]
        if L > self.pos.num_embeddings:
            raise ValueError(f"the input has length {L}; expected at most max_len={self.pos.num_embeddings}")
        h = e + self.pos(torch.arange(L, device=e.device))  # (B, L, d)
        out, _ = self.attn(h[:, -1:], h, h, need_weights=False)  # (B, 1, d): one query, L keys
        return self.head(out[:, 0])

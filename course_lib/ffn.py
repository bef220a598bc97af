"""The position-wise feed-forward network: one small MLP applied to every position (chapter 6, 前馈网络).

Each Transformer layer follows its attention sub-layer with a two-layer MLP that is applied
to every position separately and identically (Vaswani et al. 2017, section 3.3, eq. 2):

.. math:: \\mathrm{FFN}(x) = \\max(0,\\ x W_1 + b_1)\\, W_2 + b_2

``W_1`` expands ``d_model`` to ``d_ff`` (512 to 2048 in the base model), the ReLU acts on
each hidden unit, and ``W_2`` contracts back to ``d_model``. The same weights serve every
position, so the FFN is a 1×1 convolution over the sequence; it never mixes positions (that
is attention's job) but adds the per-token non-linearity attention lacks.

The attribute names ``linear1``, ``dropout``, ``linear2`` are those of
:class:`torch.nn.TransformerEncoderLayer`, so its weights can be copied over by name.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import floating, module_dtype, one_of, positive_int, probability, shape_error, tensor

__all__ = ["gelu", "PositionwiseFFN"]

_ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


def gelu(x: Tensor) -> Tensor:
    """Gaussian error linear unit: ``x · Φ(x)``, with ``Φ`` the standard normal CDF (exact form).

    .. math:: \\mathrm{GELU}(x) = x\\, \\Phi(x) = \\frac{x}{2}\\left(1 + \\mathrm{erf}\\!\\left(\\frac{x}{\\sqrt 2}\\right)\\right)

    Hendrycks & Gimpel (2016). A smooth ReLU: it weighs each input by the probability that a
    standard normal variable lies below it. BERT and GPT use it in place of the paper's ReLU.
    This is the exact (erf) form, equal to ``torch.nn.functional.gelu(x)``; the tanh formula
    (``approximate="tanh"``) differs from it by up to about 5e-4.

    Parameters
    ----------
    x : Tensor, any shape

    Returns
    -------
    Tensor, same shape as ``x``
    """
    floating("x", x)
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class PositionwiseFFN(nn.Module):
    """Two linear maps with a non-linearity between them, applied to each position alone (eq. 2).

    ``FFN(x) = linear2(dropout(activation(linear1(x))))``: expand ``d_model → d_ff``, apply the
    activation per hidden unit, contract ``d_ff → d_model``. Dropout sits on the hidden units,
    where :class:`torch.nn.TransformerEncoderLayer` puts it.

    Parameters
    ----------
    d_model : int
        Width of each position's vector, in and out (512 in the base model).
    d_ff : int
        Width of the hidden layer (2048 in the base model, four times ``d_model``).
    dropout : float, default 0.0
        Dropout probability on the hidden activations (training mode only).
    activation : {"relu", "gelu", "gelu_tanh"}, default "relu"
        The paper's ReLU, the exact GELU of BERT (:func:`gelu`), or GPT-2's tanh
        approximation of it, ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``
        (``torch.nn.functional.gelu(x, approximate="tanh")``, Hugging Face's "gelu_new").

    Attributes
    ----------
    linear1 : nn.Linear
        ``d_model → d_ff``; ``linear1.weight`` has shape ``(d_ff, d_model)``, i.e. ``W_1ᵀ``.
    linear2 : nn.Linear
        ``d_ff → d_model``; ``linear2.weight`` has shape ``(d_model, d_ff)``, i.e. ``W_2ᵀ``.

    Notes
    -----
    Parameter count: ``2 · d_model · d_ff + d_ff + d_model``; 2,099,712 at 512 and 2048.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu"):
        super().__init__()
        d_model, d_ff = positive_int("d_model", d_model), positive_int("d_ff", d_ff)
        dropout = probability("dropout", dropout)
        activation = one_of("activation", activation, _ACTIVATIONS)
        self.d_model, self.d_ff, self.activation = d_model, d_ff, activation
        self.linear1 = nn.Linear(d_model, d_ff)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the FFN to every position of ``x``.

        Parameters
        ----------
        x : Tensor, shape (..., d_model)
            Usually ``(B, L, d_model)``; any leading dimensions are positions.

        Returns
        -------
        Tensor, shape (..., d_model)
        """
        tensor("x", x, shape=f"(..., d_model={self.d_model})")
        if x.dim() == 0 or x.shape[-1] != self.d_model:
            raise shape_error("x", x, f"(..., d_model={self.d_model})")
        module_dtype("x", floating("x", x), self)
        h = self.linear1(x)  # (..., d_ff): expand
        if self.activation == "relu":
            h = torch.relu(h)
        elif self.activation == "gelu":
            h = gelu(h)
        else:  # GPT-2 was trained with the tanh formula (off by up to ~5e-4)
            h = F.gelu(h, approximate="tanh")
        return self.linear2(self.dropout(h))  # (..., d_model): contract

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"

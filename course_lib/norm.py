"""Layer normalisation and the residual connection around every sub-layer (chapter 7, 残差与层归一化).

**Layer normalisation (层归一化)** (Ba et al. 2016) rescales each position's vector on its
own: subtract its mean over the ``d_model`` features, divide by its standard deviation, then
apply a learned per-feature scale ``γ`` and shift ``β``. The statistics never cross
positions or examples, so one token's output does not depend on the rest of the batch or on
padding, unlike batch normalisation.

**Residual connection (残差连接)** (He et al. 2016): a sub-layer (attention or the FFN) adds
its output to its input, so the identity path carries the signal and the gradient through
any depth. Where the LayerNorm sits relative to that sum has two versions, and
:class:`Residual` implements both:

- **post-LN** (``norm_first=False``), the paper (Vaswani et al. 2017, section 5.4):
  ``LayerNorm(x + Dropout(sublayer(x)))``. The norm comes *after* the sum, on the residual
  stream itself.
- **pre-LN** (``norm_first=True``), GPT-2 and most modern code:
  ``x + Dropout(sublayer(LayerNorm(x)))``. The norm is applied to the sub-layer's *input*
  only; the residual stream is never normalised (so a pre-LN stack ends with one final
  LayerNorm).

These are :class:`torch.nn.TransformerEncoderLayer`'s ``norm_first=False`` / ``True``. The
Annotated Transformer writes the pre-LN formula while describing the paper's post-LN one;
the difference matters (chapter 7 measures it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import boolean, fail, floating, module_dtype, same_dtype, positive_int, probability, real, shape_error, tensor

__all__ = ["layer_norm", "LayerNorm", "Residual"]


def _check_affine(name: str, p: Tensor, d: int) -> None:
    tensor(name, p, shape=f"(D,) = ({d},)")
    if tuple(p.shape) != (d,):
        raise shape_error(name, p, f"(D,) = ({d},)", "one value per feature of x")


def _check_eps(eps: float) -> float:
    # 0 is allowed, as in torch (a constant vector then gives NaN); a negative eps can make
    # var + eps negative, and so the square root NaN, for any nearly constant vector.
    return real("eps", eps, low=0.0, expected="a finite number >= 0")


def _check_width(x: Tensor, d_model: int | None = None) -> None:
    expected = "(..., D) with at least one axis" if d_model is None else f"(..., d_model={d_model})"
    tensor("x", x, shape=expected)
    if x.dim() == 0 or (d_model is not None and x.shape[-1] != d_model):
        raise shape_error("x", x, expected)


def layer_norm(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise each vector of ``x`` over its last axis, then scale by ``gamma`` and shift by ``beta``.

    .. math:: \\mathrm{LN}(x) = \\gamma \\odot \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta,
              \\quad \\mu = \\frac1D \\sum_i x_i, \\quad \\sigma^2 = \\frac1D \\sum_i (x_i - \\mu)^2

    As :class:`torch.nn.LayerNorm`: the variance is the *biased* one (divide by ``D``, not
    ``D - 1``) and ``eps`` is added *inside* the square root (Ba et al. 2016, eq. 4).

    Parameters
    ----------
    x : Tensor, shape (..., D)
        Usually ``(B, L, d_model)``; each of the ``B · L`` vectors is normalised on its own.
    gamma : Tensor, shape (D,)
        Per-feature scale (``weight`` in torch).
    beta : Tensor, shape (D,)
        Per-feature shift (``bias`` in torch).
    eps : float, default 1e-5
        Added to the variance so that a constant vector gives ``beta``, not NaN.

    Returns
    -------
    Tensor, shape (..., D)
    """
    _check_width(x)
    _check_affine("gamma", gamma, x.shape[-1])
    _check_affine("beta", beta, x.shape[-1])
    floating("x", x)
    same_dtype(("x", x), ("gamma", gamma), ("beta", beta))
    eps = _check_eps(eps)
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    centred = x - mean
    # (..., 1): the biased variance, divided by D
    var = centred.pow(2).mean(dim=-1, keepdim=True)
    return centred * torch.rsqrt(var + eps) * gamma + beta


class LayerNorm(nn.Module):
    """Layer normalisation with a learned scale and shift, as :class:`torch.nn.LayerNorm`.

    Parameters
    ----------
    d_model : int
        Size of the last axis, the one normalised over.
    eps : float, default 1e-5
        Added to the variance, at least 0 (as in :func:`layer_norm`).
    fast : bool, default False
        Compute with :func:`torch.nn.functional.layer_norm` (one fused kernel, and kept in
        float32 under autocast) instead of :func:`layer_norm` written in tensor operations.
        Same numbers; tests check that the two agree. Can be switched later by setting the
        attribute ``fast``.

    Attributes
    ----------
    weight : nn.Parameter, shape (d_model,)
        ``gamma``, initialised to ones.
    bias : nn.Parameter, shape (d_model,)
        ``beta``, initialised to zeros.

    The names match torch's, so ``our_ln.load_state_dict(torch_ln.state_dict())`` works.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, *, fast: bool = False):
        super().__init__()
        d_model, eps = positive_int("d_model", d_model), _check_eps(eps)
        self.d_model, self.eps, self.fast = d_model, eps, boolean("fast", fast)
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape (..., d_model) over its last axis; same shape out."""
        _check_width(x, self.d_model)
        module_dtype("x", floating("x", x), self)
        if self.fast:
            return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}" + (", fast=True" if self.fast else "")


class Residual(nn.Module):
    """Wrap a sub-layer with a residual connection and a LayerNorm, before or after the sum.

    - ``norm_first=False``, **post-LN**, the paper (section 5.4):
      ``out = LayerNorm(x + Dropout(sublayer(x)))``
    - ``norm_first=True``, **pre-LN**, GPT-2 and most modern code:
      ``out = x + Dropout(sublayer(LayerNorm(x)))``

    Two switches take a part away, for ablations: ``residual=False`` drops the ``x +``
    (``out = LayerNorm(Dropout(sublayer(x)))`` post-LN), ``layer_norm=False`` drops the
    LayerNorm and its parameters (then ``norm_first`` changes nothing).

    Only ``x``, the residual stream, is normalised: extra arguments (a mask, the encoder's
    memory for cross-attention) are passed to the sub-layer unchanged.

    Parameters
    ----------
    d_model : int
        Width of ``x``'s last axis (the LayerNorm's size).
    sublayer : callable
        ``sublayer(x, *args, **kwargs)`` returning a tensor shaped like ``x``, or a tuple
        whose first element is one (e.g. attention's ``(out, weights)``). Pass an
        ``nn.Module`` so that its parameters belong to this module.
    norm_first : bool
        True for pre-LN, False for post-LN (the paper).
    dropout : float, default 0.0
        Dropout on the sub-layer's output before it is added to ``x`` (section 5.4).
    eps : float, default 1e-5
        The LayerNorm's epsilon.
    fast : bool, default False
        Give the LayerNorm its fused kernel (see :class:`LayerNorm`).
    residual : bool, default True
        Add ``x`` back (the residual connection). False: the sub-layer's output alone.
    layer_norm : bool, default True
        Normalise (before or after, as ``norm_first`` says). False: no LayerNorm at all.

    Attributes
    ----------
    sublayer, norm (:class:`LayerNorm`; ``nn.Identity`` when ``layer_norm=False``), dropout
    (``nn.Dropout``), residual (bool)
    """

    def __init__(
        self,
        d_model: int,
        sublayer: Callable[..., Tensor | tuple],
        norm_first: bool,
        dropout: float = 0.0,
        eps: float = 1e-5,
        *,
        fast: bool = False,
        residual: bool = True,
        layer_norm: bool = True,
    ):
        super().__init__()
        if not callable(sublayer):
            raise fail("sublayer", sublayer, "a callable (an nn.Module)")
        norm_first = boolean("norm_first", norm_first)  # True: pre-LN, False: post-LN
        dropout = probability("dropout", dropout)
        self.norm_first = norm_first
        self.residual = boolean("residual", residual)
        self.d_model = positive_int("d_model", d_model)
        self.sublayer = sublayer
        # layer_norm=False: an identity in the norm's place (no parameters), so forward
        # reads the same with or without it.
        self.norm = LayerNorm(d_model, eps, fast=fast) if boolean("layer_norm", layer_norm) else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor | tuple:
        """Run the sub-layer on ``x`` with its residual connection and LayerNorm.

        Parameters
        ----------
        x : Tensor, shape (..., d_model)
            The residual stream, e.g. ``(B, L, d_model)``.
        *args, **kwargs
            Passed on to the sub-layer, e.g. a mask.

        Returns
        -------
        Tensor, shape of ``x``, or a tuple
            What the sub-layer returns, with its output replaced by the residual output: a
            tensor for a sub-layer that returns a tensor, ``(out, *rest)`` for one that
            returns a tuple (attention's weights come back as they were).
        """
        _check_width(x, self.d_model)
        inner = self.norm(x) if self.norm_first else x
        result = self.sublayer(inner, *args, **kwargs)
        out, rest = result, None
        if isinstance(result, tuple):  # e.g. attention's (out, weights)
            out, rest = result[0], tuple(result[1:])
        name, shape = "the sublayer's output", tuple(x.shape)
        tensor(name, out, shape=f"{shape}, x's shape")
        if out.shape != x.shape:
            raise shape_error(name, out, f"x's shape {shape}")
        out = self.dropout(out)
        if self.residual:  # residual=False: the ablation without it
            out = x + out
        if not self.norm_first:  # post-LN: normalise after the sum
            out = self.norm(out)  # (pre-LN never normalises the stream)
        return out if rest is None else (out, *rest)

    def extra_repr(self) -> str:
        text = f"norm_first={self.norm_first} ({'pre-LN' if self.norm_first else 'post-LN, the paper'})"
        off = [name for name, on in (("residual", self.residual), ("layer_norm", isinstance(self.norm, LayerNorm)))
               if not on]
        return text + "".join(f", {name}=False" for name in off)

"""Input checks shared by every course_lib module, with one message style.

Every failed check raises ``ValueError`` worded ``"<name>=<what it got>; expected <what it
expects>"``, e.g. ``num_heads=True; expected a positive int``. Each function returns the
value it accepted, normalised (a numpy integer or a 0-d integer tensor comes back as a
Python ``int``), so a caller writes ``d_model = positive_int("d_model", d_model)``.

Sizes: ``True`` is an ``int`` in Python but never a size, so every integer check refuses
``bool``. Anything ``operator.index`` accepts (``int``, ``numpy.int64``, a 0-d integer
tensor) is an integer.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable

from torch import Tensor

__all__: list[str] = []  # private: imported by name inside course_lib only


def _shown(value: object) -> str:
    """The value as a message shows it: repr, shortened for long sequences and tensors."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(name: str, value: object, expected: str) -> ValueError:
    """Return (for the caller to raise) the one-style error: ``name=value; expected ...``."""
    return ValueError(f"{name}={_shown(value)}; expected {expected}")


def integer(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None,
            expected: str | None = None) -> int:
    """Return ``value`` as an ``int``, refusing bools, non-integers and values out of range."""
    if not isinstance(value, bool) and not (isinstance(value, Tensor) and value.ndim != 0):
        try:
            result = operator.index(value)  # int, numpy integers, 0-d integer tensors
        except TypeError:
            pass
        else:
            if (minimum is None or result >= minimum) and (maximum is None or result <= maximum):
                return result  # the common case builds no message
            value = result
    if expected is None:
        low = "" if minimum is None else f"{minimum} <= "
        high = "" if maximum is None else f" <= {maximum:,}"
        expected = f"an int with {low}{name}{high}" if low or high else "an int"
    if isinstance(value, bool):  # True is an int to Python, never a size to us
        expected += " (True/False is not a number)"
    raise fail(name, value, expected)


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an ``int >= 1``."""
    return integer(name, value, minimum=1, expected="a positive int")


def non_negative_int(name: str, value: object) -> int:
    """Return ``value`` as an ``int >= 0``."""
    return integer(name, value, minimum=0, expected="a non-negative int")


def real(name: str, value: object, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, expected: str | None = None) -> float:
    """Return ``value`` as a finite ``float`` inside the interval given by ``low`` and ``high``.

    ``low_open`` / ``high_open`` make that end of the interval open. NaN and infinities are
    refused; so are bools and strings (``"0.1"`` is not a number here).
    """
    what = expected or _interval(name, low, high, low_open, high_open)
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise fail(name, value, what)
    try:
        result = float(value)  # int, float, numpy scalars, 0-d tensors
    except (TypeError, ValueError, RuntimeError):
        raise fail(name, value, what) from None
    if not math.isfinite(result):
        raise fail(name, value, what)
    if low is not None and (result < low or (low_open and result == low)):
        raise fail(name, value, what)
    if high is not None and (result > high or (high_open and result == high)):
        raise fail(name, value, what)
    return result


def _interval(name: str, low, high, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    left = "" if low is None else f"{low:g} {'<' if low_open else '<='} "
    right = "" if high is None else f" {'<' if high_open else '<='} {high:g}"
    return f"a number with {left}{name}{right}"


def probability(name: str, value: object) -> float:
    """Return a dropout-style probability ``0 <= p < 1`` as a float."""
    return real(name, value, low=0.0, high=1.0, high_open=True,
                expected=f"a probability 0 <= {name} < 1")


def positive(name: str, value: object) -> float:
    """Return a finite ``float > 0`` (an epsilon, a base, a rate)."""
    return real(name, value, low=0.0, low_open=True, expected="a finite number > 0")


def boolean(name: str, value: object) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise fail(name, value, "True or False")
    return value


def one_of(name: str, value: object, choices: Iterable[object]) -> object:
    """Return ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise fail(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def tensor(name: str, value: object, *, shape: str = "") -> Tensor:
    """Return ``value`` if it is a ``torch.Tensor``; ``shape`` describes the expected shape."""
    if not isinstance(value, Tensor):
        what = f"a torch.Tensor of shape {shape}" if shape else "a torch.Tensor"
        raise ValueError(f"{name} is a {type(value).__name__}; expected {what}")
    return value


def shape_error(name: str, x: Tensor, expected: str, why: str = "") -> ValueError:
    """Return the one-style shape error: ``name has shape (..); expected <expected>``."""
    return ValueError(f"{name} has shape {tuple(x.shape)}; expected {expected}" + (f" ({why})" if why else ""))


def broadcast_shape(*shapes: Iterable[int]) -> tuple[int, ...]:
    """The shape ``shapes`` broadcast to (numpy's rules); RuntimeError when they do not broadcast.

    What ``torch.broadcast_shapes`` computes, without its first call importing sympy (half a
    second in every fresh process that checks a mask).
    """
    out: list[int] = []
    for shape in shapes:
        shape = list(shape)
        width = max(len(out), len(shape))
        out, shape = [1] * (width - len(out)) + out, [1] * (width - len(shape)) + shape
        for i, (a, b) in enumerate(zip(out, shape)):
            if a != b and 1 not in (a, b):
                raise RuntimeError(f"shapes do not broadcast: size {a} against {b} at dimension {i}")
            out[i] = b if a == 1 else a
    return tuple(out)


def floating(name: str, x: Tensor) -> Tensor:
    """Return ``x`` if it is a floating-point tensor (attention, norms and layers need one)."""
    if not tensor(name, x).is_floating_point():
        raise ValueError(f"{name} has dtype {x.dtype}; expected a floating-point tensor")
    return x


def same_dtype(first: tuple[str, Tensor], *others: tuple[str, Tensor | None]) -> None:
    """Raise unless every given tensor has the dtype of ``first`` (``(name, tensor)`` pairs; None skipped).

    Under ``torch.autocast`` mixed dtypes are legal: autocast casts them inside each op.
    """
    name, x = first
    for other, y in others:
        if y is not None and y.dtype != x.dtype and not _autocast(x):
            raise ValueError(f"{other} has dtype {y.dtype} but {name} has {x.dtype}; expected one dtype")


def module_dtype(name: str, x: Tensor, module) -> Tensor:
    """Return ``x`` if its dtype is that of ``module``'s floating-point parameters (or autocast is on)."""
    for p in module.parameters():
        if p.is_floating_point():
            if x.dtype != p.dtype and not _autocast(x):
                raise ValueError(f"{name} has dtype {x.dtype}; expected {p.dtype}, the dtype of the "
                                 "module's parameters (call .to(dtype) on the module or the input)")
            break
    return x


def _autocast(x: Tensor) -> bool:
    """Whether ``torch.autocast`` is on for ``x``'s device type (then dtypes may differ)."""
    import torch  # local: this module otherwise needs only the Tensor type

    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # torch < 2.4 takes no device type
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def generator(name: str, value: object, *, optional: bool = True) -> object:
    """Return ``value`` if it is a ``torch.Generator`` (or None, when ``optional``)."""
    import torch

    if not (isinstance(value, torch.Generator) or (optional and value is None)):
        raise fail(name, value, "a torch.Generator" + (" or None" if optional else ""))
    return value


def index_tensor(name: str, value: object, *, shape: str = "(B',)") -> Tensor:
    """Return ``value`` if it is a 1-D integer tensor (row indices)."""
    x = tensor(name, value, shape=shape)
    if x.dim() != 1 or x.dtype.is_floating_point or x.dtype.is_complex or str(x.dtype) == "torch.bool":
        raise fail(name, x, f"a 1-D integer tensor of row indices, shape {shape}")
    return x

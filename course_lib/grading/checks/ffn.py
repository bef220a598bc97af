"""Checks for chapter 6's exercises: gelu, PositionwiseFFN and its numpy twin.

Each known wrong version (no activation, the activation after the second linear map as
well or instead, ReLU where GELU was asked for, the tanh approximation of GELU, SiLU) is
listed as a ``mistake`` so that the hint names it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from course_lib import numpy_ref
from course_lib.ffn import PositionwiseFFN, gelu
from course_lib.grading.registry import CaseFailed, Grader, exercise



# -- gelu --------------------------------------------------------------------------------------


@exercise("ffn.gelu", name="gelu", chapter="06")
def _(candidate, g):
    """gelu(x) = x Φ(x), the exact (erf) form."""
    hint = "GELU(x) = x · Φ(x), where Φ is the standard normal CDF, written with torch.erf"
    x = 3 * g.randn(4, 25)
    with g.case("matches the exact GELU on a random (4, 25) input"):
        g.assert_close(candidate(x.clone()), gelu(x), hint=hint, atol=1e-7, mistakes={
            "the tanh approximation of GELU; this exercise asks for the exact erf form":
                F.gelu(x, approximate="tanh"),
            "a ReLU": torch.relu(x),
            "SiLU / swish, x · sigmoid(x)": x * torch.sigmoid(x),
            "the sigmoid approximation x · sigmoid(1.702 x)": x * torch.sigmoid(1.702 * x),
            "Φ(x) alone, without multiplying by x": 0.5 * (1 + torch.erf(x / math.sqrt(2))),
            "erf(x) instead of erf(x / √2)": 0.5 * x * (1 + torch.erf(x)),
        })
    big = torch.tensor([-40.0, -8.0, 0.0, 8.0, 40.0], dtype=torch.float64)
    with g.case("large inputs: GELU(-40) = 0 and GELU(40) = 40, no NaN or overflow"):
        g.assert_close(candidate(big.clone()), gelu(big), hint=hint, atol=1e-7)
    with g.case("float32 in, float32 out, shape kept (float64 in, float64 out: the other cases)"):
        got = candidate(x.float().reshape(2, 2, 25))
        g.assert_close(got, gelu(x.float().reshape(2, 2, 25)), hint=hint, rtol=1e-4, atol=1e-5)


# -- PositionwiseFFN ---------------------------------------------------------------------------


def _build(candidate, g: Grader, d_model: int, d_ff: int, **kwargs):
    """The candidate module in float64, eval mode, with the reference's weights copied in by name."""
    module = candidate(d_model, d_ff, **kwargs)
    for name, shape in (("linear1", (d_ff, d_model)), ("linear2", (d_model, d_ff))):
        layer = getattr(module, name, None)
        g.expect(layer is not None and hasattr(layer, "weight") and hasattr(layer, "bias"),
                 f"the module needs an nn.Linear attribute `{name}` (the names torch's TransformerEncoderLayer uses)")
        g.expect(tuple(layer.weight.shape) == shape,
                 f"{name}.weight has shape {tuple(layer.weight.shape)}; expected {shape} "
                 f"({'d_model → d_ff' if name == 'linear1' else 'd_ff → d_model'}, as nn.Linear stores it)")
    ref = PositionwiseFFN(d_model, d_ff, activation=kwargs.get("activation", "relu")).double().eval()
    module = module.double().eval()
    with torch.no_grad():
        for name in ("linear1", "linear2"):
            layer = getattr(ref, name)
            layer.weight.copy_(g.randn(*layer.weight.shape) / math.sqrt(layer.in_features))
            layer.bias.copy_(0.5 * g.randn(*layer.bias.shape))
            getattr(module, name).weight.copy_(getattr(ref, name).weight)
            getattr(module, name).bias.copy_(getattr(ref, name).bias)
    return module, ref


def _ffn_mistakes(ref: PositionwiseFFN, x: torch.Tensor) -> dict[str, torch.Tensor]:
    l1, l2 = ref.linear1, ref.linear2
    act = torch.relu if ref.activation == "relu" else gelu
    with torch.no_grad():
        mistakes = {
            "the activation is missing: two linear maps in a row are just one linear map": l2(l1(x)),
            "the activation is applied after the second linear map (the output must stay unbounded)": act(l2(l1(x))),
            "the activation is applied after both linear maps": act(l2(act(l1(x)))),
            "b1 added after the activation; the activation acts on x W1 + b1, bias included":
                l2(act(x @ l1.weight.T) + l1.bias),
        }
        if ref.activation == "gelu":
            mistakes["a ReLU where GELU was asked for: read the `activation` argument"] = l2(torch.relu(l1(x)))
            mistakes["the tanh approximation of GELU; use the exact erf form"] = l2(F.gelu(l1(x), approximate="tanh"))
    return mistakes


def _expect_hidden_dropout(g: Grader, candidate) -> None:
    """Dropout on the hidden units, not on the input or the output, seen through chosen weights.

    With W1 = 0 and b1 = 1 every hidden unit is 1; with W2 summing two hidden units into each
    output and b2 = 1, dropout(p=0.5) on the hidden units gives outputs 1, 3 and 5. On the
    output it gives 0 and 6; on the input, or none, always 3.
    """
    d_model, d_ff = 8, 16
    module = candidate(d_model, d_ff, dropout=0.5).double()
    with torch.no_grad():
        module.linear1.weight.zero_(), module.linear1.bias.fill_(1.0)
        module.linear2.weight.copy_(torch.eye(d_model, dtype=torch.float64).repeat_interleave(2, dim=1))
        module.linear2.bias.fill_(1.0)
        module.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(g.randint(0, 10_000, 1)))
            out = module(g.randn(64, d_model))
    values = set(out.round(decimals=6).flatten().tolist())
    if values <= {3.0}:
        raise CaseFailed("in training mode the hidden units were not dropped (dropout missing, or applied to "
                         "the input): apply nn.Dropout(dropout) to the hidden units, after the activation")
    if values <= {0.0, 6.0}:
        raise CaseFailed("dropout is applied to the output of linear2; it belongs on the hidden units, "
                         "between the activation and linear2")
    g.expect(values <= {1.0, 3.0, 5.0} and {1.0, 3.0} <= values,
             "dropout should zero hidden units (between the activation and linear2) and scale the kept "
             "ones by 1 / (1 - p)")


@exercise("ffn.PositionwiseFFN", name="PositionwiseFFN", chapter="06")
def _(candidate, g):
    """PositionwiseFFN(d_model, d_ff, dropout, activation): linear1 → activation → dropout → linear2."""
    hint = "expand with linear1, apply the activation to each hidden unit, contract with linear2"
    x = g.randn(2, 5, 6)
    with g.case("ReLU: matches max(0, x W1 + b1) W2 + b2 on a (2, 5, 6) batch (weights copied by name)", points=2):
        module, ref = _build(candidate, g, 6, 10)
        with torch.no_grad():
            g.assert_close(module(x.clone()), ref(x), hint=hint, mistakes=_ffn_mistakes(ref, x))
    with g.case('activation="gelu" uses the exact GELU'):
        module, ref = _build(candidate, g, 6, 10, activation="gelu")
        with torch.no_grad():
            g.assert_close(module(x.clone()), ref(x), hint=hint + "; GELU(h) = h · Φ(h)", mistakes=_ffn_mistakes(ref, x))
    with g.case("any leading shape: (6,), (7, 6) and (2, 3, 4, 6) inputs"):
        module, ref = _build(candidate, g, 6, 10)
        with torch.no_grad():
            for shape in ((6,), (7, 6), (2, 3, 4, 6)):
                y = g.randn(*shape)
                g.assert_close(module(y), ref(y), hint="act on the last axis only; every other axis is a position")
    with g.case("dropout=0.5 acts on the hidden units in training mode, and is off in eval mode"):
        module, ref = _build(candidate, g, 6, 64, dropout=0.5)
        with torch.no_grad():
            g.assert_close(module(x), ref(x), hint="in eval mode dropout must do nothing")
        _expect_hidden_dropout(g, candidate)
    with g.case('an unknown activation ("tanh") raises ValueError'):
        g.expect_value_error(lambda: candidate(6, 10, activation="tanh"),
                            "accept only 'relu' and 'gelu', and name `activation` in the message")
    with g.case("an input whose last axis is not d_model raises ValueError"):
        module, _ = _build(candidate, g, 6, 10)
        g.expect_value_error(lambda: module(g.randn(2, 5, 4)), "name `x`, the shape got and (..., d_model) expected")


# -- numpy_ref.positionwise_ffn ----------------------------------------------------------------


def _to_tensor(got) -> torch.Tensor:
    if isinstance(got, torch.Tensor):
        raise CaseFailed("return a numpy array (np.ndarray), not a torch tensor: this is the numpy twin")
    if not isinstance(got, np.ndarray):
        raise CaseFailed(f"return a numpy array (np.ndarray); got {type(got).__name__}")
    return torch.from_numpy(np.asarray(got, dtype=np.float64))


def _np_relu(h: np.ndarray) -> np.ndarray:
    return np.maximum(h, 0.0)


def _np_gelu(h: np.ndarray) -> np.ndarray:
    return gelu(torch.from_numpy(h)).numpy()


@exercise("numpy_ref.positionwise_ffn", name="positionwise_ffn", chapter="06")
def _(candidate, g):
    """positionwise_ffn(x, w1, b1, w2, b2, activation) in numpy: act(x W1 + b1) W2 + b2."""
    hint = "h = x @ w1 + b1, apply the activation, then h @ w2 + b2"
    x, w1, b1, w2, b2 = (t.numpy() for t in (g.randn(3, 4, 5), g.randn(5, 9), g.randn(9), g.randn(9, 5), g.randn(5)))
    for activation in ("relu", "gelu"):
        act = _np_relu if activation == "relu" else _np_gelu
        mistakes = {
            "the activation is missing": (x @ w1 + b1) @ w2 + b2,
            "the activation is applied after the second linear map": act((x @ w1 + b1) @ w2 + b2),
            "the activation is applied after both linear maps": act(act(x @ w1 + b1) @ w2 + b2),
        }
        mistakes["b1 added after the activation; the activation acts on x W1 + b1, bias included"] = \
            (act(x @ w1) + b1) @ w2 + b2
        if activation == "gelu":
            mistakes["a ReLU where GELU was asked for: read the `activation` argument"] = \
                np.maximum(x @ w1 + b1, 0) @ w2 + b2
            mistakes["the tanh approximation of GELU; this exercise asks for the exact erf form"] = \
                F.gelu(torch.from_numpy(x @ w1 + b1), approximate="tanh").numpy() @ w2 + b2
        with g.case(f'activation="{activation}" on a (3, 4, 5) input, d_ff = 9'):
            got = _to_tensor(candidate(x.copy(), w1.copy(), b1.copy(), w2.copy(), b2.copy(), activation=activation))
            expected = numpy_ref.positionwise_ffn(x, w1, b1, w2, b2, activation=activation)
            g.assert_close(got, torch.from_numpy(expected), hint=hint,
                           mistakes={k: torch.from_numpy(v) for k, v in mistakes.items()})
    with g.case("the default activation is ReLU"):
        got = _to_tensor(candidate(x, w1, b1, w2, b2))
        g.assert_close(got, torch.from_numpy(numpy_ref.positionwise_ffn(x, w1, b1, w2, b2)), hint=hint)

"""Chapter 6 variants: gelu, PositionwiseFFN, numpy positionwise_ffn."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import correct, wrong

GE, FF, NF = "ffn.gelu", "ffn.PositionwiseFFN", "numpy_ref.positionwise_ffn"


def ge_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def ge_erfc(x):
    return x * 0.5 * torch.erfc(-x * 0.7071067811865476)


def ge_tanh(x):
    return F.gelu(x, approximate="tanh")


def ge_float32_constant(x):
    return 0.5 * x.float() * (1 + torch.erf(x.float() / math.sqrt(2)))


def ge_float64_constant(x):
    return x * 0.5 * (1 + torch.erf(x / torch.tensor([2.0], dtype=torch.float64).sqrt()))


def ge_no_sqrt2(x):
    return 0.5 * x * (1 + torch.erf(x))


class _FFN(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation={activation!r}; expected 'relu' or 'gelu'")
        self.d_model, self.activation = d_model, activation
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def act(self, h):
        return torch.relu(h) if self.activation == "relu" else F.gelu(h)

    def check(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (..., {self.d_model})")

    def forward(self, x):
        self.check(x)
        return self.linear2(self.dropout(self.act(self.linear1(x))))


class FfnModules(_FFN):
    pass


class FfnFunctional(_FFN):
    def forward(self, x):
        self.check(x)
        h = F.linear(x, self.linear1.weight, self.linear1.bias)
        h = F.relu(h) if self.activation == "relu" else 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        h = F.dropout(h, self.dropout.p, self.training)
        return F.linear(h, self.linear2.weight, self.linear2.bias)


class FfnDropoutOnOutput(_FFN):
    def forward(self, x):
        self.check(x)
        return self.dropout(self.linear2(self.act(self.linear1(x))))


class FfnDropoutOnInput(_FFN):
    def forward(self, x):
        self.check(x)
        return self.linear2(self.act(self.linear1(self.dropout(x))))


class FfnBiasAfterActivation(_FFN):
    def forward(self, x):
        self.check(x)
        h = self.act(x @ self.linear1.weight.T) + self.linear1.bias
        return self.linear2(self.dropout(h))


class FfnTanhGelu(_FFN):
    def act(self, h):
        return torch.relu(h) if self.activation == "relu" else F.gelu(h, approximate="tanh")


class FfnNoShapeCheck(_FFN):
    def check(self, x):
        pass


def _np_act(h, activation):
    if activation == "relu":
        return np.maximum(h, 0)
    return 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))


def nf_matmul(x, w1, b1, w2, b2, activation="relu"):
    return _np_act(x @ w1 + b1, activation) @ w2 + b2


def nf_einsum(x, w1, b1, w2, b2, activation="relu"):
    h = np.einsum("...d,df->...f", x, w1) + b1
    return np.einsum("...f,fd->...d", _np_act(h, activation), w2) + b2


def nf_bias_after(x, w1, b1, w2, b2, activation="relu"):
    return (_np_act(x @ w1, activation) + b1) @ w2 + b2


def nf_tanh(x, w1, b1, w2, b2, activation="relu"):
    h = x @ w1 + b1
    if activation == "gelu":
        h = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    else:
        h = np.maximum(h, 0)
    return h @ w2 + b2


def nf_torch(x, w1, b1, w2, b2, activation="relu"):
    t = [torch.from_numpy(a) for a in (x, w1, b1, w2, b2)]
    h = t[0] @ t[1] + t[2]
    return (torch.relu(h) if activation == "relu" else F.gelu(h)) @ t[3] + t[4]


VARIANTS = [
    correct(GE, "erf", ge_erf),
    correct(GE, "erfc", ge_erfc),
    wrong(GE, "tanh approximation", ge_tanh, "tanh approximation"),
    wrong(GE, "float32 always", ge_float32_constant, "dtype"),
    wrong(GE, "a float64 tensor constant", ge_float64_constant, "dtype|float64"),
    wrong(GE, "erf(x)", ge_no_sqrt2, r"erf\(x\) instead"),
    correct(FF, "nn modules", FfnModules),
    correct(FF, "functional", FfnFunctional),
    wrong(FF, "dropout on the output", FfnDropoutOnOutput, "dropout"),
    wrong(FF, "dropout on the input", FfnDropoutOnInput, "dropout"),
    wrong(FF, "b1 after the activation", FfnBiasAfterActivation, "b1|bias"),
    wrong(FF, "tanh GELU", FfnTanhGelu, "tanh approximation"),
    wrong(FF, "no shape check", FfnNoShapeCheck, "ValueError"),
    correct(NF, "matmul", nf_matmul),
    correct(NF, "einsum", nf_einsum),
    wrong(NF, "b1 after the activation", nf_bias_after, "b1|bias"),
    wrong(NF, "tanh GELU", nf_tanh, "tanh|GELU"),
    wrong(NF, "returns a torch tensor", nf_torch, "numpy array"),
]

"""Held-out learner-style solutions for chapters 5-9 (masks, FFN, norm, positional, embedding).

Written from the exercise notebooks' task texts only.  VARIANTS lists
(exercise_id, "correct" | "wrong", description, candidate).
"""
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# =====================================================================================
# Chapter 5: masks
# =====================================================================================

# ---------------------------------------------------------------- masks.causal_mask
def causal_mask_v1(L):
    return torch.tril(torch.ones(L, L, dtype=torch.bool))


def causal_mask_v2(L):
    i = torch.arange(L).unsqueeze(1)
    j = torch.arange(L).unsqueeze(0)
    return j <= i


def causal_mask_v3(L):
    rows = [[j <= i for j in range(L)] for i in range(L)]
    return torch.tensor(rows, dtype=torch.bool).reshape(L, L)


def causal_mask_w1(L):
    # upper triangle: queries see the future, not the past
    return torch.triu(torch.ones(L, L, dtype=torch.bool))


def causal_mask_w2(L):
    # diagonal excluded: a position cannot see itself
    return torch.tril(torch.ones(L, L, dtype=torch.bool), diagonal=-1)


def causal_mask_w3(L):
    # right pattern but float 0/1, not torch.bool
    return torch.tril(torch.ones(L, L))


def causal_mask_w4(L):
    # "True = masked" convention: marks the future positions instead
    return ~torch.tril(torch.ones(L, L, dtype=torch.bool))


# ---------------------------------------------------------------- masks.padding_mask
def padding_mask_v1(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    if lengths.numel() > 0 and (bool((lengths < 0).any()) or bool((lengths > max_len).any())):
        raise ValueError(f"lengths must lie in [0, {max_len}], got {lengths.tolist()}")
    pos = torch.arange(max_len, device=lengths.device)
    return (pos.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1)


def padding_mask_v2(lengths, max_len):
    if torch.is_tensor(lengths):
        lengths = lengths.tolist()
    rows = []
    for n in lengths:
        n = int(n)
        if n < 0 or n > max_len:
            raise ValueError(f"bad entry {n} in lengths (max_len={max_len})")
        rows.append([j < n for j in range(max_len)])
    return torch.tensor(rows, dtype=torch.bool).reshape(len(rows), 1, max_len)


def padding_mask_v3(lengths, max_len):
    lengths = torch.as_tensor(lengths, dtype=torch.long).reshape(-1)
    if lengths.numel() and (lengths.min().item() < 0 or lengths.max().item() > max_len):
        raise ValueError("every value in lengths must be between 0 and max_len")
    B = lengths.shape[0]
    pos = torch.arange(max_len).expand(B, max_len)
    mask = torch.where(pos < lengths[:, None], torch.tensor(True), torch.tensor(False))
    return mask.view(B, 1, max_len)


def padding_mask_w1(lengths, max_len):
    # off-by-one: <= keeps one padding token visible
    lengths = torch.as_tensor(lengths)
    if bool((lengths < 0).any()) or bool((lengths > max_len).any()):
        raise ValueError("invalid lengths")
    return (torch.arange(max_len)[None, :] <= lengths[:, None]).unsqueeze(1)


def padding_mask_w2(lengths, max_len):
    # singleton on the wrong axis: (B, max_len, 1) hides queries, not keys
    lengths = torch.as_tensor(lengths)
    if bool((lengths < 0).any()) or bool((lengths > max_len).any()):
        raise ValueError("invalid lengths")
    return (torch.arange(max_len)[None, :] < lengths[:, None]).unsqueeze(-1)


def padding_mask_w3(lengths, max_len):
    # only checks the upper bound; negative lengths silently give an all-False row
    lengths = torch.as_tensor(lengths)
    if bool((lengths > max_len).any()):
        raise ValueError("lengths larger than max_len")
    return (torch.arange(max_len)[None, :] < lengths[:, None]).unsqueeze(1)


def padding_mask_w4(lengths, max_len):
    # forgets the query axis: returns (B, max_len)
    lengths = torch.as_tensor(lengths)
    if bool((lengths < 0).any()) or bool((lengths > max_len).any()):
        raise ValueError("invalid lengths")
    return torch.arange(max_len)[None, :] < lengths[:, None]


def padding_mask_w5(lengths, max_len):
    # no validation at all: a length above max_len is silently clipped
    lengths = torch.as_tensor(lengths)
    return (torch.arange(max_len)[None, :] < lengths[:, None]).unsqueeze(1)


# ---------------------------------------------------------------- masks.combine_masks
def combine_masks_v1(*masks):
    ms = [m for m in masks if m is not None]
    if not ms:
        raise ValueError("combine_masks needs at least one mask that is not None")
    out = ms[0].clone().bool()
    for m in ms[1:]:
        out = out & m.bool()
    return out


def combine_masks_v2(*masks):
    ms = [m for m in masks if m is not None]
    if len(ms) == 0:
        raise ValueError("no mask given")
    expanded = torch.broadcast_tensors(*[m.bool() for m in ms])
    return torch.stack(expanded).all(dim=0)


def combine_masks_v3(*masks):
    ms = [m for m in masks if m is not None]
    if not ms:
        raise ValueError("all masks are None")
    return functools.reduce(torch.logical_and, ms, torch.tensor(True))


def combine_masks_w1(*masks):
    # in-place &= modifies the caller's first mask (and fails when it must grow)
    ms = [m for m in masks if m is not None]
    if not ms:
        raise ValueError("no mask")
    out = ms[0]
    for m in ms[1:]:
        out &= m
    return out


def combine_masks_w2(*masks):
    # OR instead of AND
    ms = [m for m in masks if m is not None]
    if not ms:
        raise ValueError("no mask")
    out = ms[0].clone()
    for m in ms[1:]:
        out = out | m
    return out


def combine_masks_w3(*masks):
    # returns None instead of raising when nothing is left
    ms = [m for m in masks if m is not None]
    if not ms:
        return None
    out = ms[0].clone()
    for m in ms[1:]:
        out = out & m
    return out


def combine_masks_w4(*masks):
    # only ever combines the first two masks
    ms = [m for m in masks if m is not None]
    if not ms:
        raise ValueError("no mask")
    if len(ms) == 1:
        return ms[0].clone()
    return ms[0] & ms[1]


def combine_masks_w5(*masks):
    # does not skip None: `mask & None` raises TypeError
    if len(masks) == 0:
        raise ValueError("no mask")
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


# =====================================================================================
# Chapter 6: feed-forward
# =====================================================================================

# ---------------------------------------------------------------- ffn.gelu
def gelu_v1(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_v2(x):
    x64 = x.to(torch.float64)
    y = x64 * 0.5 * (1.0 + torch.erf(x64 * (1.0 / math.sqrt(2.0))))
    return y.to(x.dtype)


def gelu_v3(x):
    # Phi(x) = erfc(-x / sqrt 2) / 2
    return 0.5 * x * torch.erfc(-x / math.sqrt(2.0))


def gelu_v4(x):
    return F.gelu(x)  # default approximate="none" is the exact erf form


def gelu_w1(x):
    # tanh approximation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_w2(x):
    # forgets to divide by sqrt(2) inside erf
    return x * 0.5 * (1.0 + torch.erf(x))


def gelu_w3(x):
    # computes in float64 and forgets to cast back
    x = x.double()
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_w4(x):
    # sigmoid approximation x * sigmoid(1.702 x)
    return x * torch.sigmoid(1.702 * x)


def gelu_w5(x):
    # forgets the 1/2 of the CDF
    return x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_w6(x):
    # returns Phi(x) only, not x * Phi(x)
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


# ---------------------------------------------------------------- ffn.PositionwiseFFN
class PositionwiseFFN_v1(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.d_model = d_model
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError(f"expected last axis {self.d_model}, got {x.shape[-1]}")
        h = self.linear1(x)
        h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        return self.linear2(self.dropout(h))


class PositionwiseFFN_v2(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        acts = {"relu": nn.ReLU, "gelu": nn.GELU}
        if activation not in acts:
            raise ValueError("unknown activation: " + str(activation))
        self.act = acts[activation]()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.p = dropout

    def forward(self, x):
        if x.size(-1) != self.linear1.in_features:
            raise ValueError("wrong input size")
        h = F.linear(x, self.linear1.weight, self.linear1.bias)
        h = self.act(h)
        h = F.dropout(h, p=self.p, training=self.training)
        return F.linear(h, self.linear2.weight, self.linear2.bias)


class PositionwiseFFN_v3(nn.Module):
    # hand-written activations, matmul with the weights directly
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation == "relu":
            self.act = lambda h: h.clamp_min(0.0)
        elif activation == "gelu":
            self.act = lambda h: 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
        else:
            raise ValueError(f"activation {activation!r} not supported")
        self.d_model = d_model
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(p=dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("last dimension of x must be d_model")
        h = self.act(x @ self.linear1.weight.T + self.linear1.bias)
        h = self.drop(h)
        return h @ self.linear2.weight.T + self.linear2.bias


class PositionwiseFFN_w1(nn.Module):
    # dropout on the output instead of the hidden units
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError("bad activation")
        self.d_model = d_model
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("bad input")
        h = self.linear1(x)
        h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        return self.dropout(self.linear2(h))


class PositionwiseFFN_w2(nn.Module):
    # dropout on the input
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError("bad activation")
        self.d_model = d_model
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("bad input")
        h = self.linear1(self.dropout(x))
        h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        return self.linear2(h)


class PositionwiseFFN_w3(nn.Module):
    # unknown activation silently falls back to ReLU
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        self.d_model = d_model
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("bad input")
        return self.linear2(self.dropout(self.act(self.linear1(x))))


class PositionwiseFFN_w4(nn.Module):
    # "gelu" implemented with the tanh approximation
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation == "relu":
            self.act = nn.ReLU()
        elif activation == "gelu":
            self.act = nn.GELU(approximate="tanh")
        else:
            raise ValueError("bad activation")
        self.d_model = d_model
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("bad input")
        return self.linear2(self.dropout(self.act(self.linear1(x))))


class PositionwiseFFN_w5(nn.Module):
    # no last-axis check: nn.Linear raises RuntimeError, not ValueError
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError("bad activation")
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        h = self.linear1(x)
        h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        return self.linear2(self.dropout(h))


class PositionwiseFFN_w6(nn.Module):
    # activation applied after the second linear layer as well
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError("bad activation")
        self.d_model = d_model
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("bad input")
        return self.act(self.linear2(self.dropout(self.act(self.linear1(x)))))


class PositionwiseFFN_w7(nn.Module):
    # F.dropout without training=self.training: still drops in eval mode
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError("bad activation")
        self.d_model = d_model
        self.activation = activation
        self.p = dropout
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("bad input")
        h = self.linear1(x)
        h = F.relu(h) if self.activation == "relu" else F.gelu(h)
        h = F.dropout(h, self.p)
        return self.linear2(h)


# ---------------------------------------------------------------- numpy_ref.positionwise_ffn
def positionwise_ffn_v1(x, w1, b1, w2, b2, activation="relu"):
    h = x @ w1 + b1
    if activation == "relu":
        h = np.maximum(h, 0.0)
    elif activation == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        h = h * 0.5 * (1.0 + erf(h / math.sqrt(2.0)))
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return h @ w2 + b2


def positionwise_ffn_v2(x, w1, b1, w2, b2, activation="relu"):
    h = np.einsum("...d,df->...f", x, w1) + b1
    if activation == "relu":
        h = np.where(h > 0, h, 0.0)
    elif activation == "gelu":
        flat = [0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in h.ravel().tolist()]
        h = np.array(flat, dtype=np.float64).reshape(h.shape)
    else:
        raise ValueError("activation must be relu or gelu")
    return np.einsum("...f,fd->...d", h, w2) + b2


def positionwise_ffn_v3(x, w1, b1, w2, b2, activation="relu"):
    d_model = x.shape[-1]
    flat = x.reshape(-1, d_model)
    h = np.tensordot(flat, w1, axes=([1], [0])) + b1[None, :]
    if activation == "gelu":
        phi = np.frompyfunc(lambda v: 0.5 * math.erfc(-v / math.sqrt(2.0)), 1, 1)
        h = h * phi(h).astype(np.float64)
    elif activation == "relu":
        h = h * (h > 0)
    else:
        raise ValueError("bad activation")
    out = np.tensordot(h, w2, axes=([1], [0])) + b2[None, :]
    return out.reshape(*x.shape[:-1], w2.shape[1])


def positionwise_ffn_w1(x, w1, b1, w2, b2, activation="relu"):
    # torch-Linear habit: multiplies by the transposed matrices
    h = x @ w1.T + b1
    if activation == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        h = h * 0.5 * (1.0 + erf(h / math.sqrt(2.0)))
    else:
        h = np.maximum(h, 0.0)
    return h @ w2.T + b2


def positionwise_ffn_w2(x, w1, b1, w2, b2, activation="relu"):
    # tanh-approximate GELU
    h = x @ w1 + b1
    if activation == "gelu":
        h = 0.5 * h * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h ** 3)))
    elif activation == "relu":
        h = np.maximum(h, 0.0)
    else:
        raise ValueError("bad activation")
    return h @ w2 + b2


def positionwise_ffn_w3(x, w1, b1, w2, b2, activation="relu"):
    # ignores the activation argument: always ReLU
    h = np.maximum(x @ w1 + b1, 0.0)
    return h @ w2 + b2


def positionwise_ffn_w4(x, w1, b1, w2, b2, activation="relu"):
    # does the work in torch and hands back a torch tensor
    xt, w1t, b1t, w2t, b2t = (torch.as_tensor(a) for a in (x, w1, b1, w2, b2))
    h = xt @ w1t + b1t
    h = torch.relu(h) if activation == "relu" else h * 0.5 * (1 + torch.erf(h / math.sqrt(2.0)))
    return h @ w2t + b2t


def positionwise_ffn_w5(x, w1, b1, w2, b2, activation="relu"):
    # forgets the output bias b2
    h = x @ w1 + b1
    if activation == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        h = h * 0.5 * (1.0 + erf(h / math.sqrt(2.0)))
    elif activation == "relu":
        h = np.maximum(h, 0.0)
    else:
        raise ValueError("bad activation")
    return h @ w2


def positionwise_ffn_w6(x, w1, b1, w2, b2, activation="relu"):
    # adds b1 after the activation instead of before
    h = x @ w1
    if activation == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        h = h * 0.5 * (1.0 + erf(h / math.sqrt(2.0)))
    elif activation == "relu":
        h = np.maximum(h, 0.0)
    else:
        raise ValueError("bad activation")
    return (h + b1) @ w2 + b2


# =====================================================================================
# Chapter 7: residual and LayerNorm
# =====================================================================================

# ---------------------------------------------------------------- norm.layer_norm
def layer_norm_v1(x, gamma, beta, eps=1e-5):
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def layer_norm_v2(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    mu = x.sum(dim=-1, keepdim=True) / D
    centred = x - mu
    var = (centred * centred).sum(dim=-1, keepdim=True) / D
    return centred * torch.rsqrt(var + eps) * gamma + beta


def layer_norm_v3(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)


def layer_norm_v4(x, gamma, beta, eps=1e-5):
    var, mu = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    xhat = (x - mu) / (var + eps).sqrt()
    return torch.addcmul(beta, gamma, xhat)


def layer_norm_w1(x, gamma, beta, eps=1e-5):
    # torch.var's default: unbiased (divides by D - 1)
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def layer_norm_w2(x, gamma, beta, eps=1e-5):
    # eps outside the square root
    mu = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return gamma * (x - mu) / (std + eps) + beta


def layer_norm_w3(x, gamma, beta, eps=1e-5):
    # statistics over the batch axis instead of the feature axis
    mu = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, keepdim=True, unbiased=False)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def layer_norm_w4(x, gamma, beta, eps=1e-5):
    # hard-codes eps = 1e-5, ignoring the argument
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return gamma * (x - mu) / torch.sqrt(var + 1e-5) + beta


def layer_norm_w5(x, gamma, beta, eps=1e-5):
    # centres x in place (mutates the caller's tensor)
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    x -= mu
    return gamma * x / torch.sqrt(var + eps) + beta


def layer_norm_w6(x, gamma, beta, eps=1e-5):
    # gamma and beta swapped
    mu = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return beta * (x - mu) / torch.sqrt(var + eps) + gamma


# ---------------------------------------------------------------- norm.LayerNorm
class LayerNorm_v1(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return layer_norm_v1(x, self.weight, self.bias, self.eps)


class LayerNorm_v2(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.normalized_shape = (d_model,)
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(d_model))
        self.bias = nn.Parameter(torch.empty(d_model))
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class LayerNorm_v3(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.register_parameter("weight", nn.Parameter(torch.ones(d_model)))
        self.register_parameter("bias", nn.Parameter(torch.zeros(d_model)))
        self.eps = float(eps)

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


class LayerNorm_w1(nn.Module):
    # parameters named gamma/beta: cannot load an nn.LayerNorm state dict
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(d_model))
        self.beta = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return layer_norm_v1(x, self.gamma, self.beta, self.eps)


class LayerNorm_w2(nn.Module):
    # stores eps but uses 1e-5 anyway
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return layer_norm_v1(x, self.weight, self.bias)


class LayerNorm_w3(nn.Module):
    # plain tensors, not nn.Parameters: no gradients, absent from state_dict
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = torch.ones(d_model)
        self.bias = torch.zeros(d_model)

    def forward(self, x):
        return layer_norm_v1(x, self.weight, self.bias, self.eps)


class LayerNorm_w4(nn.Module):
    # unbiased variance
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True)
        return self.weight * (x - mu) / torch.sqrt(var + self.eps) + self.bias


class LayerNorm_w5(nn.Module):
    # initial values swapped: weight zeros, bias ones
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(d_model))
        self.bias = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return layer_norm_v1(x, self.weight, self.bias, self.eps)


class LayerNorm_w6(nn.Module):
    # eps kept as a buffer: extra state-dict key, strict loading of nn.LayerNorm fails
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.register_buffer("eps", torch.tensor(eps))

    def forward(self, x):
        return layer_norm_v1(x, self.weight, self.bias, self.eps)


# ---------------------------------------------------------------- norm.Residual
class Residual_v1(nn.Module):
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        inp = self.norm(x) if self.norm_first else x
        out = self.sublayer(inp, *args, **kwargs)
        weights = None
        is_tuple = isinstance(out, tuple)
        if is_tuple:
            out, weights = out
        if self.norm_first:
            y = x + self.dropout(out)
        else:
            y = self.norm(x + self.dropout(out))
        return (y, weights) if is_tuple else y


class Residual_v2(nn.Module):
    # other attribute names, the course's own LayerNorm, functional dropout
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sub = sublayer
        self.ln = LayerNorm_v1(d_model)
        self.p = dropout
        self.pre = bool(norm_first)

    def forward(self, x, *args, **kwargs):
        if self.pre:
            res = self.sub(self.ln(x), *args, **kwargs)
        else:
            res = self.sub(x, *args, **kwargs)
        extra = ()
        if isinstance(res, tuple):
            res, w = res
            extra = (w,)
        res = F.dropout(res, p=self.p, training=self.training)
        y = x + res if self.pre else self.ln(x + res)
        return (y, *extra) if extra else y


class Residual_v3(nn.Module):
    # two separate code paths
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.layer = sublayer
        self.layer_norm = nn.LayerNorm(d_model, eps=1e-5)
        self.drop = nn.Dropout(p=dropout)
        self.norm_first = norm_first

    def _call(self, h, args, kwargs):
        r = self.layer(h, *args, **kwargs)
        if isinstance(r, tuple):
            return r[0], r[1], True
        return r, None, False

    def forward(self, x, *args, **kwargs):
        if self.norm_first:
            out, w, tup = self._call(self.layer_norm(x), args, kwargs)
            y = self.drop(out) + x
        else:
            out, w, tup = self._call(x, args, kwargs)
            y = self.layer_norm(self.drop(out) + x)
        if tup:
            return y, w
        return y


class Residual_w1(nn.Module):
    # pre-LN adds back the normalised x instead of the original x
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        if self.norm_first:
            x = self.norm(x)
        out = self.sublayer(x, *args, **kwargs)
        weights = None
        is_tuple = isinstance(out, tuple)
        if is_tuple:
            out, weights = out
        y = x + self.dropout(out)
        if not self.norm_first:
            y = self.norm(y)
        return (y, weights) if is_tuple else y


class Residual_w2(nn.Module):
    # norm_first meaning swapped
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        pre = not self.norm_first
        out = self.sublayer(self.norm(x) if pre else x, *args, **kwargs)
        is_tuple = isinstance(out, tuple)
        weights = None
        if is_tuple:
            out, weights = out
        y = x + self.dropout(out) if pre else self.norm(x + self.dropout(out))
        return (y, weights) if is_tuple else y


class Residual_w3(nn.Module):
    # extra arguments not passed on to the sub-layer
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        out = self.sublayer(self.norm(x) if self.norm_first else x)
        is_tuple = isinstance(out, tuple)
        weights = None
        if is_tuple:
            out, weights = out
        y = x + self.dropout(out) if self.norm_first else self.norm(x + self.dropout(out))
        return (y, weights) if is_tuple else y


class Residual_w4(nn.Module):
    # dropout on the residual sum instead of on the sub-layer's output
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        out = self.sublayer(self.norm(x) if self.norm_first else x, *args, **kwargs)
        is_tuple = isinstance(out, tuple)
        weights = None
        if is_tuple:
            out, weights = out
        y = self.dropout(x + out)
        if not self.norm_first:
            y = self.norm(y)
        return (y, weights) if is_tuple else y


class Residual_w5(nn.Module):
    # functional layer norm without parameters: the norm has no parameters in the module
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.d_model = d_model
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def _norm(self, h):
        return F.layer_norm(h, (self.d_model,))

    def forward(self, x, *args, **kwargs):
        out = self.sublayer(self._norm(x) if self.norm_first else x, *args, **kwargs)
        is_tuple = isinstance(out, tuple)
        weights = None
        if is_tuple:
            out, weights = out
        y = x + self.dropout(out) if self.norm_first else self._norm(x + self.dropout(out))
        return (y, weights) if is_tuple else y


class Residual_w6(nn.Module):
    # drops the attention weights of a tuple-returning sub-layer
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        out = self.sublayer(self.norm(x) if self.norm_first else x, *args, **kwargs)
        if isinstance(out, tuple):
            out = out[0]
        return x + self.dropout(out) if self.norm_first else self.norm(x + self.dropout(out))


class Residual_w7(nn.Module):
    # post-LN normalises the sub-layer output before adding, not the sum
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer = sublayer
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x, *args, **kwargs):
        out = self.sublayer(self.norm(x) if self.norm_first else x, *args, **kwargs)
        is_tuple = isinstance(out, tuple)
        weights = None
        if is_tuple:
            out, weights = out
        if self.norm_first:
            y = x + self.dropout(out)
        else:
            y = x + self.norm(self.dropout(out))
        return (y, weights) if is_tuple else y


# =====================================================================================
# Chapter 8: positional encoding
# =====================================================================================

# ---------------------------------------------------------------- positional.sinusoidal_encoding
def sinusoidal_encoding_v1(max_len, d_model):
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even, got {d_model}")
    pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def sinusoidal_encoding_v2(max_len, d_model):
    if d_model % 2:
        raise ValueError("d_model has to be even")
    rows = []
    for pos in range(max_len):
        row = []
        for i in range(d_model // 2):
            angle = pos / 10000.0 ** (2 * i / d_model)
            row.append(math.sin(angle))
            row.append(math.cos(angle))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64).reshape(max_len, d_model)


def sinusoidal_encoding_v3(max_len, d_model):
    if d_model % 2 == 1:
        raise ValueError(f"odd d_model={d_model} is not supported")
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    omega = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -two_i / d_model)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega[None, :]
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(max_len, d_model)


def sinusoidal_encoding_w1(max_len, d_model):
    # exponent uses the column index j for both columns: cos columns get another frequency
    if d_model % 2:
        raise ValueError("d_model must be even")
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    j = torch.arange(d_model, dtype=torch.float64)[None, :]
    angles = pos / 10000.0 ** (j / d_model)
    pe[:, 0::2] = torch.sin(angles[:, 0::2])
    pe[:, 1::2] = torch.cos(angles[:, 1::2])
    return pe


def sinusoidal_encoding_w2(max_len, d_model):
    # concatenated [sin | cos] instead of interleaved
    if d_model % 2:
        raise ValueError("d_model must be even")
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def sinusoidal_encoding_w3(max_len, d_model):
    # cos in even columns, sin in odd columns
    if d_model % 2:
        raise ValueError("d_model must be even")
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.cos(angles)
    pe[:, 1::2] = torch.sin(angles)
    return pe


def sinusoidal_encoding_w4(max_len, d_model):
    # no odd check: odd d_model silently gives a table
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


def sinusoidal_encoding_w5(max_len, d_model):
    # positions 1 .. max_len instead of 0 .. max_len - 1
    if d_model % 2:
        raise ValueError("d_model must be even")
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = torch.arange(1, max_len + 1, dtype=torch.float64)[:, None] * omega
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe


def sinusoidal_encoding_w6(max_len, d_model):
    # exponent i / d_model with the pair index: the factor 2 is missing
    if d_model % 2:
        raise ValueError("d_model must be even")
    i = torch.arange(d_model // 2, dtype=torch.float64)
    omega = 10000.0 ** (-i / d_model)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe


# ---------------------------------------------------------------- positional.PositionalEncoding
class PositionalEncoding_v1(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding_v1(max_len, d_model))

    def forward(self, x):
        L = x.size(1)
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        return self.dropout(x + self.pe[:L])


class PositionalEncoding_v2(nn.Module):
    # table stored as (1, max_len, d_model)
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        table = sinusoidal_encoding_v3(max_len, d_model).float()
        self.register_buffer("pe", table.unsqueeze(0))
        self.drop = nn.Dropout(p=dropout)

    def forward(self, x):
        B, L, _ = x.shape
        if L > self.pe.shape[1]:
            raise ValueError("input longer than max_len")
        return self.drop(x + self.pe[:, :L, :])


class PositionalEncoding_v3(nn.Module):
    # table stored as (max_len, 1, d_model), non-persistent buffer, functional dropout
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        table = sinusoidal_encoding_v3(max_len, d_model).to(torch.float32)
        self.register_buffer("table", table.unsqueeze(1), persistent=False)
        self.p = dropout

    def forward(self, x):
        L = x.shape[1]
        if L > self.table.shape[0]:
            raise ValueError(f"L={L} > max_len={self.table.shape[0]}")
        pe = self.table[:L].transpose(0, 1).to(x.dtype)  # (1, L, d_model)
        return F.dropout(x + pe, p=self.p, training=self.training)


class PositionalEncoding_w1(nn.Module):
    # table as a frozen nn.Parameter instead of a buffer
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.pe = nn.Parameter(sinusoidal_encoding_v1(max_len, d_model), requires_grad=False)

    def forward(self, x):
        L = x.size(1)
        if L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.pe[:L])


class PositionalEncoding_w2(nn.Module):
    # plain attribute: not a buffer, does not move with the module
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.pe = sinusoidal_encoding_v1(max_len, d_model)

    def forward(self, x):
        L = x.size(1)
        if L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.pe[:L].to(x.device))


class PositionalEncoding_w3(nn.Module):
    # dropout on x only, before the table is added
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding_v1(max_len, d_model))

    def forward(self, x):
        L = x.size(1)
        if L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x) + self.pe[:L]


class PositionalEncoding_w4(nn.Module):
    # no length check: a too-long input fails with a RuntimeError from broadcasting
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding_v1(max_len, d_model))

    def forward(self, x):
        return self.dropout(x + self.pe[: x.size(1)])


class PositionalEncoding_w5(nn.Module):
    # sequence-first habit (PyTorch tutorial): indexes the table with the batch size
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding_v1(max_len, d_model).unsqueeze(1))

    def forward(self, x):
        if x.size(0) > self.pe.size(0):
            raise ValueError("too long")
        return self.dropout(x + self.pe[: x.size(0)])


class PositionalEncoding_w6(nn.Module):
    # scales x by sqrt(d_model) before adding (that belongs to the embeddings)
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding_v1(max_len, d_model))

    def forward(self, x):
        L = x.size(1)
        if L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x * math.sqrt(self.d_model) + self.pe[:L])


class PositionalEncoding_w7(nn.Module):
    # off-by-one: rejects L == max_len
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding_v1(max_len, d_model))

    def forward(self, x):
        L = x.size(1)
        if L >= self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.pe[:L])


# ---------------------------------------------------------------- positional.relative_rotation
def relative_rotation_v1(k, d_model):
    if d_model % 2:
        raise ValueError("d_model must be even")
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        b = k * 10000.0 ** (-2 * i / d_model)
        c, s = math.cos(b), math.sin(b)
        M[2 * i, 2 * i] = c
        M[2 * i, 2 * i + 1] = s
        M[2 * i + 1, 2 * i] = -s
        M[2 * i + 1, 2 * i + 1] = c
    return M


def relative_rotation_v2(k, d_model):
    blocks = []
    for i in range(d_model // 2):
        b = k * math.pow(10000.0, -2.0 * i / d_model)
        blocks.append(torch.tensor([[math.cos(b), math.sin(b)],
                                    [-math.sin(b), math.cos(b)]], dtype=torch.float64))
    return torch.block_diag(*blocks)


def relative_rotation_v3(k, d_model):
    idx = torch.arange(0, d_model, 2)
    omega = 10000.0 ** (-idx.to(torch.float64) / d_model)
    b = k * omega
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    M[idx, idx] = torch.cos(b)
    M[idx, idx + 1] = torch.sin(b)
    M[idx + 1, idx] = -torch.sin(b)
    M[idx + 1, idx + 1] = torch.cos(b)
    return M


def relative_rotation_v4(k, d_model):
    # M_k = (M_1)^k; matrix_power handles negative k through the inverse
    M1 = relative_rotation_v1(1, d_model)
    return torch.linalg.matrix_power(M1, int(k))


def relative_rotation_w1(k, d_model):
    # textbook rotation [[c, -s], [s, c]]: moves to pos - k
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        b = k * 10000.0 ** (-2 * i / d_model)
        c, s = math.cos(b), math.sin(b)
        M[2 * i, 2 * i] = c
        M[2 * i, 2 * i + 1] = -s
        M[2 * i + 1, 2 * i] = s
        M[2 * i + 1, 2 * i + 1] = c
    return M


def relative_rotation_w2(k, d_model):
    # right matrix, float32
    return relative_rotation_v3(k, d_model).float()


def relative_rotation_w3(k, d_model):
    # frequency 10000^(-i/d) with the pair index (factor 2 missing)
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        b = k * 10000.0 ** (-i / d_model)
        c, s = math.cos(b), math.sin(b)
        M[2 * i, 2 * i] = c
        M[2 * i, 2 * i + 1] = s
        M[2 * i + 1, 2 * i] = -s
        M[2 * i + 1, 2 * i + 1] = c
    return M


def relative_rotation_w4(k, d_model):
    # repeated product of M_1: range(k) is empty for negative k -> identity
    M1 = relative_rotation_v1(1, d_model)
    M = torch.eye(d_model, dtype=torch.float64)
    for _ in range(k):
        M = M @ M1
    return M


def relative_rotation_w5(k, d_model):
    # uses the column index 2i as "i" in the exponent: 10000^(-4i/d)
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for j in range(0, d_model, 2):
        b = k * 10000.0 ** (-2 * j / d_model)
        c, s = math.cos(b), math.sin(b)
        M[j, j] = c
        M[j, j + 1] = s
        M[j + 1, j] = -s
        M[j + 1, j + 1] = c
    return M


# =====================================================================================
# Chapter 9: embeddings and softmax
# =====================================================================================

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


# ---------------------------------------------------------------- embedding.Embeddings
class Embeddings_v1(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() > 0 and (ids.min().item() < 0 or ids.max().item() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size})")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


class Embeddings_v2(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model))
        nn.init.normal_(self.weight, mean=0.0, std=1.0 / math.sqrt(d_model))

    def forward(self, ids):
        if (not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex()
                or ids.dtype == torch.bool):
            raise ValueError(f"ids must hold integers, got {getattr(ids, 'dtype', type(ids))}")
        V, d = self.weight.shape
        if bool((ids < 0).any()) or bool((ids >= V).any()):
            raise ValueError("some ids are outside the vocabulary")
        return F.embedding(ids.long(), self.weight) * d ** 0.5


class Embeddings_v3(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        std = d_model ** -0.5
        self.weight = nn.Parameter(torch.normal(0.0, std, size=(vocab_size, d_model)))
        self.scale = math.sqrt(d_model)

    def forward(self, ids):
        if not isinstance(ids, torch.Tensor) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids: expected an integer tensor")
        flat = ids.reshape(-1).long()
        bad = (flat < 0) | (flat >= self.weight.shape[0])
        if bool(bad.any()):
            raise ValueError(f"ids out of range: {flat[bad].tolist()[:5]}")
        rows = self.weight.index_select(0, flat)
        return (rows * self.scale).reshape(*ids.shape, self.weight.shape[1])


class Embeddings_w1(nn.Module):
    # forgets the sqrt(d_model) scale
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("ids out of range")
        return self.weight[ids.long()]


class Embeddings_w2(nn.Module):
    # divides by sqrt(d_model) instead of multiplying
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("ids out of range")
        return self.weight[ids.long()] / math.sqrt(self.d_model)


class Embeddings_w3(nn.Module):
    # initialised from N(0, 1): the 1/d_model variance ignored
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model))

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("ids out of range")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


class Embeddings_w4(nn.Module):
    # reads N(0, 1/d) as standard deviation 1/d
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) / d_model)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("ids out of range")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


class Embeddings_w5(nn.Module):
    # no negative check: python-style negative indexing silently wraps around
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() and ids.max() >= self.vocab_size:
            raise ValueError("ids out of range")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


class Embeddings_w6(nn.Module):
    # no dtype check: float ids are silently truncated by .long()
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        ids = torch.as_tensor(ids)
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("ids out of range")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


class Embeddings_w7(nn.Module):
    # off-by-one bound: id == vocab_size slips through (IndexError, not ValueError)
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("ids must be an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() > self.vocab_size):
            raise ValueError("ids out of range")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


class Embeddings_w8(nn.Module):
    # error messages that do not name ids
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)

    def forward(self, ids):
        if not torch.is_tensor(ids) or ids.dtype not in _INT_DTYPES:
            raise ValueError("expected an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("token index out of vocabulary range")
        return self.weight[ids.long()] * math.sqrt(self.d_model)


# ---------------------------------------------------------------- embedding.OutputProjection
class OutputProjection_v1(nn.Module):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = tied_to.weight
        if bias:
            self.bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.register_parameter("bias", None)

    def forward(self, h):
        logits = h @ self.weight.T
        if self.bias is not None:
            logits = logits + self.bias
        return logits


class OutputProjection_v2(nn.Module):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is not None:
            self.weight = tied_to.weight
        else:
            w = torch.empty(vocab_size, d_model)
            nn.init.xavier_uniform_(w)
            self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class OutputProjection_v3(nn.Module):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        self.use_bias = bias
        self.weight = (tied_to.weight if tied_to is not None
                       else nn.Parameter(torch.normal(0.0, d_model ** -0.5, size=(vocab_size, d_model))))
        if bias:
            self.register_parameter("bias", nn.Parameter(torch.zeros(vocab_size)))

    def forward(self, h):
        out = torch.einsum("...d,vd->...v", h, self.weight)
        if self.use_bias:
            out = out + self.bias
        return out


class OutputProjection_w1(nn.Module):
    # clones the embedding matrix: the tie is broken
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = nn.Parameter(tied_to.weight.detach().clone())
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class OutputProjection_w2(nn.Module):
    # wraps the embedding's Parameter in a new Parameter: same storage, different Parameter
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = nn.Parameter(tied_to.weight.data)
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class OutputProjection_w3(nn.Module):
    # applies softmax: returns probabilities, not logits
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = tied_to.weight
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        return F.softmax(F.linear(h, self.weight, self.bias), dim=-1)


class OutputProjection_w4(nn.Module):
    # bias initialised randomly instead of zeros
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = tied_to.weight
        self.bias = nn.Parameter(torch.randn(vocab_size) * 0.02) if bias else None

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class OutputProjection_w5(nn.Module):
    # h @ weight without the transpose
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = tied_to.weight
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        out = h @ self.weight
        return out + self.bias if self.bias is not None else out


class OutputProjection_w6(nn.Module):
    # bias only created in the untied case
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        self.bias = None
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
            if bias:
                self.bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.weight = tied_to.weight

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class OutputProjection_w7(nn.Module):
    # keeps the tied matrix's .data: a plain tensor, no gradient reaches the embeddings
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model ** -0.5)
        else:
            self.weight = tied_to.weight.data
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


# ---------------------------------------------------------------- embedding.parameter_count
def parameter_count_v1(*modules):
    seen = set()
    total = 0
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total


def parameter_count_v2(*modules):
    sizes = {id(p): p.numel() for m in modules for p in m.parameters()}
    return sum(sizes.values())


def parameter_count_v3(*modules):
    # a ModuleList's parameters() deduplicates across all its children
    return sum(p.numel() for p in nn.ModuleList(modules).parameters())


def parameter_count_w1(*modules):
    # sums per module: a tied matrix counted twice
    return sum(sum(p.numel() for p in m.parameters()) for m in modules)


def parameter_count_w2(*modules):
    # counts buffers too (state_dict)
    seen, total = set(), 0
    for m in modules:
        for t in m.state_dict(keep_vars=True).values():
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel()
    return total


def parameter_count_w3(*modules):
    # counts parameter tensors, not numbers
    seen = set()
    for m in modules:
        for p in m.parameters():
            seen.add(id(p))
    return len(seen)


def parameter_count_w4(*modules):
    # deduplicates by shape: two different matrices of the same shape counted once
    shapes = {}
    for m in modules:
        for p in m.parameters():
            shapes[tuple(p.shape)] = p.numel()
    return sum(shapes.values())


# =====================================================================================
VARIANTS = [
    # ---- masks.causal_mask
    ("masks.causal_mask", "correct", "torch.tril of a bool ones matrix", causal_mask_v1),
    ("masks.causal_mask", "correct", "broadcast comparison j <= i of two aranges", causal_mask_v2),
    ("masks.causal_mask", "correct", "python double loop into a bool tensor", causal_mask_v3),
    ("masks.causal_mask", "wrong", "triu: sees the future instead of the past", causal_mask_w1),
    ("masks.causal_mask", "wrong", "diagonal=-1: a position cannot see itself", causal_mask_w2),
    ("masks.causal_mask", "wrong", "float 0/1 tensor, not torch.bool", causal_mask_w3),
    ("masks.causal_mask", "wrong", "True-means-masked polarity (~tril)", causal_mask_w4),
    # ---- masks.padding_mask
    ("masks.padding_mask", "correct", "as_tensor, arange < lengths[:, None], unsqueeze(1)", padding_mask_v1),
    ("masks.padding_mask", "correct", "python loops over lengths, reshape to (B, 1, max_len)", padding_mask_v2),
    ("masks.padding_mask", "correct", "expand + torch.where, view", padding_mask_v3),
    ("masks.padding_mask", "wrong", "<= instead of <: one padding token visible", padding_mask_w1),
    ("masks.padding_mask", "wrong", "singleton on the last axis: (B, max_len, 1)", padding_mask_w2),
    ("masks.padding_mask", "wrong", "negative lengths not rejected", padding_mask_w3),
    ("masks.padding_mask", "wrong", "query axis forgotten: (B, max_len)", padding_mask_w4),
    ("masks.padding_mask", "wrong", "no validation at all", padding_mask_w5),
    # ---- masks.combine_masks
    ("masks.combine_masks", "correct", "clone the first, & the rest", combine_masks_v1),
    ("masks.combine_masks", "correct", "broadcast_tensors + stack + all(0)", combine_masks_v2),
    ("masks.combine_masks", "correct", "functools.reduce(logical_and) from a True scalar", combine_masks_v3),
    ("masks.combine_masks", "wrong", "in-place &= mutates the first input", combine_masks_w1),
    ("masks.combine_masks", "wrong", "logical OR instead of AND", combine_masks_w2),
    ("masks.combine_masks", "wrong", "returns None instead of raising ValueError", combine_masks_w3),
    ("masks.combine_masks", "wrong", "only the first two masks combined", combine_masks_w4),
    ("masks.combine_masks", "wrong", "None not skipped (TypeError)", combine_masks_w5),
    # ---- ffn.gelu
    ("ffn.gelu", "correct", "x * 0.5 * (1 + erf(x / sqrt 2))", gelu_v1),
    ("ffn.gelu", "correct", "float64 internals, cast back to the input dtype", gelu_v2),
    ("ffn.gelu", "correct", "erfc form: 0.5 x erfc(-x / sqrt 2)", gelu_v3),
    ("ffn.gelu", "correct", "F.gelu with the default exact form", gelu_v4),
    ("ffn.gelu", "wrong", "tanh approximation", gelu_w1),
    ("ffn.gelu", "wrong", "erf(x) without the 1/sqrt 2", gelu_w2),
    ("ffn.gelu", "wrong", "float32 in, float64 out", gelu_w3),
    ("ffn.gelu", "wrong", "sigmoid(1.702 x) approximation", gelu_w4),
    ("ffn.gelu", "wrong", "missing factor 1/2", gelu_w5),
    ("ffn.gelu", "wrong", "returns Phi(x), not x Phi(x)", gelu_w6),
    # ---- ffn.PositionwiseFFN
    ("ffn.PositionwiseFFN", "correct", "nn.Linear + nn.Dropout + F.relu/F.gelu", PositionwiseFFN_v1),
    ("ffn.PositionwiseFFN", "correct", "F.linear on linear1/linear2 params, nn.ReLU/nn.GELU, F.dropout(training=)", PositionwiseFFN_v2),
    ("ffn.PositionwiseFFN", "correct", "explicit matmuls, clamp_min ReLU, erf GELU", PositionwiseFFN_v3),
    ("ffn.PositionwiseFFN", "wrong", "dropout on the output", PositionwiseFFN_w1),
    ("ffn.PositionwiseFFN", "wrong", "dropout on the input", PositionwiseFFN_w2),
    ("ffn.PositionwiseFFN", "wrong", "unknown activation falls back to ReLU", PositionwiseFFN_w3),
    ("ffn.PositionwiseFFN", "wrong", "gelu is the tanh approximation", PositionwiseFFN_w4),
    ("ffn.PositionwiseFFN", "wrong", "no ValueError for a wrong last axis", PositionwiseFFN_w5),
    ("ffn.PositionwiseFFN", "wrong", "activation also after linear2", PositionwiseFFN_w6),
    ("ffn.PositionwiseFFN", "wrong", "F.dropout without training flag: drops in eval", PositionwiseFFN_w7),
    # ---- numpy_ref.positionwise_ffn
    ("numpy_ref.positionwise_ffn", "correct", "@ with np.vectorize(math.erf)", positionwise_ffn_v1),
    ("numpy_ref.positionwise_ffn", "correct", "einsum, np.where ReLU, list-comprehension GELU", positionwise_ffn_v2),
    ("numpy_ref.positionwise_ffn", "correct", "flatten + tensordot, erfc via frompyfunc", positionwise_ffn_v3),
    ("numpy_ref.positionwise_ffn", "wrong", "transposed weight matrices (torch habit)", positionwise_ffn_w1),
    ("numpy_ref.positionwise_ffn", "wrong", "tanh-approximate GELU", positionwise_ffn_w2),
    ("numpy_ref.positionwise_ffn", "wrong", "activation argument ignored: always ReLU", positionwise_ffn_w3),
    ("numpy_ref.positionwise_ffn", "wrong", "returns a torch tensor", positionwise_ffn_w4),
    ("numpy_ref.positionwise_ffn", "wrong", "output bias b2 forgotten", positionwise_ffn_w5),
    ("numpy_ref.positionwise_ffn", "wrong", "b1 added after the activation", positionwise_ffn_w6),
    # ---- norm.layer_norm
    ("norm.layer_norm", "correct", "mean/var(unbiased=False), sqrt(var + eps)", layer_norm_v1),
    ("norm.layer_norm", "correct", "sums / D, rsqrt", layer_norm_v2),
    ("norm.layer_norm", "correct", "F.layer_norm", layer_norm_v3),
    ("norm.layer_norm", "correct", "var_mean(correction=0), addcmul", layer_norm_v4),
    ("norm.layer_norm", "wrong", "unbiased variance (D - 1)", layer_norm_w1),
    ("norm.layer_norm", "wrong", "eps outside the square root", layer_norm_w2),
    ("norm.layer_norm", "wrong", "statistics over axis 0", layer_norm_w3),
    ("norm.layer_norm", "wrong", "eps hard-coded to 1e-5", layer_norm_w4),
    ("norm.layer_norm", "wrong", "x -= mu mutates the input", layer_norm_w5),
    ("norm.layer_norm", "wrong", "gamma and beta swapped", layer_norm_w6),
    # ---- norm.LayerNorm
    ("norm.LayerNorm", "correct", "Parameters ones/zeros, calls own layer_norm", LayerNorm_v1),
    ("norm.LayerNorm", "correct", "nn.init ones_/zeros_, F.layer_norm", LayerNorm_v2),
    ("norm.LayerNorm", "correct", "register_parameter, inline formula", LayerNorm_v3),
    ("norm.LayerNorm", "wrong", "parameters named gamma/beta", LayerNorm_w1),
    ("norm.LayerNorm", "wrong", "eps argument ignored", LayerNorm_w2),
    ("norm.LayerNorm", "wrong", "plain tensors, not Parameters", LayerNorm_w3),
    ("norm.LayerNorm", "wrong", "unbiased variance", LayerNorm_w4),
    ("norm.LayerNorm", "wrong", "initial values swapped (weight 0, bias 1)", LayerNorm_w5),
    ("norm.LayerNorm", "wrong", "eps stored as a buffer: extra state-dict key", LayerNorm_w6),
    # ---- norm.Residual
    ("norm.Residual", "correct", "nn.LayerNorm + nn.Dropout, tuple unpacked", Residual_v1),
    ("norm.Residual", "correct", "other attribute names, own LayerNorm, F.dropout", Residual_v2),
    ("norm.Residual", "correct", "two code paths, helper for the tuple", Residual_v3),
    ("norm.Residual", "wrong", "pre-LN adds back the normalised x", Residual_w1),
    ("norm.Residual", "wrong", "norm_first meaning swapped", Residual_w2),
    ("norm.Residual", "wrong", "extra arguments not passed on", Residual_w3),
    ("norm.Residual", "wrong", "dropout on the residual sum", Residual_w4),
    ("norm.Residual", "wrong", "parameter-free F.layer_norm: norm has no parameters", Residual_w5),
    ("norm.Residual", "wrong", "attention weights dropped", Residual_w6),
    ("norm.Residual", "wrong", "post-LN normalises the sub-layer output, not the sum", Residual_w7),
    # ---- positional.sinusoidal_encoding
    ("positional.sinusoidal_encoding", "correct", "exp/log div_term, strided assignment, float32", sinusoidal_encoding_v1),
    ("positional.sinusoidal_encoding", "correct", "python loops with math, float64", sinusoidal_encoding_v2),
    ("positional.sinusoidal_encoding", "correct", "stack(sin, cos) then reshape to interleave", sinusoidal_encoding_v3),
    ("positional.sinusoidal_encoding", "wrong", "exponent j/d per column: cos columns off frequency", sinusoidal_encoding_w1),
    ("positional.sinusoidal_encoding", "wrong", "concatenated [sin | cos]", sinusoidal_encoding_w2),
    ("positional.sinusoidal_encoding", "wrong", "cos even, sin odd", sinusoidal_encoding_w3),
    ("positional.sinusoidal_encoding", "wrong", "odd d_model not rejected", sinusoidal_encoding_w4),
    ("positional.sinusoidal_encoding", "wrong", "positions start at 1", sinusoidal_encoding_w5),
    ("positional.sinusoidal_encoding", "wrong", "exponent i/d: factor 2 missing", sinusoidal_encoding_w6),
    # ---- positional.PositionalEncoding
    ("positional.PositionalEncoding", "correct", "(max_len, d) buffer, nn.Dropout", PositionalEncoding_v1),
    ("positional.PositionalEncoding", "correct", "(1, max_len, d) buffer", PositionalEncoding_v2),
    ("positional.PositionalEncoding", "correct", "(max_len, 1, d) non-persistent buffer, transposed slice, F.dropout", PositionalEncoding_v3),
    ("positional.PositionalEncoding", "wrong", "table as frozen nn.Parameter", PositionalEncoding_w1),
    ("positional.PositionalEncoding", "wrong", "table as a plain attribute", PositionalEncoding_w2),
    ("positional.PositionalEncoding", "wrong", "dropout on x before the add", PositionalEncoding_w3),
    ("positional.PositionalEncoding", "wrong", "no ValueError for L > max_len", PositionalEncoding_w4),
    ("positional.PositionalEncoding", "wrong", "sequence-first: table indexed by batch size", PositionalEncoding_w5),
    ("positional.PositionalEncoding", "wrong", "x scaled by sqrt(d_model)", PositionalEncoding_w6),
    ("positional.PositionalEncoding", "wrong", "rejects L == max_len", PositionalEncoding_w7),
    # ---- positional.relative_rotation
    ("positional.relative_rotation", "correct", "loop filling [[c, s], [-s, c]] blocks", relative_rotation_v1),
    ("positional.relative_rotation", "correct", "torch.block_diag of 2x2 blocks", relative_rotation_v2),
    ("positional.relative_rotation", "correct", "vectorised index assignment", relative_rotation_v3),
    ("positional.relative_rotation", "correct", "matrix_power(M_1, k), negative k via inverse", relative_rotation_v4),
    ("positional.relative_rotation", "wrong", "[[c, -s], [s, c]]: rotates backwards", relative_rotation_w1),
    ("positional.relative_rotation", "wrong", "float32 result", relative_rotation_w2),
    ("positional.relative_rotation", "wrong", "frequency exponent missing the 2", relative_rotation_w3),
    ("positional.relative_rotation", "wrong", "repeated product: identity for negative k", relative_rotation_w4),
    ("positional.relative_rotation", "wrong", "column index used as pair index: 10000^(-4i/d)", relative_rotation_w5),
    # ---- embedding.Embeddings
    ("embedding.Embeddings", "correct", "randn * d^-0.5, weight[ids] * sqrt(d)", Embeddings_v1),
    ("embedding.Embeddings", "correct", "nn.init.normal_, F.embedding", Embeddings_v2),
    ("embedding.Embeddings", "correct", "torch.normal, index_select on flattened ids", Embeddings_v3),
    ("embedding.Embeddings", "wrong", "sqrt(d_model) scale forgotten", Embeddings_w1),
    ("embedding.Embeddings", "wrong", "divides by sqrt(d_model)", Embeddings_w2),
    ("embedding.Embeddings", "wrong", "initialised N(0, 1)", Embeddings_w3),
    ("embedding.Embeddings", "wrong", "std 1/d_model instead of d_model^-0.5", Embeddings_w4),
    ("embedding.Embeddings", "wrong", "negative ids not rejected", Embeddings_w5),
    ("embedding.Embeddings", "wrong", "float ids not rejected", Embeddings_w6),
    ("embedding.Embeddings", "wrong", "id == vocab_size not rejected (off-by-one)", Embeddings_w7),
    ("embedding.Embeddings", "wrong", "ValueError messages do not name ids", Embeddings_w8),
    # ---- embedding.OutputProjection
    ("embedding.OutputProjection", "correct", "h @ weight.T + bias, register_parameter None", OutputProjection_v1),
    ("embedding.OutputProjection", "correct", "F.linear, xavier init when untied", OutputProjection_v2),
    ("embedding.OutputProjection", "correct", "einsum, bias flag", OutputProjection_v3),
    ("embedding.OutputProjection", "wrong", "clones the embedding matrix", OutputProjection_w1),
    ("embedding.OutputProjection", "wrong", "new Parameter around the embedding's data", OutputProjection_w2),
    ("embedding.OutputProjection", "wrong", "applies softmax", OutputProjection_w3),
    ("embedding.OutputProjection", "wrong", "bias initialised randomly", OutputProjection_w4),
    ("embedding.OutputProjection", "wrong", "h @ weight without transpose", OutputProjection_w5),
    ("embedding.OutputProjection", "wrong", "bias ignored when tied", OutputProjection_w6),
    ("embedding.OutputProjection", "wrong", "tied weight kept as .data (plain tensor)", OutputProjection_w7),
    # ---- embedding.parameter_count
    ("embedding.parameter_count", "correct", "set of id(p)", parameter_count_v1),
    ("embedding.parameter_count", "correct", "dict id -> numel", parameter_count_v2),
    ("embedding.parameter_count", "correct", "nn.ModuleList(modules).parameters() dedups", parameter_count_v3),
    ("embedding.parameter_count", "wrong", "per-module sum: tied matrix counted twice", parameter_count_w1),
    ("embedding.parameter_count", "wrong", "buffers counted too", parameter_count_w2),
    ("embedding.parameter_count", "wrong", "counts tensors, not elements", parameter_count_w3),
    ("embedding.parameter_count", "wrong", "dedups by shape instead of identity", parameter_count_w4),
]

"""Chapter 9 variants: Embeddings, OutputProjection, parameter_count."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import correct, wrong

EM, OP, PC = "embedding.Embeddings", "embedding.OutputProjection", "embedding.parameter_count"


class _Emb(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model**-0.5)

    def check(self, ids):
        if ids.is_floating_point() or ids.dtype == torch.bool:
            raise ValueError(f"ids has dtype {ids.dtype}; expected an integer tensor")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"ids must be in [0, {self.vocab_size})")

    def forward(self, ids):
        self.check(ids)
        return self.weight[ids] * math.sqrt(self.d_model)


class EmbIndex(_Emb):
    pass


class EmbFunctional(_Emb):
    def __init__(self, vocab_size, d_model):
        super().__init__(vocab_size, d_model)
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model))
        nn.init.normal_(self.weight, mean=0.0, std=d_model**-0.5)

    def forward(self, ids):
        self.check(ids)
        return F.embedding(ids, self.weight) * self.d_model**0.5


class EmbNoScale(_Emb):
    def forward(self, ids):
        self.check(ids)
        return self.weight[ids]


class EmbDefaultInit(_Emb):
    def __init__(self, vocab_size, d_model):
        super().__init__(vocab_size, d_model)
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model))


class EmbNoCheck(_Emb):
    def check(self, ids):
        pass


class EmbDivides(_Emb):
    def forward(self, ids):
        self.check(ids)
        return self.weight[ids] / math.sqrt(self.d_model)


class _Proj(nn.Module):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        if tied_to is not None:
            self.weight = tied_to.weight
        else:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model**-0.5)
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        out = h @ self.weight.T
        return out if self.bias is None else out + self.bias


class ProjMatmul(_Proj):
    pass


class ProjLinear(nn.Module):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        self.weight = tied_to.weight if tied_to is not None else nn.Parameter(torch.empty(vocab_size, d_model))
        if tied_to is None:
            nn.init.xavier_uniform_(self.weight)
        if bias:
            self.bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.register_parameter("bias", None)

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class ProjCloned(_Proj):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__(d_model, vocab_size, bias=bias)
        if tied_to is not None:
            self.weight = nn.Parameter(tied_to.weight.detach().clone())


class ProjRandomBias(_Proj):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__(d_model, vocab_size, tied_to=tied_to, bias=bias)
        if bias:
            self.bias = nn.Parameter(torch.randn(vocab_size))


class ProjNoBiasWhenTied(nn.Module):
    """Creates the bias only when untied: bias=True with tied_to is ignored."""

    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        self.bias = None
        if tied_to is None:
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * d_model**-0.5)
            if bias:
                self.bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.weight = tied_to.weight

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


class ProjSoftmax(_Proj):
    def forward(self, h):
        return torch.softmax(super().forward(h), dim=-1)


class ProjScaled(_Proj):
    def forward(self, h):
        return super().forward(h) * math.sqrt(self.weight.shape[1])


def pc_ids(*modules):
    seen = {}
    for m in modules:
        for p in m.parameters():
            seen[id(p)] = p.numel()
    return sum(seen.values())


def pc_set(*modules):
    unique = {p for m in modules for p in m.parameters()}
    return sum(p.numel() for p in unique)


def pc_naive(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def pc_with_buffers(*modules):
    seen = {}
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            seen[id(t)] = t.numel()
    return sum(seen.values())


def pc_state_dict(*modules):
    seen = {}
    for m in modules:  # the state dict holds the persistent buffers too
        for t in m.state_dict(keep_vars=True).values():
            seen[id(t)] = t.numel()
    return sum(seen.values())


def pc_first_only(*modules):
    return sum(p.numel() for p in modules[0].parameters())


VARIANTS = [
    correct(EM, "indexing", EmbIndex),
    correct(EM, "F.embedding and init.normal_", EmbFunctional),
    wrong(EM, "no sqrt(d_model)", EmbNoScale, "scale is missing"),
    wrong(EM, "N(0, 1) init", EmbDefaultInit, "N\\(0, 1\\)"),
    wrong(EM, "no id checks", EmbNoCheck, "ValueError"),
    wrong(EM, "divides", EmbDivides, "divided"),
    correct(OP, "matmul", ProjMatmul),
    correct(OP, "F.linear, xavier init", ProjLinear),
    wrong(OP, "cloned when tied", ProjCloned, "untied"),
    wrong(OP, "random bias", ProjRandomBias, "zero"),
    wrong(OP, "no bias when tied", ProjNoBiasWhenTied, "with tied_to"),
    wrong(OP, "softmax", ProjSoftmax, "softmax"),
    wrong(OP, "scaled logits", ProjScaled, "sqrt\\(d_model\\)"),
    correct(PC, "dict by id", pc_ids),
    correct(PC, "set of parameters", pc_set),
    wrong(PC, "counts shared twice", pc_naive, "counted once per module"),
    wrong(PC, "counts buffers", pc_with_buffers, "buffers"),
    wrong(PC, "counts the state dict", pc_state_dict, "buffers"),
    wrong(PC, "first module only", pc_first_only, "three for the separate"),
]

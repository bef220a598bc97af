"""Chapter 7 variants: layer_norm, LayerNorm, Residual."""

import torch
import torch.nn.functional as F
from torch import nn

from . import correct, wrong

LN, LM, RS = "norm.layer_norm", "norm.LayerNorm", "norm.Residual"


def ln_var(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def ln_rsqrt(x, gamma, beta, eps=1e-5):
    var, mu = torch.var_mean(x, dim=-1, correction=0, keepdim=True)
    return (x - mu) * torch.rsqrt(var + eps) * gamma + beta


def ln_unbiased(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(x.var(-1, keepdim=True) + eps) + beta


def ln_hard_eps(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5) + beta


def ln_eps_outside(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return gamma * (x - mu) / (x.std(-1, unbiased=False, keepdim=True) + eps) + beta


def ln_detached(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True).detach()
    var = x.var(-1, unbiased=False, keepdim=True).detach()
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


class LnParams(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return ln_var(x, self.weight, self.bias, self.eps)


class LnFunctional(LnParams):
    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class LnGammaBetaNames(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(d_model))
        self.beta = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return ln_var(x, self.gamma, self.beta, self.eps)


class LnIgnoresEps(LnParams):
    def forward(self, x):
        return ln_var(x, self.weight, self.bias)


class LnRandomInit(LnParams):
    def __init__(self, d_model, eps=1e-5):
        super().__init__(d_model, eps)
        self.weight = nn.Parameter(torch.randn(d_model))


class _Res(nn.Module):
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer, self.norm_first = sublayer, norm_first
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def run(self, x, *args, **kwargs):
        result = self.sublayer(x, *args, **kwargs)
        if isinstance(result, tuple):
            return result[0], result[1:]
        return result, None

    def forward(self, x, *args, **kwargs):
        if self.norm_first:
            out, extra = self.run(self.norm(x), *args, **kwargs)
            y = x + self.dropout(out)
        else:
            out, extra = self.run(x, *args, **kwargs)
            y = self.norm(x + self.dropout(out))
        return y if extra is None else (y, *extra)


class ResBranches(_Res):
    pass


class ResLambda(nn.Module):
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.f = sublayer
        self.ln = nn.LayerNorm(d_model)
        self.p = dropout
        self.pre = norm_first

    def forward(self, x, *args, **kwargs):
        inp = self.ln(x) if self.pre else x
        got = self.f(inp, *args, **kwargs)
        out, rest = (got[0], tuple(got[1:])) if isinstance(got, tuple) else (got, ())
        y = x + F.dropout(out, self.p, self.training)
        if not self.pre:
            y = self.ln(y)
        return (y, *rest) if rest else y


class ResDropoutOnSum(_Res):
    def forward(self, x, *args, **kwargs):
        if self.norm_first:
            out, extra = self.run(self.norm(x), *args, **kwargs)
            y = self.dropout(x + out)
        else:
            out, extra = self.run(x, *args, **kwargs)
            y = self.norm(self.dropout(x + out))
        return y if extra is None else (y, *extra)


class ResNoDropout(_Res):
    def forward(self, x, *args, **kwargs):
        self.dropout.p = 0.0
        return super().forward(x, *args, **kwargs)


class ResAddsNormalised(_Res):
    def forward(self, x, *args, **kwargs):
        if self.norm_first:
            n = self.norm(x)
            out, extra = self.run(n, *args, **kwargs)
            y = n + self.dropout(out)
        else:
            out, extra = self.run(x, *args, **kwargs)
            y = self.norm(x + self.dropout(out))
        return y if extra is None else (y, *extra)


class ResAlwaysPost(_Res):
    def forward(self, x, *args, **kwargs):
        out, extra = self.run(x, *args, **kwargs)
        y = self.norm(x + self.dropout(out))
        return y if extra is None else (y, *extra)


class ResDropsExtras(_Res):
    def run(self, x, *args, **kwargs):
        result = self.sublayer(x)
        return (result[0], result[1:]) if isinstance(result, tuple) else (result, None)


VARIANTS = [
    correct(LN, "mean and biased var", ln_var),
    correct(LN, "var_mean and rsqrt", ln_rsqrt),
    wrong(LN, "unbiased variance", ln_unbiased, "unbiased variance"),
    wrong(LN, "hard-coded eps", ln_hard_eps, "eps argument is ignored"),
    wrong(LN, "eps outside the root", ln_eps_outside, "eps added outside"),
    wrong(LN, "statistics detached", ln_detached, "detach"),
    correct(LM, "own parameters", LnParams),
    correct(LM, "F.layer_norm", LnFunctional),
    wrong(LM, "named gamma and beta", LnGammaBetaNames, "'weight' and 'bias'"),
    wrong(LM, "ignores eps", LnIgnoresEps, "eps argument is ignored"),
    wrong(LM, "random weight", LnRandomInit, "ones"),
    correct(RS, "branches on norm_first", ResBranches),
    correct(RS, "functional dropout", ResLambda),
    wrong(RS, "dropout on the sum", ResDropoutOnSum, "[Dd]ropout"),
    wrong(RS, "dropout never applied", ResNoDropout, "[Dd]ropout"),
    wrong(RS, "pre-LN adds the normalised input", ResAddsNormalised, "normalised input"),
    wrong(RS, "always post-LN", ResAlwaysPost, "post-LN"),
    wrong(RS, "drops the extra arguments", ResDropsExtras, "extra argument"),
]

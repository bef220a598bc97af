"""The chapter 7 grader checks: correct versions pass, each known mistake fails and is named."""

import pytest
import torch
from torch import nn

from course_lib.grading import check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero


def _ln_ok(x, gamma, beta, eps=1e-5):  # written differently from the library, as a learner might
    mu = x.sum(-1, keepdim=True) / x.shape[-1]
    var = ((x - mu) ** 2).sum(-1, keepdim=True) / x.shape[-1]
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def _ln_unbiased(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) + beta


def _ln_eps_outside(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True, unbiased=False) + eps) + beta


def _ln_batch_axis(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(0, keepdim=True), x.var(0, keepdim=True, unbiased=False)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def _ln_swapped(x, gamma, beta, eps=1e-5):
    return _ln_ok(x, beta, gamma, eps)


def _ln_detached(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(-1, keepdim=True).detach(), x.var(-1, keepdim=True, unbiased=False).detach()
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


def _module(fn):
    """A LayerNorm class built on a layer_norm function: right or wrong, as ``fn`` is."""

    class LN(nn.Module):
        def __init__(self, d_model, eps=1e-5):
            super().__init__()
            self.eps = eps
            self.weight, self.bias = nn.Parameter(torch.ones(d_model)), nn.Parameter(torch.zeros(d_model))

        def forward(self, x):
            return fn(x, self.weight, self.bias, self.eps)

    return LN


class _ResidualOk(nn.Module):
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__()
        self.sublayer, self.norm_first = sublayer, norm_first
        self.ln, self.drop = nn.LayerNorm(d_model), nn.Dropout(dropout)

    def _combine(self, x, out):  # the formula under test; variants override it
        return x + self.drop(out) if self.norm_first else self.ln(x + self.drop(out))

    def forward(self, x, *args, **kwargs):
        result = self.sublayer(self.ln(x) if self.norm_first else x, *args, **kwargs)
        if isinstance(result, tuple):
            return (self._combine(x, result[0]), *result[1:])
        return self._combine(x, result)


def _residual_variant(combine, inner=None):
    attrs = {"_combine": combine}
    if inner is not None:  # what the sub-layer sees
        def forward(self, x, *args, **kwargs):
            result = self.sublayer(inner(self, x), *args, **kwargs)
            if isinstance(result, tuple):
                return (self._combine(x, result[0]), *result[1:])
            return self._combine(x, result)
        attrs["forward"] = forward
    return type("Variant", (_ResidualOk,), attrs)


_always_post = _residual_variant(lambda self, x, out: self.ln(x + out), inner=lambda self, x: x)
_always_pre = _residual_variant(lambda self, x, out: x + out, inner=lambda self, x: self.ln(x))
_add_after_norm = _residual_variant(lambda self, x, out: x + out if self.norm_first else x + self.ln(out))
_normed_residual = _residual_variant(lambda self, x, out: (self.ln(x) + out) if self.norm_first else self.ln(x + out))


class _NoKwargs(_ResidualOk):
    def forward(self, x, *args, **kwargs):
        return super().forward(x)


class _DropsWeights(_ResidualOk):
    def forward(self, x, *args, **kwargs):
        result = super().forward(x, *args, **kwargs)
        return result[0] if isinstance(result, tuple) else result


class _UnregisteredNorm(_ResidualOk):
    def __init__(self, d_model, sublayer, norm_first, dropout=0.0):
        super().__init__(d_model, sublayer, norm_first, dropout)
        self.__dict__["ln"] = self._modules.pop("ln")  # a norm kept outside the module tree


@pytest.mark.parametrize(
    "exercise_id,candidate",
    [("norm.layer_norm", _ln_ok), ("norm.LayerNorm", _module(_ln_ok)), ("norm.LayerNorm", nn.LayerNorm),
     ("norm.Residual", _ResidualOk)],
)
def test_correct_versions_score_full_marks(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


@pytest.mark.parametrize(
    "exercise_id,candidate,named",
    [
        ("norm.layer_norm", _ln_unbiased, "unbiased variance"),
        ("norm.layer_norm", _ln_eps_outside, "eps added outside the square root"),
        ("norm.layer_norm", _ln_batch_axis, "over the batch axis"),
        ("norm.layer_norm", _ln_swapped, "gamma and beta are swapped"),
        ("norm.layer_norm", lambda x, gamma, beta, eps=1e-5: _ln_ok(x, 1, 0, eps), "gamma and beta are ignored"),
        ("norm.layer_norm", _ln_detached, "do not detach"),
        ("norm.LayerNorm", _module(_ln_unbiased), "unbiased variance"),
        ("norm.LayerNorm", _module(_ln_eps_outside), "eps added outside the square root"),
        ("norm.LayerNorm", _module(_ln_batch_axis), "over the batch axis"),
        ("norm.LayerNorm", _module(lambda x, gamma, beta, eps: _ln_ok(x, gamma, beta)), "eps argument is ignored"),
        ("norm.Residual", _add_after_norm, "residual is added after the norm"),
        ("norm.Residual", _always_pre, "pre-LN: with norm_first=False"),
        ("norm.Residual", _always_post, "post-LN: the residual is added before the norm"),
        ("norm.Residual", _normed_residual, "residual taken from the normalised input"),
        ("norm.Residual", _NoKwargs, "extra argument was dropped"),
        ("norm.Residual", _DropsWeights, "(residual output, weights)"),
    ],
)
def test_known_mistakes_fail_with_a_named_hint(exercise_id, candidate, named):
    assert_mistake_named(exercise_id, candidate, named)


def test_a_norm_outside_the_module_tree_is_reported():
    result = check("norm.Residual", _UnregisteredNorm, quiet=True)
    messages = {title: message for title, ok, message in result.cases if not ok}
    assert "2 · d_model" in messages["the LayerNorm's weight and bias are parameters of the module"]


def test_layer_norm_module_parameter_names_are_checked():
    class Renamed(_module(_ln_ok)):
        def __init__(self, d_model, eps=1e-5):
            super().__init__(d_model, eps)
            self.gamma, self.beta = self.weight, self.bias
            del self.weight, self.bias

        def forward(self, x):
            return _ln_ok(x, self.gamma, self.beta, self.eps)

    result = check("norm.LayerNorm", Renamed, quiet=True)
    assert not result.passed and "'weight' and 'bias'" in result.message


@pytest.mark.parametrize("exercise_id", ["norm.layer_norm", "norm.LayerNorm", "norm.Residual"])
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "07")

"""Checks for chapter 7's exercises: layer_norm, LayerNorm and Residual (post-LN and pre-LN).

Each known wrong version (unbiased variance, eps outside the square root, statistics over
the batch or the sequence axis instead of the features, gamma and beta ignored or swapped,
the residual added after the norm instead of before it, and the reverse) is listed as a
``mistake`` so that the hint names it.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.norm import layer_norm

_HINT = ("subtract the mean over the last axis, divide by sqrt(variance + eps) with the biased variance "
         "(divide by D), then multiply by gamma and add beta")


def _ln_mistakes(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> dict[str, torch.Tensor]:
    def normalise(dim, unbiased=False, eps_outside=False):
        mu = x.mean(dim, keepdim=True)
        var = x.var(dim, keepdim=True, unbiased=unbiased)
        denom = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
        return (x - mu) / denom

    z = normalise(-1)
    mistakes = {
        "the unbiased variance (dividing by D - 1); LayerNorm divides by D": gamma * normalise(-1, unbiased=True) + beta,
        "eps added outside the square root; it belongs inside, sqrt(var + eps)":
            gamma * normalise(-1, eps_outside=True) + beta,
        "gamma and beta are ignored": z,
        "gamma and beta are swapped": beta * z + gamma,
        "statistics taken over the batch axis (that is BatchNorm); normalise over the features, the last axis":
            gamma * normalise(0) + beta,
    }
    if x.dim() == 3:
        mistakes["statistics taken over the sequence axis; normalise over the features, the last axis"] = \
            gamma * normalise(1) + beta
    return mistakes



# -- layer_norm --------------------------------------------------------------------------------


def _affine(g: Grader, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    return 1 + 0.5 * g.randn(d), g.randn(d)


@exercise("norm.layer_norm", name="layer_norm", chapter="07")
def _(candidate, g):
    """layer_norm(x, gamma, beta, eps) over the last axis, biased variance, eps inside the root."""
    x = 3 * g.randn(4, 5, 8) + 2
    gamma, beta = _affine(g, 8)
    with g.case("a (4, 5, 8) batch with random gamma and beta", points=2):
        g.assert_close(candidate(x.clone(), gamma.clone(), beta.clone()), layer_norm(x, gamma, beta), hint=_HINT,
                       mistakes=_ln_mistakes(x, gamma, beta, 1e-5))
    small = 1e-3 * g.randn(3, 6)  # variance ~1e-6, comparable to eps
    gamma6, beta6 = _affine(g, 6)
    with g.case("a tiny spread (variance ~1e-6, close to eps): where eps goes matters"):
        g.assert_close(candidate(small.clone(), gamma6, beta6), layer_norm(small, gamma6, beta6), hint=_HINT,
                       mistakes=_ln_mistakes(small, gamma6, beta6, 1e-5) | {
                           "eps is ignored (a vector of near-equal values blows up)": (small - small.mean(-1, keepdim=True))
                           / small.var(-1, keepdim=True, unbiased=False).sqrt() * gamma6 + beta6})
    with g.case("the eps argument is used: eps = 0.5"):
        g.assert_close(candidate(x.clone(), gamma, beta, eps=0.5), layer_norm(x, gamma, beta, 0.5), hint=_HINT,
                       mistakes={"the eps argument is ignored": layer_norm(x, gamma, beta)})
    with g.case("D = 2 (the unbiased variance would be twice the biased one)"):
        x2, g2, b2 = g.randn(5, 2), *_affine(g, 2)
        g.assert_close(candidate(x2.clone(), g2, b2), layer_norm(x2, g2, b2), hint=_HINT,
                       mistakes=_ln_mistakes(x2, g2, b2, 1e-5))
    with g.case("a constant vector gives beta, not NaN"):
        const = torch.full((2, 8), 3.0, dtype=torch.float64)
        g.assert_close(candidate(const, gamma, beta), beta.expand(2, 8), hint="eps keeps 0 / 0 away")
    with g.case("gradients with respect to x, gamma and beta match torch's"):
        w = g.randn(4, 5, 8)
        mine = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        (candidate(*mine) * w).sum().backward()
        ref = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        (layer_norm(*ref) * w).sum().backward()
        for name, a, b in zip(("x", "gamma", "beta"), mine, ref):
            g.expect(a.grad is not None, f"no gradient reached {name}: build the output with torch operations only")
            g.assert_close(a.grad, b.grad, what=f"the gradient of {name}",
                           hint="do not detach the mean or the variance: the gradient flows through both")


# -- LayerNorm ---------------------------------------------------------------------------------


@exercise("norm.LayerNorm", name="LayerNorm", chapter="07")
def _(candidate, g):
    """LayerNorm(d_model, eps) with parameters weight (ones) and bias (zeros), as torch.nn.LayerNorm."""
    with g.case("has parameters `weight` (ones) and `bias` (zeros) of shape (d_model,), like torch"):
        module = candidate(8)
        params = dict(module.named_parameters())
        g.expect(set(params) == {"weight", "bias"},
                 f"the parameters are {sorted(params)}; expected exactly 'weight' and 'bias' (nn.Parameter)")
        g.expect(torch.equal(params["weight"].detach().double(), torch.ones(8, dtype=torch.float64))
                 and torch.equal(params["bias"].detach().double(), torch.zeros(8, dtype=torch.float64)),
                 "initialise weight to ones and bias to zeros, so a fresh LayerNorm only normalises")
    x = 3 * g.randn(4, 5, 8) + 2
    gamma, beta = _affine(g, 8)
    with g.case("loads a torch.nn.LayerNorm state dict and matches it on a (4, 5, 8) batch", points=2):
        ref = nn.LayerNorm(8, dtype=torch.float64)
        with torch.no_grad():
            ref.weight.copy_(gamma), ref.bias.copy_(beta)
        module = candidate(8).double()
        module.load_state_dict(ref.state_dict())
        g.assert_close(module(x.clone()), ref(x), hint=_HINT, mistakes=_ln_mistakes(x, gamma, beta, 1e-5))
    with g.case("eps = 0.1 is used"):
        small = 0.3 * g.randn(3, 8)
        module = candidate(8, eps=0.1).double()
        g.assert_close(module(small), layer_norm(small, torch.ones(8).double(), torch.zeros(8).double(), 0.1),
                       hint=_HINT, mistakes={"the eps argument is ignored": layer_norm(
                           small, torch.ones(8).double(), torch.zeros(8).double())}
                       | _ln_mistakes(small, torch.ones(8).double(), torch.zeros(8).double(), 0.1))
    with g.case("weight and bias receive gradients"):
        module = candidate(8).double()
        w = g.randn(4, 5, 8)
        (module(x) * w).sum().backward()
        ref = nn.LayerNorm(8, dtype=torch.float64)
        (ref(x) * w).sum().backward()
        for name in ("weight", "bias"):
            got = getattr(module, name).grad
            g.expect(got is not None, f"{name} got no gradient: make it an nn.Parameter and use it in forward")
            g.assert_close(got, getattr(ref, name).grad, what=f"the gradient of {name}", hint=_HINT)


# -- Residual ----------------------------------------------------------------------------------


class _Sublayer(nn.Module):
    """A sub-layer whose output has a large mean, so every placement of the norm gives a different result."""

    def __init__(self, g: Grader, d: int):
        super().__init__()
        self.lin = nn.Linear(d, d, dtype=torch.float64)
        with torch.no_grad():
            self.lin.weight.copy_(g.randn(d, d) / d**0.5)
            self.lin.bias.copy_(g.randn(d))

    def forward(self, x, scale=1.0):
        return scale * torch.tanh(self.lin(x)) + 1.5


class _WithWeights(_Sublayer):
    def forward(self, x, scale=1.0):
        out = super().forward(x, scale)
        return out, out.sum(-1)


def _ln(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.layer_norm(x, x.shape[-1:])


def _placements(x, f, norm_first: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    post, pre = _ln(x + f(x)), x + f(_ln(x))
    common = {
        "the residual taken from the normalised input, LN(x) + sublayer(LN(x)): add the raw x": _ln(x) + f(_ln(x)),
        "there is no residual connection (x is never added)": _ln(f(x)) if not norm_first else f(_ln(x)),
    }
    if norm_first:
        return pre, common | {
            "post-LN: the residual is added before the norm. With norm_first=True normalise the sub-layer's "
            "input, LN(x), and add its output to the un-normalised x": post,
            "the norm applied to the sub-layer's output instead of its input": x + _ln(f(x)),
        }
    return post, common | {
        "the residual is added after the norm, x + LN(sublayer(x)). Post-LN adds first, then normalises "
        "the sum": x + _ln(f(x)),
        "pre-LN: with norm_first=False the norm comes after the sum, LN(x + sublayer(x))": pre,
    }


class _Ones(nn.Module):
    """A sub-layer whose output is all ones, whatever its input."""

    def forward(self, x):
        return torch.ones_like(x)


def _expect_output_dropout(g: Grader, candidate, d: int) -> None:
    """Pre-LN with a sub-layer of ones: x + Dropout(ones) - x is 0 or 2 (p = 0.5), never 1 or 2(x + 1)."""
    x = 2 * g.randn(16, 4, d) + 1
    module = candidate(d, _Ones(), True, 0.5)
    g.expect(isinstance(module, nn.Module), "Residual should be an nn.Module (subclass nn.Module)")
    module = module.double().train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(g.randint(0, 10_000, 1)))
        added = module(x.clone()) - x
    values = set(added.round(decimals=6).flatten().tolist())
    if values <= {1.0}:
        raise CaseFailed("with dropout=0.5 in training mode nothing was dropped: apply "
                         "nn.Dropout(dropout) to the sub-layer's output, before it is added to x")
    g.expect(values <= {0.0, 2.0} and values == {0.0, 2.0},
             "dropout belongs on the sub-layer's output only, x + Dropout(sublayer(...)): here the sum "
             "(or the input) was dropped too")
    module.eval()
    with torch.no_grad():
        g.assert_close(module(x) - x, torch.ones_like(x), hint="in eval mode dropout must do nothing")


def _residual(candidate, g: Grader, sub: nn.Module, d: int, norm_first: bool):
    module = candidate(d, sub, norm_first)
    g.expect(isinstance(module, nn.Module), "Residual should be an nn.Module (subclass nn.Module)")
    return module.double().eval()


@exercise("norm.Residual", name="Residual", chapter="07")
def _(candidate, g):
    """Residual(d_model, sublayer, norm_first): post-LN LN(x + f(x)) or pre-LN x + f(LN(x))."""
    d = 8
    x = 2 * g.randn(3, 5, d) + 1
    for norm_first, formula in ((False, "LN(x + sublayer(x))"), (True, "x + sublayer(LN(x))")):
        name = "pre-LN" if norm_first else "post-LN, the paper"
        with g.case(f"norm_first={norm_first} ({name}): {formula}", points=2):
            sub = _Sublayer(g, d)
            module = _residual(candidate, g, sub, d, norm_first)
            with torch.no_grad():
                expected, mistakes = _placements(x, sub, norm_first)
                g.assert_close(module(x.clone()), expected, hint=f"with norm_first={norm_first}, compute {formula}",
                               mistakes=mistakes)
    with g.case("extra arguments (here scale=-3.0) are passed on to the sub-layer, both placements"):
        for norm_first in (False, True):
            sub = _Sublayer(g, d)
            module = _residual(candidate, g, sub, d, norm_first)
            with torch.no_grad():
                expected, _ = _placements(x, lambda t: sub(t, scale=-3.0), norm_first)
                g.assert_close(module(x, scale=-3.0), expected, hint="forward(x, *args, **kwargs) calls "
                               "sublayer(..., *args, **kwargs)", mistakes={"the extra argument was dropped":
                                                                        _placements(x, sub, norm_first)[0]})
    with g.case("a sub-layer returning (out, weights): return (residual output, weights)"):
        for norm_first in (False, True):
            sub = _WithWeights(g, d)
            module = _residual(candidate, g, sub, d, norm_first)
            with torch.no_grad():
                got = module(x)
                g.expect(isinstance(got, tuple) and len(got) == 2,
                         f"got {type(got).__name__}; when the sub-layer returns a tuple (out, weights), "
                         f"return (residual output, weights)")
                inner = _ln(x) if norm_first else x
                expected, _ = _placements(x, lambda t: sub(t)[0], norm_first)
                g.assert_close(got[0], expected, hint="apply the residual and norm to the first element only")
                g.assert_close(got[1], sub(inner)[1], what="weights", hint="pass the weights back unchanged")
    with g.case("dropout=0.5 acts on the sub-layer's output only, in training mode"):
        _expect_output_dropout(g, candidate, d)
    with g.case("the LayerNorm's weight and bias are parameters of the module"):
        sub = _Sublayer(g, d)
        module = candidate(d, sub, False)
        n_sub = sum(p.numel() for p in sub.parameters())
        n = sum(p.numel() for p in module.parameters())
        g.expect(n == n_sub + 2 * d, f"the module has {n} parameters; expected the sub-layer's {n_sub} plus "
                 f"2 · d_model = {2 * d} for the LayerNorm (store the sub-layer and the norm as attributes)")

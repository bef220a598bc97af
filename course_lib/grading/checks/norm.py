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
from course_lib.i18n import tr
from course_lib.norm import layer_norm

def _hint() -> str:
    return (tr("subtract the mean over the last axis, divide by sqrt(variance + eps) with the biased variance "
               "(divide by D), then multiply by gamma and add beta",
               "在最后一个轴上减去均值，用有偏方差（除以 D）除以 sqrt(variance + eps)，再乘以 "
               "gamma、加上 beta"))


def _ln_mistakes(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> dict[str, torch.Tensor]:
    def normalise(dim, unbiased=False, eps_outside=False):
        mu = x.mean(dim, keepdim=True)
        var = x.var(dim, keepdim=True, unbiased=unbiased)
        denom = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
        return (x - mu) / denom

    z = normalise(-1)
    mistakes = {
        tr("the unbiased variance (dividing by D - 1); LayerNorm divides by D",
           "用了无偏方差（除以 D - 1）；LayerNorm 除以 D"): gamma * normalise(-1, unbiased=True) + beta,
        tr("eps added outside the square root; it belongs inside, sqrt(var + eps)",
           "eps 加在了平方根外面；它应在里面，sqrt(var + eps)"):
            gamma * normalise(-1, eps_outside=True) + beta,
        tr("gamma and beta are ignored", "忽略了 gamma 和 beta"): z,
        tr("gamma and beta are swapped", "gamma 和 beta 弄反了"): beta * z + gamma,
        tr("statistics taken over the batch axis (that is BatchNorm); normalise over the features, the last axis",
           "统计量在批量轴上计算（那是 BatchNorm）；应在特征轴，也就是最后一个轴上归一化"):
            gamma * normalise(0) + beta,
    }
    if x.dim() == 3:
        mistakes[tr("statistics taken over the sequence axis; normalise over the features, the last axis",
                    "统计量在序列轴上计算；应在特征轴，也就是最后一个轴上归一化")] = \
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
    with g.case(tr("a (4, 5, 8) batch with random gamma and beta", "gamma 和 beta 随机的 (4, 5, 8) 批量"), points=2):
        g.assert_close(candidate(x.clone(), gamma.clone(), beta.clone()), layer_norm(x, gamma, beta), hint=_hint(),
                       mistakes=_ln_mistakes(x, gamma, beta, 1e-5))
    small = 1e-3 * g.randn(3, 6)  # variance ~1e-6, comparable to eps
    gamma6, beta6 = _affine(g, 6)
    with g.case(tr("a tiny spread (variance ~1e-6, close to eps): where eps goes matters",
                   "极小的离散程度（方差约 1e-6，接近 eps）：eps 放在哪里很要紧")):
        g.assert_close(candidate(small.clone(), gamma6, beta6), layer_norm(small, gamma6, beta6), hint=_hint(),
                       mistakes=_ln_mistakes(small, gamma6, beta6, 1e-5) | {
                           tr("eps is ignored (a vector of near-equal values blows up)",
                              "忽略了 eps（几乎相等的值组成的向量会爆掉）"): (small - small.mean(-1, keepdim=True))
                           / small.var(-1, keepdim=True, unbiased=False).sqrt() * gamma6 + beta6})
    with g.case(tr("the eps argument is used: eps = 0.5", "使用了参数 eps：eps = 0.5")):
        g.assert_close(candidate(x.clone(), gamma, beta, eps=0.5), layer_norm(x, gamma, beta, 0.5), hint=_hint(),
                       mistakes={tr("the eps argument is ignored", "忽略了参数 eps"): layer_norm(x, gamma, beta)})
    with g.case(tr("D = 2 (the unbiased variance would be twice the biased one)",
                   "D = 2（无偏方差会是有偏方差的两倍）")):
        x2, g2, b2 = g.randn(5, 2), *_affine(g, 2)
        g.assert_close(candidate(x2.clone(), g2, b2), layer_norm(x2, g2, b2), hint=_hint(),
                       mistakes=_ln_mistakes(x2, g2, b2, 1e-5))
    with g.case(tr("a constant vector gives beta, not NaN", "常数向量得到 beta，而不是 NaN")):
        const = torch.full((2, 8), 3.0, dtype=torch.float64)
        g.assert_close(candidate(const, gamma, beta), beta.expand(2, 8), hint=tr("eps keeps 0 / 0 away",
                                                                                 "eps 避免了 0 / 0"))
    with g.case(tr("gradients with respect to x, gamma and beta match torch's",
                   "关于 x、gamma 和 beta 的梯度与 torch 一致")):
        w = g.randn(4, 5, 8)
        mine = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        (candidate(*mine) * w).sum().backward()
        ref = [t.clone().requires_grad_() for t in (x, gamma, beta)]
        (layer_norm(*ref) * w).sum().backward()
        for name, a, b in zip(("x", "gamma", "beta"), mine, ref):
            g.expect(a.grad is not None, tr(f"no gradient reached {name}: build the output with torch operations only",
                                            f"没有梯度传到 {name}：请只用 torch 运算构造输出"))
            g.assert_close(a.grad, b.grad, what=tr(f"the gradient of {name}", f"{name} 的梯度"),
                           hint=tr("do not detach the mean or the variance: the gradient flows through both",
                                   "不要 detach 均值或方差：梯度要流过两者"))


# -- LayerNorm ---------------------------------------------------------------------------------


@exercise("norm.LayerNorm", name="LayerNorm", chapter="07")
def _(candidate, g):
    """LayerNorm(d_model, eps) with parameters weight (ones) and bias (zeros), as torch.nn.LayerNorm."""
    with g.case(tr("has parameters `weight` (ones) and `bias` (zeros) of shape (d_model,), like torch",
                   "有形状为 (d_model,) 的参数 `weight`（全 1）和 `bias`（全 0），与 "
                   "torch 一样")):
        module = candidate(8)
        params = dict(module.named_parameters())
        g.expect(set(params) == {"weight", "bias"},
                 tr(f"the parameters are {sorted(params)}; expected exactly 'weight' and 'bias' (nn.Parameter)",
                    f"参数是 {sorted(params)}；应恰好是 'weight' 和 'bias'（nn.Parameter）"))
        g.expect(torch.equal(params["weight"].detach().double(), torch.ones(8, dtype=torch.float64))
                 and torch.equal(params["bias"].detach().double(), torch.zeros(8, dtype=torch.float64)),
                 tr("initialise weight to ones and bias to zeros, so a fresh LayerNorm only normalises",
                    "把 weight 初始化为全 1、bias 初始化为全 0，这样新建的 LayerNorm 只做归一化"))
    x = 3 * g.randn(4, 5, 8) + 2
    gamma, beta = _affine(g, 8)
    with g.case(tr("loads a torch.nn.LayerNorm state dict and matches it on a (4, 5, 8) batch",
                   "加载 torch.nn.LayerNorm 的 state dict，并在 (4, 5, 8) "
                   "批量上与之一致"), points=2):
        ref = nn.LayerNorm(8, dtype=torch.float64)
        with torch.no_grad():
            ref.weight.copy_(gamma), ref.bias.copy_(beta)
        module = candidate(8).double()
        module.load_state_dict(ref.state_dict())
        g.assert_close(module(x.clone()), ref(x), hint=_hint(), mistakes=_ln_mistakes(x, gamma, beta, 1e-5))
    with g.case(tr("eps = 0.1 is used", "使用了 eps = 0.1")):
        small = 0.3 * g.randn(3, 8)
        module = candidate(8, eps=0.1).double()
        g.assert_close(module(small), layer_norm(small, torch.ones(8).double(), torch.zeros(8).double(), 0.1),
                       hint=_hint(), mistakes={tr("the eps argument is ignored", "忽略了参数 eps"): layer_norm(
                           small, torch.ones(8).double(), torch.zeros(8).double())}
                       | _ln_mistakes(small, torch.ones(8).double(), torch.zeros(8).double(), 0.1))
    with g.case(tr("weight and bias receive gradients", "weight 和 bias 能得到梯度")):
        module = candidate(8).double()
        w = g.randn(4, 5, 8)
        (module(x) * w).sum().backward()
        ref = nn.LayerNorm(8, dtype=torch.float64)
        (ref(x) * w).sum().backward()
        for name in ("weight", "bias"):
            got = getattr(module, name).grad
            g.expect(got is not None, tr(f"{name} got no gradient: make it an nn.Parameter and use it in forward",
                                         f"{name} 没有得到梯度：请把它设为 nn.Parameter 并在 forward 中使用"))
            g.assert_close(got, getattr(ref, name).grad, what=tr(f"the gradient of {name}",
                                                                 f"{name} 的梯度"), hint=_hint())


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
        tr("the residual taken from the normalised input, LN(x) + sublayer(LN(x)): add the raw x",
           "残差取自归一化后的输入，LN(x) + sublayer(LN(x))：应加上原始的 x"): _ln(x) + f(_ln(x)),
        tr("there is no residual connection (x is never added)",
           "没有残差连接（从来没有加上 x）"): _ln(f(x)) if not norm_first else f(_ln(x)),
    }
    if norm_first:
        return pre, common | {
            tr("post-LN: the residual is added before the norm. With norm_first=True normalise the sub-layer's "
               "input, LN(x), and add its output to the un-normalised x",
               "post-LN：残差在归一化之前相加。norm_first=True 时要归一化子层的输入 LN(x)"
               "，再把子层输出加到未归一化的 x 上"): post,
            tr("the norm applied to the sub-layer's output instead of its input",
               "归一化用在了子层的输出上，而不是输入上"): x + _ln(f(x)),
        }
    return post, common | {
        tr("the residual is added after the norm, x + LN(sublayer(x)). Post-LN adds first, then normalises "
           "the sum",
           "残差在归一化之后相加，x + LN(sublayer(x))。post-LN 先相加，再对和做归一化"): x + _ln(f(x)),
        tr("pre-LN: with norm_first=False the norm comes after the sum, LN(x + sublayer(x))",
           "pre-LN：norm_first=False 时归一化在求和之后，LN(x + sublayer(x)"
           ")"): pre,
    }


class _Ones(nn.Module):
    """A sub-layer whose output is all ones, whatever its input."""

    def forward(self, x):
        return torch.ones_like(x)


def _expect_output_dropout(g: Grader, candidate, d: int) -> None:
    """Pre-LN with a sub-layer of ones: x + Dropout(ones) - x is 0 or 2 (p = 0.5), never 1 or 2(x + 1)."""
    x = 2 * g.randn(16, 4, d) + 1
    module = candidate(d, _Ones(), True, 0.5)
    g.expect(isinstance(module, nn.Module), tr("Residual should be an nn.Module (subclass nn.Module)",
                                               "Residual 应是 nn.Module（继承 nn.Module）"))
    module = module.double().train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(g.randint(0, 10_000, 1)))
        added = module(x.clone()) - x
    values = set(added.round(decimals=6).flatten().tolist())
    if values <= {1.0}:
        raise CaseFailed(tr("with dropout=0.5 in training mode nothing was dropped: apply "
                            "nn.Dropout(dropout) to the sub-layer's output, before it is added to x",
                            "训练模式下 dropout=0.5 却什么都没丢弃：请对子层的输出使用 nn.Dropout(dropout)"
                            "，在它与 x 相加之前"))
    g.expect(values <= {0.0, 2.0} and values == {0.0, 2.0},
             tr("dropout belongs on the sub-layer's output only, x + Dropout(sublayer(...)): here the sum "
                "(or the input) was dropped too",
                "dropout 只作用于子层的输出，x + Dropout(sublayer(...))：这里连和（或输入）"
                "也被丢弃了"))
    module.eval()
    with torch.no_grad():
        g.assert_close(module(x) - x, torch.ones_like(x), hint=tr("in eval mode dropout must do nothing",
                                                                  "eval 模式下 dropout 必须什么都不做"))


def _residual(candidate, g: Grader, sub: nn.Module, d: int, norm_first: bool):
    module = candidate(d, sub, norm_first)
    g.expect(isinstance(module, nn.Module), tr("Residual should be an nn.Module (subclass nn.Module)",
                                               "Residual 应是 nn.Module（继承 nn.Module）"))
    return module.double().eval()


@exercise("norm.Residual", name="Residual", chapter="07")
def _(candidate, g):
    """Residual(d_model, sublayer, norm_first): post-LN LN(x + f(x)) or pre-LN x + f(LN(x))."""
    d = 8
    x = 2 * g.randn(3, 5, d) + 1
    for norm_first, formula in ((False, "LN(x + sublayer(x))"), (True, "x + sublayer(LN(x))")):
        name = "pre-LN" if norm_first else tr("post-LN, the paper", "post-LN（论文的做法）")
        with g.case(f"norm_first={norm_first} ({name}): {formula}", points=2):
            sub = _Sublayer(g, d)
            module = _residual(candidate, g, sub, d, norm_first)
            with torch.no_grad():
                expected, mistakes = _placements(x, sub, norm_first)
                g.assert_close(module(x.clone()), expected, hint=tr(f"with norm_first={norm_first}, compute {formula}",
                                                                    f"norm_first={norm_first} 时，计算 {formula}"),
                               mistakes=mistakes)
    with g.case(tr("extra arguments (here scale=-3.0) are passed on to the sub-layer, both placements",
                   "额外的参数（这里是 scale=-3.0）会传给子层，两种放置方式都是")):
        for norm_first in (False, True):
            sub = _Sublayer(g, d)
            module = _residual(candidate, g, sub, d, norm_first)
            with torch.no_grad():
                expected, _ = _placements(x, lambda t: sub(t, scale=-3.0), norm_first)
                g.assert_close(module(x, scale=-3.0), expected, hint=tr("forward(x, *args, **kwargs) calls "
                                  "sublayer(..., *args, **kwargs)",
                                                                        "forward(x, *args, **kwargs) 调用 sublayer(..., *args, "
                                                                        "**kwargs)"), mistakes={tr("the extra argument was dropped",
                                                                              "额外的参数被丢掉了"):
                                                                        _placements(x, sub, norm_first)[0]})
    with g.case(tr("a sub-layer returning (out, weights): return (residual output, weights)",
                   "返回 (out, weights) 的子层：返回 (残差输出, weights)")):
        for norm_first in (False, True):
            sub = _WithWeights(g, d)
            module = _residual(candidate, g, sub, d, norm_first)
            with torch.no_grad():
                got = module(x)
                g.expect(isinstance(got, tuple) and len(got) == 2,
                         tr(f"got {type(got).__name__}; when the sub-layer returns a tuple (out, weights), "
                            f"return (residual output, weights)",
                            f"得到的是 {type(got).__name__}；子层返回元组 (out, weights) "
                            f"时，应返回 (残差输出, weights)"))
                inner = _ln(x) if norm_first else x
                expected, _ = _placements(x, lambda t: sub(t)[0], norm_first)
                g.assert_close(got[0], expected, hint=tr("apply the residual and norm to the first element only",
                                                         "残差和归一化只作用于第一个元素"))
                g.assert_close(got[1], sub(inner)[1], what="weights", hint=tr("pass the weights back unchanged",
                                                                              "把 weights 原样传回"))
    with g.case(tr("dropout=0.5 acts on the sub-layer's output only, in training mode",
                   "dropout=0.5 只在训练模式下作用于子层的输出")):
        _expect_output_dropout(g, candidate, d)
    with g.case(tr("the LayerNorm's weight and bias are parameters of the module",
                   "LayerNorm 的 weight 和 bias 是模块的参数")):
        sub = _Sublayer(g, d)
        module = candidate(d, sub, False)
        n_sub = sum(p.numel() for p in sub.parameters())
        n = sum(p.numel() for p in module.parameters())
        g.expect(n == n_sub + 2 * d, tr(f"the module has {n} parameters; expected the sub-layer's {n_sub} plus "
                    f"2 · d_model = {2 * d} for the LayerNorm (store the sub-layer and the norm as attributes)",
                                        f"模块有 {n} 个参数；应为子层的 {n_sub} 个加上 LayerNorm 的 2 · d_model "
                                        f"= {2 * d} 个（把子层和归一化都存为属性）"))

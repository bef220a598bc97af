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
from course_lib.i18n import tr



# -- gelu --------------------------------------------------------------------------------------


@exercise("ffn.gelu", name="gelu", chapter="06")
def _(candidate, g):
    """gelu(x) = x Φ(x), the exact (erf) form."""
    hint = tr("GELU(x) = x · Φ(x), where Φ is the standard normal CDF, written with torch.erf",
              "GELU(x) = x · Φ(x)，其中 Φ 是标准正态分布的累积分布函数，用 torch.erf "
              "写出")
    x = 3 * g.randn(4, 25)
    with g.case(tr("matches the exact GELU on a random (4, 25) input", "在随机的 (4, 25) 输入上与精确的 GELU 一致")):
        g.assert_close(candidate(x.clone()), gelu(x), hint=hint, atol=1e-7, mistakes={
            tr("the tanh approximation of GELU; this exercise asks for the exact erf form",
               "GELU 的 tanh 近似；本练习要求精确的 erf 形式"):
                F.gelu(x, approximate="tanh"),
            tr("a ReLU", "ReLU 激活"): torch.relu(x),
            tr("SiLU / swish, x · sigmoid(x)", "SiLU / swish，即 x · sigmoid(x)"): x * torch.sigmoid(x),
            tr("the sigmoid approximation x · sigmoid(1.702 x)",
               "sigmoid 近似 x · sigmoid(1.702 x)"): x * torch.sigmoid(1.702 * x),
            tr("Φ(x) alone, without multiplying by x",
               "只有 Φ(x)，没有乘以 x"): 0.5 * (1 + torch.erf(x / math.sqrt(2))),
            tr("erf(x) instead of erf(x / √2)", "用了 erf(x)，而不是 erf(x / √2)"): 0.5 * x * (1 + torch.erf(x)),
        })
    big = torch.tensor([-40.0, -8.0, 0.0, 8.0, 40.0], dtype=torch.float64)
    with g.case(tr("large inputs: GELU(-40) = 0 and GELU(40) = 40, no NaN or overflow",
                   "大输入：GELU(-40) = 0，GELU(40) = 40，没有 NaN 或溢出")):
        g.assert_close(candidate(big.clone()), gelu(big), hint=hint, atol=1e-7)
    with g.case(tr("float32 in, float32 out, shape kept (float64 in, float64 out: the other cases)",
                   "输入 float32 则输出 float32，形状不变（输入 float64 则输出 float64："
                   "其余各项）")):
        got = candidate(x.float().reshape(2, 2, 25))
        g.assert_close(got, gelu(x.float().reshape(2, 2, 25)), hint=hint, rtol=1e-4, atol=1e-5)


# -- PositionwiseFFN ---------------------------------------------------------------------------


def _build(candidate, g: Grader, d_model: int, d_ff: int, **kwargs):
    """The candidate module in float64, eval mode, with the reference's weights copied in by name."""
    module = candidate(d_model, d_ff, **kwargs)
    for name, shape in (("linear1", (d_ff, d_model)), ("linear2", (d_model, d_ff))):
        layer = getattr(module, name, None)
        g.expect(layer is not None and hasattr(layer, "weight") and hasattr(layer, "bias"),
                 tr(f"the module needs an nn.Linear attribute `{name}` (the names torch's TransformerEncoderLayer uses)",
                    f"模块需要一个 nn.Linear 属性 `{name}`（torch 的 TransformerEncoderLayer "
                    f"用的名字）"))
        g.expect(tuple(layer.weight.shape) == shape,
                 tr(f"{name}.weight has shape {tuple(layer.weight.shape)}; expected {shape} "
                    f"({'d_model → d_ff' if name == 'linear1' else 'd_ff → d_model'}, as nn.Linear stores it)",
                    f"{name}.weight 的形状是 {tuple(layer.weight.shape)}；应为 "
                    f"{shape}（{('d_model → d_ff' if name == 'linear1' else 'd_ff → d_model')}，"
                    f"按 nn.Linear 的存储方式）"))
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
            tr("the activation is missing: two linear maps in a row are just one linear map",
               "漏了激活函数：连续两个线性映射只相当于一个线性映射"): l2(l1(x)),
            tr("the activation is applied after the second linear map (the output must stay unbounded)",
               "激活函数用在了第二个线性映射之后（输出必须保持无界）"): act(l2(l1(x))),
            tr("the activation is applied after both linear maps",
               "激活函数用在了两个线性映射之后"): act(l2(act(l1(x)))),
            tr("b1 added after the activation; the activation acts on x W1 + b1, bias included",
               "b1 加在了激活函数之后；激活函数作用于 x W1 + b1，包括偏置"):
                l2(act(x @ l1.weight.T) + l1.bias),
        }
        if ref.activation == "gelu":
            mistakes[tr("a ReLU where GELU was asked for: read the `activation` argument",
                        "要求 GELU 却用了 ReLU：请读取参数 `activation`")] = l2(torch.relu(l1(x)))
            mistakes[tr("the tanh approximation of GELU; use the exact erf form",
                        "GELU 的 tanh 近似；请用精确的 erf 形式")] = l2(F.gelu(l1(x), approximate="tanh"))
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
        raise CaseFailed(tr("in training mode the hidden units were not dropped (dropout missing, or applied to "
                            "the input): apply nn.Dropout(dropout) to the hidden units, after the activation",
                            "训练模式下隐藏单元没有被丢弃（缺少 dropout，或用在了输入上）：请在激活函数之后对隐藏单元使用 "
                            "nn.Dropout(dropout)"))
    if values <= {0.0, 6.0}:
        raise CaseFailed(tr("dropout is applied to the output of linear2; it belongs on the hidden units, "
                            "between the activation and linear2",
                            "dropout 用在了 linear2 的输出上；它应作用于隐藏单元，位于激活函数和 linear2 "
                            "之间"))
    g.expect(values <= {1.0, 3.0, 5.0} and {1.0, 3.0} <= values,
             tr("dropout should zero hidden units (between the activation and linear2) and scale the kept "
                "ones by 1 / (1 - p)",
                "dropout 应把隐藏单元置零（在激活函数和 linear2 之间），并把保留的单元乘以 1 "
                "/ (1 - p)"))


@exercise("ffn.PositionwiseFFN", name="PositionwiseFFN", chapter="06")
def _(candidate, g):
    """PositionwiseFFN(d_model, d_ff, dropout, activation): linear1 → activation → dropout → linear2."""
    hint = tr("expand with linear1, apply the activation to each hidden unit, contract with linear2",
              "用 linear1 扩展，对每个隐藏单元施加激活函数，再用 linear2 收缩")
    x = g.randn(2, 5, 6)
    with g.case(tr("ReLU: matches max(0, x W1 + b1) W2 + b2 on a (2, 5, 6) batch (weights copied by name)",
                   "ReLU：在 (2, 5, 6) 批量上与 max(0, x W1 + b1) W2 + b2 "
                   "一致（按名字复制权重）"), points=2):
        module, ref = _build(candidate, g, 6, 10)
        with torch.no_grad():
            g.assert_close(module(x.clone()), ref(x), hint=hint, mistakes=_ffn_mistakes(ref, x))
    with g.case(tr('activation="gelu" uses the exact GELU', "activation=\"gelu\" 使用精确的 GELU")):
        module, ref = _build(candidate, g, 6, 10, activation="gelu")
        with torch.no_grad():
            g.assert_close(module(x.clone()), ref(x), hint=hint + "; GELU(h) = h · Φ(h)", mistakes=_ffn_mistakes(ref, x))
    with g.case(tr("any leading shape: (6,), (7, 6) and (2, 3, 4, 6) inputs",
                   "任意前导形状：(6,)、(7, 6) 和 (2, 3, 4, 6) 的输入")):
        module, ref = _build(candidate, g, 6, 10)
        with torch.no_grad():
            for shape in ((6,), (7, 6), (2, 3, 4, 6)):
                y = g.randn(*shape)
                g.assert_close(module(y), ref(y), hint=tr("act on the last axis only; every other axis is a position",
                                                          "只作用于最后一个轴；其余每个轴都是位置"))
    with g.case(tr("dropout=0.5 acts on the hidden units in training mode, and is off in eval mode",
                   "dropout=0.5 在训练模式下作用于隐藏单元，在 eval 模式下关闭")):
        module, ref = _build(candidate, g, 6, 64, dropout=0.5)
        with torch.no_grad():
            g.assert_close(module(x), ref(x), hint=tr("in eval mode dropout must do nothing",
                                                      "eval 模式下 dropout 必须什么都不做"))
        _expect_hidden_dropout(g, candidate)
    with g.case(tr('an unknown activation ("tanh") raises ValueError', "未知的激活函数（\"tanh\"）抛出 ValueError")):
        g.expect_value_error(lambda: candidate(6, 10, activation="tanh"),
                            tr("accept only 'relu' and 'gelu', and name `activation` in the message",
                               "只接受 'relu' 和 'gelu'，并在消息中写明 `activation`"))
    with g.case(tr("an input whose last axis is not d_model raises ValueError",
                   "最后一个轴不是 d_model 的输入抛出 ValueError")):
        module, _ = _build(candidate, g, 6, 10)
        g.expect_value_error(lambda: module(g.randn(2, 5, 4)), tr("name `x`, the shape got and (..., d_model) expected",
                                                                  "写明 `x`、得到的形状和应有的 (..., d_model)"))


# -- numpy_ref.positionwise_ffn ----------------------------------------------------------------


def _to_tensor(got) -> torch.Tensor:
    if isinstance(got, torch.Tensor):
        raise CaseFailed(tr("return a numpy array (np.ndarray), not a torch tensor: this is the numpy twin",
                            "返回 numpy 数组（np.ndarray），而不是 torch 张量：这是 numpy 版本"))
    if not isinstance(got, np.ndarray):
        raise CaseFailed(tr(f"return a numpy array (np.ndarray); got {type(got).__name__}",
                            f"返回 numpy 数组（np.ndarray）；得到的是 {type(got).__name__}"))
    return torch.from_numpy(np.asarray(got, dtype=np.float64))


def _np_relu(h: np.ndarray) -> np.ndarray:
    return np.maximum(h, 0.0)


def _np_gelu(h: np.ndarray) -> np.ndarray:
    return gelu(torch.from_numpy(h)).numpy()


@exercise("numpy_ref.positionwise_ffn", name="positionwise_ffn", chapter="06")
def _(candidate, g):
    """positionwise_ffn(x, w1, b1, w2, b2, activation) in numpy: act(x W1 + b1) W2 + b2."""
    hint = tr("h = x @ w1 + b1, apply the activation, then h @ w2 + b2",
              "h = x @ w1 + b1，施加激活函数，再算 h @ w2 + b2")
    x, w1, b1, w2, b2 = (t.numpy() for t in (g.randn(3, 4, 5), g.randn(5, 9), g.randn(9), g.randn(9, 5), g.randn(5)))
    for activation in ("relu", "gelu"):
        act = _np_relu if activation == "relu" else _np_gelu
        mistakes = {
            tr("the activation is missing", "漏了激活函数"): (x @ w1 + b1) @ w2 + b2,
            tr("the activation is applied after the second linear map",
               "激活函数用在了第二个线性映射之后"): act((x @ w1 + b1) @ w2 + b2),
            tr("the activation is applied after both linear maps",
               "激活函数用在了两个线性映射之后"): act(act(x @ w1 + b1) @ w2 + b2),
        }
        mistakes[tr("b1 added after the activation; the activation acts on x W1 + b1, bias included",
                    "b1 加在了激活函数之后；激活函数作用于 x W1 + b1，包括偏置")] = \
            (act(x @ w1) + b1) @ w2 + b2
        if activation == "gelu":
            mistakes[tr("a ReLU where GELU was asked for: read the `activation` argument",
                        "要求 GELU 却用了 ReLU：请读取参数 `activation`")] = \
                np.maximum(x @ w1 + b1, 0) @ w2 + b2
            mistakes[tr("the tanh approximation of GELU; this exercise asks for the exact erf form",
                        "GELU 的 tanh 近似；本练习要求精确的 erf 形式")] = \
                F.gelu(torch.from_numpy(x @ w1 + b1), approximate="tanh").numpy() @ w2 + b2
        with g.case(tr(f'activation="{activation}" on a (3, 4, 5) input, d_ff = 9',
                       f"在 (3, 4, 5) 输入上 activation=\"{activation}\"，d_ff "
                       f"= 9")):
            got = _to_tensor(candidate(x.copy(), w1.copy(), b1.copy(), w2.copy(), b2.copy(), activation=activation))
            expected = numpy_ref.positionwise_ffn(x, w1, b1, w2, b2, activation=activation)
            g.assert_close(got, torch.from_numpy(expected), hint=hint,
                           mistakes={k: torch.from_numpy(v) for k, v in mistakes.items()})
    with g.case(tr("the default activation is ReLU", "默认的激活函数是 ReLU")):
        got = _to_tensor(candidate(x, w1, b1, w2, b2))
        g.assert_close(got, torch.from_numpy(numpy_ref.positionwise_ffn(x, w1, b1, w2, b2)), hint=hint)

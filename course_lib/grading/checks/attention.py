"""Checks for chapter 1 (注意力的本质): softmax, scores, scaled dot-product, kernel regression.

Each exercise is graded against :mod:`course_lib.attention` on seeded random inputs with
the shapes learners get wrong: extra leading batch dimensions, ``L_q != L_k``,
``d_v != d_k``, masks with fully masked rows and logits of about ±1e4. Every plausible wrong
implementation we know of is passed as a ``mistakes=`` entry, so that the hint names it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib import attention as ref
from course_lib.grading.registry import Grader, exercise

# The names of known mistakes, shared by several exercises (tests look for these words).
WRONG_AXIS = "weights normalised over the queries instead of the keys (softmax along the wrong axis)"
NO_SCALE = "scores not scaled by 1/sqrt(d_k)"
SCALE_BY_D = "scores divided by d_k instead of sqrt(d_k)"
MASK_AFTER = "the mask applied after the softmax (masked weights zeroed but the rest not renormalised)"
MASK_INVERTED = "the mask's meaning inverted (True means the query may attend to that key)"
FULL_ROW_UNIFORM = ("a fully masked query spreading its weight evenly over the masked keys "
                    "(it should get zero weights and a zero output)")
OVERFLOW = ("exp() overflowing or underflowing for scores of about ±1e4 (no max-subtraction?): "
            "a softmax is unchanged when every score of one query is shifted by the same amount")
NOT_A_PAIR = "return a pair (out, weights)"
SUM_TO_ONE = "each query's weights should be non-negative and sum to one over the keys (the last axis)"


# -- shared helpers ------------------------------------------------------------------------
def _pair(g: Grader, result) -> tuple[Tensor, Tensor]:
    g.expect(isinstance(result, (tuple, list)) and len(result) == 2,
             f"{NOT_A_PAIR}; got {type(result).__name__}")
    return result[0], result[1]


def _assert_pair(g: Grader, result, expected: tuple[Tensor, Tensor], *, hint: str,
                 mistakes: dict[str, tuple[Tensor, Tensor]] | None = None) -> None:
    """Compare the weights first (they show most mistakes), then the output."""
    out, weights = _pair(g, result)
    mistakes = mistakes or {}
    g.assert_close(weights, expected[1], what="weights", hint=hint,
                   mistakes={name: wrong[1] for name, wrong in mistakes.items()})
    g.assert_close(out, expected[0], what="out", hint=hint,
                   mistakes={name: wrong[0] for name, wrong in mistakes.items()})


def _expect_normalised(g: Grader, weights, mask: Tensor | None = None) -> None:
    g.expect(isinstance(weights, Tensor), f"weights should be a torch.Tensor; got {type(weights).__name__}")
    weights = weights.detach().to(torch.float64)
    g.expect(not torch.isnan(weights).any(), f"weights contain NaN. {SUM_TO_ONE}")
    g.expect((weights >= 0).all(), f"some weights are negative. {SUM_TO_ONE}")
    # A query with no allowed key sums to zero instead.
    target = torch.ones(weights.shape[:-1], dtype=torch.float64)
    if mask is not None:
        target = mask.expand(weights.shape).any(dim=-1).to(torch.float64)
    sums = weights.sum(dim=-1)
    g.expect(sums.shape == target.shape and torch.allclose(sums, target, atol=1e-6),
             f"the weights do not sum to one over the keys. {SUM_TO_ONE}")


def _some_key_per_query(g: Grader, *shape: int) -> Tensor:
    """A random mask with at least one allowed key in every query row."""
    mask = g.rand_mask(*shape, p=0.6)
    keep = g.randint(0, shape[-1], *shape[:-1])  # one key per query that is always allowed
    return mask | torch.nn.functional.one_hot(keep, shape[-1]).bool()


def _with_full_rows(g: Grader, *shape: int, rows: tuple[int, ...]) -> Tensor:
    mask = _some_key_per_query(g, *shape)
    mask[..., list(rows), :] = False  # these queries may attend to nothing
    return mask


def _weights_from_scores(scores: Tensor, mask: Tensor | None, mistake: str | None = None) -> Tensor:
    """Attention weights computed right (``mistake=None``) or in one known wrong way."""
    if mistake == WRONG_AXIS:
        return ref.softmax(scores if mask is None else scores.masked_fill(~mask, float("-inf")), dim=-2)
    if mistake == MASK_AFTER:
        return ref.softmax(scores) * mask
    if mistake == MASK_INVERTED:
        return ref.masked_softmax(scores, ~mask)
    if mistake == FULL_ROW_UNIFORM:
        return ref.softmax(scores.masked_fill(~mask, -1e9))
    return ref.masked_softmax(scores, mask)


def _attend(scores: Tensor, v: Tensor, mask: Tensor | None, mistake: str | None = None):
    weights = _weights_from_scores(scores, mask, mistake)
    return weights @ v, weights


# -- softmax -------------------------------------------------------------------------------
@exercise("attention.softmax", name="softmax", chapter="01",
          description="softmax(x, dim=-1): a numerically stable softmax along one axis")
def _softmax(candidate, g: Grader) -> None:
    x = g.randn(4, 7)
    with g.case("a random (4, 7) input, normalised along the last axis"):
        g.assert_close(candidate(x), ref.softmax(x), hint="each row should become positive weights summing to one",
                       mistakes={"normalising over the wrong axis (dim=0)": ref.softmax(x, dim=0)})

    x = g.randn(2, 3, 5)
    with g.case("extra leading batch dimensions, shape (2, 3, 5)"):
        g.assert_close(candidate(x), ref.softmax(x), hint="only the last axis is normalised; the others are batch axes",
                       mistakes={"normalising over the wrong axis (dim=0)": ref.softmax(x, dim=0),
                                 "normalising over the wrong axis (dim=1)": ref.softmax(x, dim=1),
                                 "normalising over all entries at once instead of along one axis":
                                     ref.softmax(x.flatten(), dim=0).reshape(x.shape)})

    x = g.randn(2, 5, 3)
    with g.case("the `dim` argument: shape (2, 5, 3) with dim=1"):
        g.assert_close(candidate(x, dim=1), ref.softmax(x, dim=1), hint="normalise along the axis `dim` names",
                       mistakes={"the `dim` argument ignored (normalising the last axis)": ref.softmax(x, dim=-1),
                                 "normalising over the wrong axis (dim=0)": ref.softmax(x, dim=0)})

    x = 1e4 * g.randn(3, 6)
    x[2] = -1e4 + g.randn(6)  # a row where every logit is very negative: exp underflows to 0
    with g.case("logits of about ±1e4 neither overflow nor give NaN"):
        g.assert_close(candidate(x), ref.softmax(x), hint=f"looks like {OVERFLOW}")

    x = g.randn(3, 5)
    x[0, 1] = x[2, 0] = x[2, 4] = float("-inf")  # masked-out logits
    with g.case("-inf logits get exactly zero weight and the rest still sum to one"):
        g.assert_close(candidate(x), ref.softmax(x), hint="exp(-inf) is 0: a -inf logit should simply drop out")

    x = g.randn(4, 5)
    x[1] = float("-inf")  # a query whose keys are all masked
    x[3, :4] = float("-inf")
    with g.case("a slice of only -inf (a query with every key masked) gives zeros, not NaN"):
        g.assert_close(candidate(x), ref.softmax(x),
                       hint="every exp() in that slice is 0, so the sum is 0 and 0 / 0 is NaN: such a slice "
                            "must come out as zeros, and the other slices as usual")

    x = g.randn(3, 4)
    before = x.clone()
    with g.case("the input tensor is left unchanged"):
        candidate(x)
        g.expect(torch.equal(x, before), "your softmax changed the tensor it was given: "
                                         "look for an in-place operation on the input")

    x = g.randn(3, 5)
    with g.case("written without PyTorch's own softmax (the task's rule for this exercise)"):
        expected = ref.softmax(x)
        with g.spying(**{"torch.softmax": (torch, "softmax"), "F.softmax": (torch.nn.functional, "softmax"),
                         "Tensor.softmax": (torch.Tensor, "softmax"),
                         "torch.special.softmax": (torch.special, "softmax")}) as called:
            got = candidate(x)
        g.expect(not called, "your softmax calls PyTorch's own softmax; this exercise asks you to write it "
                             "from exp() and a sum (from exercise 3 on, the built-in one is allowed)")
        g.assert_close(got, expected, hint="each row should become positive weights summing to one")

    x = g.randn(2, 6, dtype=torch.float32)
    with g.case("float32 in, float32 out (and float64 in, float64 out: every other case)"):
        g.assert_close(candidate(x), ref.softmax(x), hint="keep the input's dtype", rtol=1e-5, atol=1e-6)


# -- dot_product_scores ----------------------------------------------------------------------
@exercise("attention.dot_product_scores", name="dot_product_scores", chapter="01",
          description="dot_product_scores(q, k): every query's dot product with every key")
def _dot_product_scores(candidate, g: Grader) -> None:
    hint = "scores[..., i, j] should be the dot product of query i with key j"

    def mistakes(q, k):
        return {"queries and keys swapped (k q^T instead of q k^T)": k @ q.transpose(-2, -1),
                "scores already scaled by 1/sqrt(d_k) (scaling belongs to the attention function)":
                    (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])}

    q, k = g.randn(5, 4), g.randn(6, 4)
    with g.case("q (5, 4) against k (6, 4): L_q != L_k"):
        g.assert_close(candidate(q, k), ref.dot_product_scores(q, k), hint=hint, mistakes=mistakes(q, k))

    q, k = g.randn(2, 3, 5, 4), g.randn(2, 3, 6, 4)
    with g.case("leading batch dimensions: q (2, 3, 5, 4), k (2, 3, 6, 4)"):
        g.assert_close(candidate(q, k), ref.dot_product_scores(q, k),
                       hint=hint + "; transpose only the last two axes of k", mistakes=mistakes(q, k))

    q, k = g.randn(2, 1, 3), g.randn(2, 7, 3)
    with g.case("a single query per batch: q (2, 1, 3), k (2, 7, 3)"):
        g.assert_close(candidate(q, k), ref.dot_product_scores(q, k),
                       hint=hint + "; keep the query axis even when L_q = 1", mistakes=mistakes(q, k))


# -- scaled_dot_product_attention ----------------------------------------------------------------
def _sdpa_mistakes(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, names: tuple[str, ...]):
    raw = q @ k.transpose(-2, -1)  # (..., L_q, L_k), unscaled
    d_k = q.shape[-1]
    scaled = raw / math.sqrt(d_k)
    table = {}
    for name in names:
        if name == NO_SCALE:
            table[name] = _attend(raw, v, mask)
        elif name == SCALE_BY_D:
            table[name] = _attend(raw / d_k, v, mask)
        else:
            table[name] = _attend(scaled, v, mask, mistake=name)
    return table


@exercise("attention.scaled_dot_product_attention", name="scaled_dot_product_attention", chapter="01",
          description="scaled_dot_product_attention(q, k, v, mask=None) -> (out, weights)")
def _scaled_dot_product_attention(candidate, g: Grader) -> None:
    hint = ("look at how the scores are scaled and along which axis they are normalised; "
            "each output row mixes the values with that query's weights")
    unmasked = (NO_SCALE, SCALE_BY_D, WRONG_AXIS)

    q, k, v = g.randn(2, 5, 8), g.randn(2, 6, 8), g.randn(2, 6, 3)
    with g.case("q (2, 5, 8), k (2, 6, 8), v (2, 6, 3): L_q != L_k and d_v != d_k"):
        _assert_pair(g, candidate(q, k, v), ref.scaled_dot_product_attention(q, k, v), hint=hint,
                     mistakes=_sdpa_mistakes(q, k, v, None, unmasked))

    q, k, v = g.randn(2, 3, 4, 6), g.randn(2, 3, 5, 6), g.randn(2, 3, 5, 2)
    with g.case("two leading batch dimensions (B, H) = (2, 3)"):
        _assert_pair(g, candidate(q, k, v), ref.scaled_dot_product_attention(q, k, v), hint=hint,
                     mistakes=_sdpa_mistakes(q, k, v, None, unmasked))

    q, k, v = 70 * g.randn(2, 4, 4), 70 * g.randn(2, 5, 4), g.randn(2, 5, 3)
    with g.case("scaled scores of about ±1e4 neither overflow nor give NaN"):
        _assert_pair(g, candidate(q, k, v), ref.scaled_dot_product_attention(q, k, v),
                     hint=f"looks like {OVERFLOW}", mistakes=_sdpa_mistakes(q, k, v, None, unmasked))

    q, k, v = g.randn(2, 5, 4), g.randn(2, 6, 4), g.randn(2, 6, 3)
    mask = _some_key_per_query(g, 2, 5, 6)
    with g.case("a (B, L_q, L_k) mask; True means the query may attend to that key"):
        _assert_pair(g, candidate(q, k, v, mask=mask), ref.scaled_dot_product_attention(q, k, v, mask),
                     hint="masked keys must get zero weight and the allowed ones must still sum to one",
                     mistakes=_sdpa_mistakes(q, k, v, mask, (MASK_AFTER, MASK_INVERTED, NO_SCALE, WRONG_AXIS)))

    q, k, v = g.randn(5, 4), g.randn(7, 4), g.randn(7, 2)
    mask = _some_key_per_query(g, 5, 7)
    with g.case("an (L_q, L_k) mask without batch dimensions"):
        _assert_pair(g, candidate(q, k, v, mask=mask), ref.scaled_dot_product_attention(q, k, v, mask),
                     hint="masked keys must get zero weight and the allowed ones must still sum to one",
                     mistakes=_sdpa_mistakes(q, k, v, mask, (MASK_AFTER, MASK_INVERTED)))

    q, k, v = g.randn(2, 5, 4), g.randn(2, 6, 4), g.randn(2, 6, 3)
    mask = _with_full_rows(g, 2, 5, 6, rows=(1, 3))
    with g.case("fully masked queries get zero weights and a zero output, never NaN"):
        _assert_pair(g, candidate(q, k, v, mask=mask), ref.scaled_dot_product_attention(q, k, v, mask),
                     hint="a query whose keys are all masked should get all-zero weights and a zero output",
                     mistakes=_sdpa_mistakes(q, k, v, mask, (FULL_ROW_UNIFORM, MASK_AFTER, MASK_INVERTED)))

    q, k, v = g.randn(3, 4, 5), g.randn(3, 6, 5), g.randn(3, 6, 2)
    mask = _with_full_rows(g, 3, 4, 6, rows=(2,))
    with g.case("the weights are non-negative and sum to one over the keys"):
        _, weights = _pair(g, candidate(q, k, v, mask=mask))
        _expect_normalised(g, weights, mask)


# -- nadaraya_watson -----------------------------------------------------------------------
NW_NO_HALF = "the 1/2 missing from the Gaussian kernel's exponent"
NW_NOT_SQUARED = "the distance not squared (|x - x_i| where the kernel needs the squared distance)"
NW_SIGN = "the exponent's sign flipped (far keys weighted more than near ones)"
NW_SIGMA = "dividing by the bandwidth instead of its square"
NW_NO_BANDWIDTH = "the bandwidth argument ignored"


def _nw(queries: Tensor, keys: Tensor, values: Tensor, bandwidth: float, mistake: str | None = None):
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)  # (..., L_q, L_k)
    logits = {
        None: -(diff**2) / (2 * bandwidth**2),
        NW_NO_HALF: -(diff**2) / bandwidth**2,
        NW_NOT_SQUARED: -diff.abs() / (2 * bandwidth**2),
        NW_SIGN: diff**2 / (2 * bandwidth**2),
        NW_SIGMA: -(diff**2) / (2 * bandwidth),
        NW_NO_BANDWIDTH: -(diff**2) / 2,
        WRONG_AXIS: -(diff**2) / (2 * bandwidth**2),
    }[mistake]
    weights = ref.softmax(logits, dim=-2 if mistake == WRONG_AXIS else -1)
    return (weights @ values.unsqueeze(-1)).squeeze(-1), weights


def _nw_mistakes(queries, keys, values, bandwidth, names):
    return {name: _nw(queries, keys, values, bandwidth, name) for name in names}


@exercise("attention.nadaraya_watson", name="nadaraya_watson", chapter="01",
          description="nadaraya_watson(queries, keys, values, *, bandwidth=1.0) -> (out, weights)")
def _nadaraya_watson(candidate, g: Grader) -> None:
    hint = ("each query's weights are a softmax over the keys of the Gaussian kernel's exponent, "
            "which depends on the query-key distance and the bandwidth")

    queries, keys, values = g.randn(5), 2 * g.randn(8), g.randn(8)
    with g.case("5 queries, 8 keys, default bandwidth"):
        _assert_pair(g, candidate(queries, keys, values),
                     ref.nadaraya_watson(queries, keys, values), hint=hint,
                     mistakes=_nw_mistakes(queries, keys, values, 1.0,
                                           (NW_NO_HALF, NW_NOT_SQUARED, NW_SIGN, WRONG_AXIS)))

    queries, keys, values = g.randn(4), 2 * g.randn(7), g.randn(7)
    with g.case("bandwidth=0.5"):
        _assert_pair(g, candidate(queries, keys, values, bandwidth=0.5),
                     ref.nadaraya_watson(queries, keys, values, bandwidth=0.5), hint=hint,
                     mistakes=_nw_mistakes(queries, keys, values, 0.5,
                                           (NW_SIGMA, NW_NO_BANDWIDTH, NW_NO_HALF, NW_NOT_SQUARED)))

    queries, keys, values = g.randn(3, 5), 2 * g.randn(3, 8), g.randn(3, 8)
    with g.case("a leading batch dimension: queries (3, 5), keys and values (3, 8), bandwidth=2.0"):
        _assert_pair(g, candidate(queries, keys, values, bandwidth=2.0),
                     ref.nadaraya_watson(queries, keys, values, bandwidth=2.0),
                     hint=hint + "; compare queries and keys within each batch element only",
                     mistakes=_nw_mistakes(queries, keys, values, 2.0, (NW_SIGMA, NW_NO_HALF, WRONG_AXIS)))

    queries, keys, values = g.randn(2, 4), g.randn(2, 6), g.randn(2, 6, 3)
    with g.case("a vector per key: values (2, 6, 3) give out (2, 4, 3)"):
        expected = ref.nadaraya_watson(queries, keys, values, bandwidth=0.7)
        _assert_pair(g, candidate(queries, keys, values, bandwidth=0.7), expected,
                     hint="with values of shape (..., L_k, d_v) each output is a weighted sum of value "
                          "vectors: out has shape (..., L_q, d_v)")

    keys, values = g.randn(6), g.randn(6)
    queries = torch.tensor([0.0, 150.0, -150.0], dtype=torch.float64)  # exponents around -1e4
    with g.case("queries far from every key (exponents of about -1e4) give no NaN"):
        _assert_pair(g, candidate(queries, keys, values), ref.nadaraya_watson(queries, keys, values),
                     hint=f"looks like {OVERFLOW}")

    queries, keys, values = g.randn(2, 6), g.randn(2, 4), g.randn(2, 4)
    with g.case("the weights are non-negative and sum to one over the keys"):
        _, weights = _pair(g, candidate(queries, keys, values, bandwidth=0.8))
        _expect_normalised(g, weights)


# -- additive_attention --------------------------------------------------------------------
ADD_NO_TANH = "the tanh missing from the additive score"
ADD_SWAPPED = "w_q and w_k swapped (w_q projects the queries, w_k the keys)"


def _additive(q, k, v, w_q, w_k, w_v, mask=None, mistake=None):
    if mistake == ADD_SWAPPED:
        w_q, w_k = w_k, w_q
    hidden = (q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)  # (..., L_q, L_k, h)
    scores = (hidden if mistake == ADD_NO_TANH else torch.tanh(hidden)) @ w_v  # (..., L_q, L_k)
    return _attend(scores, v, mask, mistake if mistake not in (ADD_NO_TANH, ADD_SWAPPED) else None)


def _additive_case(g: Grader, candidate, q, k, v, *, h: int, mask=None, names=(), hint: str) -> None:
    w_q, w_k, w_v = g.randn(q.shape[-1], h), g.randn(k.shape[-1], h), g.randn(h)
    expected = ref.additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    mistakes = {name: _additive(q, k, v, w_q, w_k, w_v, mask, name) for name in names}
    kwargs = {"w_q": w_q, "w_k": w_k, "w_v": w_v}
    if mask is not None:
        kwargs["mask"] = mask
    _assert_pair(g, candidate(q, k, v, **kwargs), expected, hint=hint, mistakes=mistakes)


@exercise("attention.additive_attention", name="additive_attention", chapter="01",
          description="additive_attention(q, k, v, *, w_q, w_k, w_v, mask=None) -> (out, weights)")
def _additive_attention(candidate, g: Grader) -> None:
    hint = ("score each query-key pair with the small network w_v · tanh(projected query + projected key), "
            "then softmax over the keys")
    masked_hint = "masked keys must get zero weight and the allowed ones must still sum to one"

    q, k, v = g.randn(2, 3, 4), g.randn(2, 5, 4), g.randn(2, 5, 3)
    with g.case("queries and keys of the same width: q (2, 3, 4), k (2, 5, 4)"):
        _additive_case(g, candidate, q, k, v, h=6, names=(ADD_SWAPPED, ADD_NO_TANH, WRONG_AXIS), hint=hint)

    q, k, v = g.randn(2, 4, 3), g.randn(2, 6, 5), g.randn(2, 6, 2)
    with g.case("queries and keys of different widths: q (2, 4, 3), k (2, 6, 5), v (2, 6, 2)"):
        _additive_case(g, candidate, q, k, v, h=7, names=(ADD_NO_TANH, WRONG_AXIS), hint=hint)

    q, k, v = g.randn(2, 2, 3, 4), g.randn(2, 2, 5, 3), g.randn(2, 2, 5, 2)
    with g.case("two leading batch dimensions (2, 2)"):
        _additive_case(g, candidate, q, k, v, h=5, names=(ADD_NO_TANH, WRONG_AXIS), hint=hint)

    q, k, v = g.randn(2, 4, 3), g.randn(2, 6, 3), g.randn(2, 6, 2)
    mask = _some_key_per_query(g, 2, 4, 6)
    with g.case("a (B, L_q, L_k) mask; True means the query may attend to that key"):
        _additive_case(g, candidate, q, k, v, h=5, mask=mask, names=(MASK_AFTER, MASK_INVERTED), hint=masked_hint)

    q, k, v = g.randn(2, 4, 3), g.randn(2, 6, 3), g.randn(2, 6, 2)
    mask = _with_full_rows(g, 2, 4, 6, rows=(0, 2))
    with g.case("fully masked queries get zero weights and a zero output, never NaN"):
        _additive_case(g, candidate, q, k, v, h=5, mask=mask,
                       names=(FULL_ROW_UNIFORM, MASK_AFTER, MASK_INVERTED),
                       hint="a query whose keys are all masked should get all-zero weights and a zero output")

    q, k, v = g.randn(3, 5, 2), g.randn(3, 4, 2), g.randn(3, 4, 3)
    w_q, w_k, w_v = g.randn(2, 4), g.randn(2, 4), g.randn(4)
    with g.case("the weights are non-negative and sum to one over the keys"):
        _, weights = _pair(g, candidate(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v))
        _expect_normalised(g, weights)

"""Checks for chapter 9's exercises: Embeddings, OutputProjection, parameter_count.

Known mistakes named by the hints: the sqrt(d_model) scale missing, divided instead of
multiplied, or moved to the output; the default N(0, 1) initialisation; a copied
(untied) matrix when tying was asked; a tied matrix counted once per module.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.embedding import Embeddings, OutputProjection, build_embeddings, parameter_count
from course_lib.grading.registry import CaseFailed, exercise
from course_lib.positional import PositionalEncoding


def _weight_of(module, shape: tuple[int, int]) -> torch.Tensor:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise CaseFailed("the module has no attribute `weight`: keep the matrix as an nn.Parameter named weight")
    if tuple(weight.shape) != shape:
        raise CaseFailed(f"weight has shape {tuple(weight.shape)}; expected {shape} (one row per word)")
    return weight


@exercise("embedding.Embeddings", name="Embeddings", chapter="09")
def _(candidate, g):
    """Embeddings(vocab_size, d_model): ids (B, L) -> E[ids] * sqrt(d_model), shape (B, L, d_model)."""
    V, d = 12, 16
    table = g.randn(V, d, dtype=torch.float32)
    ids = g.randint(0, V, 3, 5)
    with g.case("ids of shape (3, 5) give E[ids] * sqrt(d_model), shape (3, 5, 16)", points=2):
        module = candidate(V, d)
        with torch.no_grad():
            _weight_of(module, (V, d)).copy_(table)
        g.assert_close(
            module(ids), table[ids] * math.sqrt(d), what="embeddings",
            hint="look up each id's row, then multiply by sqrt(d_model) (section 3.4)",
            mistakes={
                "the sqrt(d_model) scale is missing": table[ids],
                "the rows are divided by sqrt(d_model) instead of multiplied": table[ids] / math.sqrt(d),
                "the rows are multiplied by d_model instead of sqrt(d_model)": table[ids] * d,
                "the rows are scaled by sqrt(vocab_size) instead of sqrt(d_model)": table[ids] * math.sqrt(V),
            },
        )
    with g.case("the matrix starts as N(0, 1/d_model) (d_model = 64, 2000 words)"):
        torch.manual_seed(0)
        std = _weight_of(candidate(2000, 64), (2000, 64)).detach().std().item()
        if abs(std - 1.0) < 0.05:
            raise CaseFailed(f"the weights have std {std:.3f}: looks like the default nn.Embedding init "
                             "N(0, 1), which the sqrt(d_model) scale then blows up to norm d_model; "
                             "initialise with std = d_model ** -0.5")
        g.expect(abs(std - 64**-0.5) < 0.1 * 64**-0.5,
                 f"the weights have std {std:.3f}; expected about d_model ** -0.5 = {64**-0.5:.3f}")
    with g.case("ids out of range or not integers raise ValueError"):
        module = candidate(V, d)
        g.expect_value_error(lambda: module(torch.tensor([[0, V]])), f"id {V} has no row in a table of "
                            f"{V} words: raise ValueError naming ids", naming="ids")
        g.expect_value_error(lambda: module(torch.tensor([[-1, 0]])), "a negative id has no row: raise ValueError naming ids",
                             naming="ids")
        g.expect_value_error(lambda: module(torch.tensor([[0.0, 1.0]])),
                            "float ids are not token ids: raise ValueError naming ids and its dtype",
                             naming="ids")


@exercise("embedding.OutputProjection", name="OutputProjection", chapter="09")
def _(candidate, g):
    """OutputProjection(d_model, vocab_size, tied_to=None, bias=False): h -> h @ W^T (+ b)."""
    V, d = 12, 8
    h = g.randn(2, 5, d, dtype=torch.float32)
    table = g.randn(V, d, dtype=torch.float32)
    hint = "logits = h @ W^T, one score per word: weight is (vocab_size, d_model)"
    with g.case("untied: h of shape (2, 5, 8) gives logits h @ W^T of shape (2, 5, 12)"):
        module = candidate(d, V)
        with torch.no_grad():
            _weight_of(module, (V, d)).copy_(table)
        g.assert_close(module(h), h @ table.T, what="logits", hint=hint, mistakes={
            "the logits are scaled by sqrt(d_model); that scale belongs to the embedding lookup only":
                h @ table.T * math.sqrt(d),
            "the logits went through a softmax; return raw logits (cross_entropy applies log-softmax itself)":
                torch.softmax(h @ table.T, dim=-1),
        })
    with g.case("tied_to=embeddings: the projection uses the embedding's very tensor", points=2):
        emb = Embeddings(V, d)
        module = candidate(d, V, tied_to=emb)
        weight = _weight_of(module, (V, d))
        with torch.no_grad():
            emb.weight.copy_(table)  # changed after tying: a shared tensor sees it, a copy does not
        got = module(h)
        if weight.data_ptr() != emb.weight.data_ptr():
            raise CaseFailed("looks like an untied projection: weight is a separate copy of the embedding "
                             "matrix, so training one never changes the other. Assign the embedding's "
                             "Parameter itself (self.weight = tied_to.weight), do not clone it")
        g.assert_close(got, h @ table.T, what="logits", hint=hint)
    with g.case("tied: a gradient step on the projection changes the embedding lookup"):
        emb = Embeddings(V, d)
        module = candidate(d, V, tied_to=emb)
        ids = torch.arange(V)
        before = emb(ids).detach().clone()
        params = list(module.parameters())
        g.expect(any(p is emb.weight for p in params),
                 "the embedding's weight is not among the projection's parameters(): an optimizer "
                 "given this module would not train it")
        optimizer = torch.optim.SGD(params, lr=1.0)
        torch.nn.functional.cross_entropy(module(h[0]), ids[:5]).backward()
        optimizer.step()
        g.expect(not torch.allclose(emb(ids), before), "one SGD step on the projection left the embedding "
                                                        "unchanged: the two do not share one matrix")
    with g.case("bias=True adds a learned vector of vocab_size numbers"):
        module = candidate(d, V, bias=True)
        bias = getattr(module, "bias", None)
        g.expect(isinstance(bias, nn.Parameter) and tuple(bias.shape) == (V,),
                 f"expected a parameter `bias` of shape ({V},)")
        g.expect(torch.all(bias.detach() == 0), "a fresh bias should start at zero, as the task says "
                 "(every word's logit starts from the matrix product alone)")
        with torch.no_grad():
            _weight_of(module, (V, d)).copy_(table)
            bias.copy_(torch.arange(V, dtype=bias.dtype))
        g.assert_close(module(h), h @ table.T + torch.arange(V), what="logits", hint="logits = h @ W^T + b")


def _tied_pair(V: int, d: int):
    emb = Embeddings(V, d)
    return emb, OutputProjection(d, V, tied_to=emb)


@exercise("embedding.parameter_count", name="parameter_count", chapter="09")
def _(candidate, g):
    """parameter_count(*modules) -> int, each distinct parameter tensor counted once."""
    with g.case("one nn.Linear(4, 3): 4*3 weights + 3 biases"):
        got = candidate(nn.Linear(4, 3))
        g.expect(got == 15, f"got {got!r}; expected 15")
    with g.case("an embedding and a projection tied to it count the shared matrix once", points=2):
        emb, proj = _tied_pair(50, 8)
        got = candidate(emb, proj)
        naive = sum(p.numel() for m in (emb, proj) for p in m.parameters())
        if got == naive:
            raise CaseFailed(f"got {got}: the shared matrix is counted once per module that uses it. "
                             "Remember which tensors you have already counted (e.g. by id)")
        g.expect(got == parameter_count(emb, proj), f"got {got!r}; the two modules hold one (50, 8) matrix")
    with g.case("the paper's three-way sharing (vocab 64, d_model 16) and no sharing"):
        shared = build_embeddings(16, src_vocab_size=64, tgt_vocab_size=64, shared_vocab=True)
        separate = build_embeddings(16, src_vocab_size=64, tgt_vocab_size=64, tie_output=False)
        got = candidate(*shared), candidate(*separate)
        g.expect(got == (64 * 16, 3 * 64 * 16), f"got {got}; expected one matrix for the shared layers "
                                                f"and three for the separate ones")
    with g.case("a positional encoding's table is a buffer: 0 parameters"):
        got = candidate(PositionalEncoding(16, max_len=100))
        g.expect(got == 0, f"got {got!r}; buffers are not parameters: count module.parameters() only")

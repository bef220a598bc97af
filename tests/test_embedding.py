"""Tests for course_lib.embedding: the scaled lookup, the tied projection, the parameter count.

References: ``torch.nn.Embedding``, a one-hot matrix product, ``torch.nn.Linear``, and
parameter counts computed from the shapes.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.embedding import (
    EmbeddingLayers,
    Embeddings,
    OutputProjection,
    _range_checked,
    build_embeddings,
    parameter_count,
)
from course_lib.positional import PositionalEncoding


def test_lookup_is_nn_embedding_times_sqrt_d_model():
    torch.manual_seed(0)
    V, d = 11, 16
    emb = Embeddings(V, d)
    reference = torch.nn.Embedding(V, d)
    with torch.no_grad():
        reference.weight.copy_(emb.weight)
    ids = torch.randint(V, (3, 5))
    out = emb(ids)
    assert out.shape == (3, 5, d)
    torch.testing.assert_close(out, reference(ids) * 4.0)  # sqrt(16) = 4: not divided, not missing
    torch.testing.assert_close(out, F.one_hot(ids, V).float() @ emb.weight * math.sqrt(d))


def test_initialisation_is_normal_with_variance_one_over_d_model():
    torch.manual_seed(0)
    V, d = 2000, 64
    emb = Embeddings(V, d)
    assert emb.weight.std().item() == pytest.approx(d**-0.5, rel=0.02)
    assert emb.weight.mean().abs().item() < 0.01
    # So a scaled token vector has norm about sqrt(d), like a position's sqrt(d / 2).
    norms = emb(torch.arange(V)).norm(dim=-1)
    assert norms.mean().item() == pytest.approx(math.sqrt(d), rel=0.05)


def test_gradient_reaches_only_the_rows_looked_up():
    emb = Embeddings(10, 4)
    emb(torch.tensor([[1, 3, 3]])).sum().backward()
    used = torch.zeros(10, dtype=torch.bool)
    used[[1, 3]] = True
    assert (emb.weight.grad[used] != 0).all() and (emb.weight.grad[~used] == 0).all()
    torch.testing.assert_close(emb.weight.grad[3], torch.full((4,), 2 * math.sqrt(4)))  # used twice


@pytest.mark.parametrize(
    "ids,match",
    [
        (torch.tensor([[0, 10]]), "ids contains 10; expected ids in \\[0, vocab_size=10\\)"),
        (torch.tensor([-1, 2]), "ids contains -1"),
        (torch.tensor([1.0, 2.0]), "ids=.*dtype torch.float32; expected integer token ids"),
        (torch.tensor([True, False]), "ids=.*dtype torch.bool; expected integer token ids"),
        ([1, 2], "ids is a list; expected a torch.Tensor"),
    ],
)
def test_bad_ids_raise_naming_the_argument(ids, match):
    with pytest.raises(ValueError, match=match):
        Embeddings(10, 4)(ids)


# -- where the id range is checked (a host sync on a GPU) ---------------------------------------


class _OnDevice:
    """Stands in for a tensor on ``device`` (no CUDA needed): what ``_range_checked`` reads."""

    def __init__(self, device: str, numel: int = 6):
        self.device, self._numel = torch.device(device), numel

    def numel(self) -> int:
        return self._numel


def test_range_is_checked_on_cpu_tensors_only():
    assert _range_checked(torch.tensor([[1, 2, 3]]))
    assert not _range_checked(torch.zeros(0, dtype=torch.long))  # nothing to check
    assert not _range_checked(torch.zeros(2, 3, dtype=torch.long, device="meta"))  # no values
    # On an accelerator .min().item() would wait for the queued kernels at every step.
    for device in ("cuda", "cuda:1", "mps", "xpu"):
        assert not _range_checked(_OnDevice(device)), device


def test_range_is_not_checked_while_torch_compile_traces(monkeypatch):
    ids = torch.tensor([[1, 2, 3]])
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert not _range_checked(ids)  # .item() would break the graph


def test_forward_follows_the_range_policy(monkeypatch):
    """Where the policy says no, forward skips the check (no .item()) and leaves it to the lookup."""
    import course_lib.embedding as embedding

    emb, bad = Embeddings(10, 4), torch.tensor([[0, 10]])
    with pytest.raises(ValueError, match="ids contains 10"):
        emb(bad)
    monkeypatch.setattr(embedding, "_range_checked", lambda ids: False)
    with pytest.raises(IndexError):  # torch's own error on the CPU: the check did not run
        emb(bad)
    with pytest.raises(ValueError, match="dtype torch.float32"):  # the dtype check costs no sync: kept
        emb(torch.tensor([1.0]))


@pytest.mark.gpu
def test_lookup_on_cuda_does_not_sync():
    emb = Embeddings(10, 4).cuda()
    ids = torch.randint(10, (3, 5), device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host sync inside raises
    try:
        out = emb(ids)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(out, emb.weight[ids] * 2.0)


@pytest.mark.parametrize("V,d,name", [(0, 4, "vocab_size"), (5, -1, "d_model"), (5.0, 4, "vocab_size")])
def test_bad_sizes_raise(V, d, name):
    with pytest.raises(ValueError, match=name):
        Embeddings(V, d)


# -- OutputProjection --------------------------------------------------------------------------


def test_untied_projection_matches_nn_linear():
    torch.manual_seed(0)
    proj = OutputProjection(8, 13, bias=True)
    torch.nn.init.normal_(proj.bias)
    linear = torch.nn.Linear(8, 13)
    with torch.no_grad():
        linear.weight.copy_(proj.weight)
        linear.bias.copy_(proj.bias)
    h = torch.randn(2, 5, 8)
    torch.testing.assert_close(proj(h), linear(h))
    assert not proj.tied
    probs = torch.softmax(proj(h), dim=-1)  # next-token distribution
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 5))


def test_tied_projection_shares_one_tensor_and_trains_the_embedding():
    torch.manual_seed(0)
    emb = Embeddings(13, 8)
    proj = OutputProjection(8, 13, tied_to=emb)
    assert proj.weight is emb.weight and proj.weight.data_ptr() == emb.weight.data_ptr() and proj.tied
    h = torch.randn(4, 8)
    torch.testing.assert_close(proj(h), h @ emb.weight.T)  # no sqrt(d_model) on the way out
    before = emb(torch.arange(13)).detach().clone()
    optimizer = torch.optim.SGD(proj.parameters(), lr=0.5)
    F.cross_entropy(proj(h), torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()
    after = emb(torch.arange(13))
    assert not torch.allclose(before, after)  # a step on the projection moved the lookup
    assert (after[:4] - before[:4]).abs().sum() > 0


def test_tying_to_a_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"tied_to has a weight of shape \(13, 8\)"):
        OutputProjection(8, 12, tied_to=Embeddings(13, 8))
    with pytest.raises(ValueError, match="h has shape"):
        OutputProjection(8, 12)(torch.zeros(2, 7))


# -- build_embeddings and parameter_count ------------------------------------------------------


def test_three_way_sharing_is_one_matrix():
    layers = build_embeddings(16, src_vocab_size=50, tgt_vocab_size=50, shared_vocab=True, tie_output=True)
    assert isinstance(layers, EmbeddingLayers)
    src, tgt, out = layers
    assert (layers.source, layers.target, layers.output_projection) == (src, tgt, out)
    assert src.weight.data_ptr() == tgt.weight.data_ptr() == out.weight.data_ptr()
    assert parameter_count(src, tgt, out) == 50 * 16
    assert sum(p.numel() for m in layers for p in m.parameters()) == 3 * 50 * 16  # the naive count


def test_separate_vocabularies_tie_only_the_target_side():
    src, tgt, out = build_embeddings(16, src_vocab_size=30, tgt_vocab_size=40)
    assert out.weight is tgt.weight and src.weight is not tgt.weight
    assert parameter_count(src, tgt, out) == 30 * 16 + 40 * 16
    untied = build_embeddings(16, src_vocab_size=30, tgt_vocab_size=40, tie_output=False, bias=True)
    assert parameter_count(*untied) == 30 * 16 + 40 * 16 + 40 * 16 + 40
    assert len({m.weight.data_ptr() for m in untied}) == 3


def test_shared_vocab_needs_equal_sizes():
    with pytest.raises(ValueError, match="src_vocab_size=30 and tgt_vocab_size=40"):
        build_embeddings(8, src_vocab_size=30, tgt_vocab_size=40, shared_vocab=True)


def test_paper_size_saving_counted_on_the_meta_device():
    V, d = 37000, 512
    tied = build_embeddings(d, src_vocab_size=V, tgt_vocab_size=V, shared_vocab=True, device="meta")
    untied = build_embeddings(d, src_vocab_size=V, tgt_vocab_size=V, tie_output=False, device="meta")
    assert tied.target.weight.is_meta
    assert parameter_count(*tied) == V * d == 18_944_000
    assert parameter_count(*untied) - parameter_count(*tied) == 2 * V * d


def test_parameter_count_skips_buffers_and_accepts_parameter_lists():
    pe = PositionalEncoding(16, max_len=100)
    emb = Embeddings(10, 16)
    assert parameter_count(pe) == 0
    assert parameter_count(emb, pe) == 160
    assert parameter_count([emb.weight, emb.weight]) == 160


def test_embeddings_without_the_scale_return_the_rows_themselves():
    torch.manual_seed(0)
    scaled, plain = Embeddings(10, 16), Embeddings(10, 16, scale=False)
    plain.load_state_dict(scaled.state_dict())
    ids = torch.tensor([[1, 2, 9]])
    torch.testing.assert_close(plain(ids), scaled.weight[ids])
    torch.testing.assert_close(scaled(ids), scaled.weight[ids] * 4.0)
    with pytest.raises(ValueError, match="scale=1; expected True or False"):
        Embeddings(10, 16, scale=1)

"""course_lib._validate: the shared input checks and their one message style."""

import numpy as np
import pytest
import torch

from course_lib import _validate as v


@pytest.mark.parametrize("good, expected", [(3, 3), (np.int64(3), 3), (torch.tensor(3), 3), (np.int32(1), 1)])
def test_positive_int_accepts_integer_likes(good, expected):
    got = v.positive_int("d_model", good)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("bad", [True, False, 0, -2, 2.0, 2.5, "2", None, torch.tensor([2]), torch.tensor(2.0)])
def test_positive_int_refuses_with_name_value_expected(bad):
    with pytest.raises(ValueError, match=r"^d_model=.*; expected a positive int"):
        v.positive_int("d_model", bad)


def test_non_negative_int_and_range():
    assert v.non_negative_int("offset", 0) == 0
    with pytest.raises(ValueError, match=r"^offset=-1; expected a non-negative int"):
        v.non_negative_int("offset", -1)
    with pytest.raises(ValueError, match=r"^n=11; expected an int with 0 <= n <= 10$"):
        v.integer("n", 11, minimum=0, maximum=10)


@pytest.mark.parametrize("good", [0, 0.0, 0.5, np.float32(0.25), torch.tensor(0.1)])
def test_probability_accepts(good):
    got = v.probability("dropout", good)
    assert type(got) is float and 0.0 <= got < 1.0


@pytest.mark.parametrize("bad", [1, 1.0, -0.1, float("nan"), float("inf"), True, "0.1", None, [0.1]])
def test_probability_is_a_value_error_naming_the_argument(bad):
    with pytest.raises(ValueError, match=r"^dropout=.*; expected a probability 0 <= dropout < 1$"):
        v.probability("dropout", bad)


@pytest.mark.parametrize("bad", [0, -1e-5, float("nan"), float("-inf"), float("inf"), False])
def test_positive_refuses(bad):
    with pytest.raises(ValueError, match=r"^eps=.*; expected a finite number > 0$"):
        v.positive("eps", bad)


def test_real_interval_ends():
    assert v.real("x", 1.0, low=0.0, high=1.0) == 1.0
    with pytest.raises(ValueError, match=r"expected a number with 0 < x <= 1$"):
        v.real("x", 0.0, low=0.0, high=1.0, low_open=True)
    with pytest.raises(ValueError, match=r"expected a number with 0 <= x < 1$"):
        v.real("x", 1.0, low=0.0, high=1.0, high_open=True)


def test_boolean_one_of_tensor():
    assert v.boolean("bias", False) is False
    for bad in (0, 1, "True", None):
        with pytest.raises(ValueError, match=r"^bias=.*; expected True or False$"):
            v.boolean("bias", bad)
    assert v.one_of("activation", "relu", ("relu", "gelu")) == "relu"
    with pytest.raises(ValueError, match=r"^activation='tanh'; expected one of 'relu', 'gelu'$"):
        v.one_of("activation", "tanh", ("relu", "gelu"))
    x = torch.zeros(2, 3)
    assert v.tensor("q", x) is x
    with pytest.raises(ValueError, match=r"^q is a list; expected a torch.Tensor of shape \(B, L, D\)$"):
        v.tensor("q", [1.0], shape="(B, L, D)")
    err = v.shape_error("q", x, "(B, L_q, d_k)", "three axes")
    assert str(err) == "q has shape (2, 3); expected (B, L_q, d_k) (three axes)"


def test_long_values_are_shortened():
    err = v.fail("lengths", list(range(100)), "a list")
    assert len(str(err)) < 120 and "..." in str(err)


def test_broadcast_shape_agrees_with_torch_on_every_small_case():
    # Every pair and some triples of shapes of rank 0-3 with sizes 1-3 (and 0): the same
    # shape as torch.broadcast_shapes, or a RuntimeError exactly where torch raises one.
    import itertools

    sizes = [(), *[(a,) for a in (0, 1, 2, 3)], *itertools.product((1, 2, 3), repeat=2),
             *itertools.product((1, 3), repeat=3)]
    cases = [*itertools.product(sizes, repeat=2), *itertools.product(sizes[:9], repeat=3)]
    for shapes in cases:
        try:
            want = tuple(torch.broadcast_shapes(*shapes))
        except RuntimeError:
            with pytest.raises(RuntimeError, match="do not broadcast"):
                v.broadcast_shape(*shapes)
        else:
            assert v.broadcast_shape(*shapes) == want, shapes
    assert v.broadcast_shape(torch.Size([2, 1, 4]), torch.Size([3, 1])) == (2, 3, 4)
    assert v.broadcast_shape((5,)) == (5,)

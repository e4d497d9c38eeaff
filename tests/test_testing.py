"""The public testing kit itself: gradcheck catches wrong gradients and says where, assert_close
reports like torch, the hypothesis strategies keep their promises, and the examples in
docs/testing.md run as written."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl.autograd import Function
from minidl.testing import GradcheckError, assert_close, gradcheck
from minidl.testing import strategies as mst
from minidl.testing.opinfo import keep_away

DOCS = Path(__file__).resolve().parent.parent / "docs"


def f64(*shape, seed=0, requires_grad=True):
    rng = np.random.default_rng(seed)
    return minidl.tensor(rng.uniform(-1, 1, shape), dtype=minidl.float64,
                         requires_grad=requires_grad)


class WrongSquare(Function):
    """y = x^2 with a backward that is off by `factor` at one element."""

    factor = 1.0

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        scale = np.ones(x.shape)
        scale.reshape(-1)[-1] = WrongSquare.factor
        return g * x * 2.0 * minidl.from_numpy(scale)


@pytest.fixture
def wrong():
    WrongSquare.factor = 1.3
    yield WrongSquare
    WrongSquare.factor = 1.0


# ---- gradcheck ----------------------------------------------------------------------------------
def test_gradcheck_passes_correct_gradients():
    x, w = f64(3, 4), f64(4, 2, seed=1)
    assert gradcheck(lambda x, w: (x @ w).tanh(), (x, w))
    assert gradcheck(WrongSquare.apply, (f64(2, 3),))


def test_gradcheck_names_the_worst_element(wrong):
    x = f64(2, 3)
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong.apply, (x,))
    msg = str(info.value)
    assert "input 0" in msg and "element [1, 2]" in msg and "output element [1, 2]" in msg
    assert "analytic" in msg and "numerical" in msg and "rel error" in msg
    assert isinstance(info.value, AssertionError)
    assert gradcheck(wrong.apply, (x,), raise_exception=False) is False


def test_gradcheck_second_input_is_named():
    class BadSecond(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * 2.0 + b * 3.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0, g * 3.5

    with pytest.raises(GradcheckError, match=r"input 1 \(argument 2\)"):
        gradcheck(lambda a, k, b: BadSecond.apply(a, b), (f64(3), 7, f64(3, seed=1)))


def test_gradcheck_random_projections_for_large_inputs(wrong):
    x = f64(40, 50)
    assert gradcheck(lambda t: (t * t).sum(1), (x,))  # 2000 x 40 > max_full: projections
    with pytest.raises(GradcheckError, match="projected") as info:
        gradcheck(wrong.apply, (x,), n_projections=2)
    assert "worst element of J^T v for that input: [39, 49]" in str(info.value)
    # the full Jacobian can be forced
    assert gradcheck(lambda t: t.exp(), (f64(30, 30),), max_full=10 ** 7)


def test_gradcheck_tuple_outputs_ignore_non_differentiable():
    x = f64(4, 5)
    assert gradcheck(lambda t: t.max(dim=1), (x,))  # (values, int64 indices)
    assert gradcheck(lambda t: (t.exp(), t > 0, t.sum()), (x,))


def test_gradcheck_rejects_bad_inputs():
    with pytest.raises(GradcheckError, match="float64"):
        gradcheck(lambda t: t * 2.0, (minidl.randn(3, requires_grad=True),))
    with pytest.raises(GradcheckError, match="no input requires grad"):
        gradcheck(lambda t: t * 2.0, (f64(3, requires_grad=False),))


def test_gradcheck_kwargs_and_non_tensor_args():
    x = f64(3, 4)
    assert gradcheck(minidl.sum, (x,), kwargs={"dim": 1, "keepdim": True})
    assert gradcheck(lambda t, d: t.softmax(d), (x, 0))


def test_gradcheck_empty_inputs():
    assert gradcheck(lambda t: t.exp(), (f64(0, 3),))


def test_wrong_gradient_dtype_is_cast_to_the_input_dtype():
    # like torch's engine, a Function's gradient arrives in its input's dtype (issue 9, item 12)
    class Float32Grad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g.float()

    x = f64(3)
    assert gradcheck(Float32Grad.apply, (x,))
    Float32Grad.apply(x).sum().backward()
    assert x.grad.dtype is minidl.float64


def test_gradcheck_restores_inputs():
    x = f64(3, 4)
    before = x.detach().numpy().copy()
    gradcheck(lambda t: t.sigmoid(), (x,))
    gradcheck(lambda t: t.sigmoid(), (f64(40, 50),))
    assert np.array_equal(x.detach().numpy(), before)
    assert x.grad is None


# ---- assert_close -------------------------------------------------------------------------------
def test_assert_close_passes_and_reports():
    assert_close(minidl.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]))
    assert_close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert_close(minidl.tensor([1, 2]), [1, 2])
    with pytest.raises(AssertionError) as info:
        assert_close(np.zeros((2, 3)), np.array([[0, 0, 0], [0, 0.5, 0.25]]))
    msg = str(info.value)
    assert "Mismatched elements: 2 / 6 (33.3%)" in msg
    assert "Greatest absolute difference: 0.5 at index (1, 1)" in msg
    assert "Greatest relative difference: 1 at index (1, 1)" in msg
    with pytest.raises(AssertionError, match="'shape' do not match"):
        assert_close(np.zeros(3), np.zeros(4))
    with pytest.raises(AssertionError, match="Mismatched"):
        assert_close(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(AssertionError, match="Mismatched"):
        assert_close(np.array([np.nan]), np.array([np.nan]), equal_nan=False)
    with pytest.raises(AssertionError, match="Mismatched"):
        assert_close(minidl.tensor([1, 2]), [1, 3])


def test_assert_close_tolerances_follow_dtype():
    assert_close(np.float32(1.0) + np.float32(5e-6), np.float32(1.0))
    with pytest.raises(AssertionError):
        assert_close(np.float64(1.0) + 5e-6, np.float64(1.0))
    assert_close(np.float64(1.0) + 5e-6, np.float64(1.0), rtol=1e-5, atol=0)


# ---- strategies ---------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(shape=mst.shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= s <= 4 for s in shape)


@settings(max_examples=30, deadline=None)
@given(shapes=mst.broadcastable_shapes(num_shapes=3, max_dims=3))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3
    np.broadcast_shapes(*shapes)


@settings(max_examples=30, deadline=None)
@given(t=mst.tensors(mst.shapes(max_dims=2), min_value=-1, max_value=1, avoid=(0.0, 0.5),
                     margin=0.1, requires_grad=True))
def test_tensors_avoid_kinks(t):
    a = t.detach().numpy()
    assert t.dtype is minidl.float64 and t.requires_grad and t.is_leaf
    assert np.all(np.abs(a) >= 0.1 - 1e-12) and np.all(np.abs(a - 0.5) >= 0.1 - 1e-12)
    assert np.all((a >= -1) & (a <= 1))


@settings(max_examples=10, deadline=None)
@given(t=mst.tensors((2, 3), dtype=minidl.float32), i=mst.tensors((4,), dtype=minidl.int64,
                                                                   min_value=0, max_value=5))
def test_tensors_dtypes(t, i):
    assert t.dtype is minidl.float32 and t.shape == (2, 3) and not t.requires_grad
    assert i.dtype is minidl.int64 and i.numpy().min() >= 0 and i.numpy().max() <= 5


@settings(max_examples=20, deadline=None)
@given(a=mst.distinct_arrays(mst.shapes(1, 3, 1, 4)))
def test_distinct_arrays_have_no_ties(a):
    flat = np.sort(a.reshape(-1))
    assert np.all(np.diff(flat) >= 0.25 - 1e-12)


def test_keep_away_moves_points_out():
    a = keep_away(np.array([0.0, 0.01, -0.02, 0.3]), (0.0,), 0.1, -1, 1)
    assert np.allclose(a, [0.1, 0.1, -0.1, 0.3])
    assert keep_away(np.array([0.95]), (1.0,), 0.1, -1.0, 1.0)[0] == pytest.approx(0.9)


def test_sample_inputs_draws_from_a_row():
    from minidl.testing.opinfo import op_by_name

    @settings(max_examples=5, deadline=None)
    @given(s=mst.sample_inputs(op_by_name("add")))
    def check(s):
        assert all(isinstance(a, (minidl.Tensor, float)) for a in s.args)
    check()
    from dataclasses import replace
    with pytest.raises(ValueError, match="no hypothesis strategy"):
        mst.sample_inputs(replace(op_by_name("argmax"), strategy=None))


def test_every_family_module_is_registered_once():
    # a row module that exists but is not imported by opinfo.py would silently lose its tests
    import pathlib

    from minidl.testing import opinfo

    here = pathlib.Path(opinfo.__file__).parent
    families = sorted(p.stem for p in here.glob("opinfo_*.py") if p.stem != "opinfo_refs")
    rows = [o.name for o in opinfo.OP_DB]
    for fam in families:
        mod = getattr(opinfo, fam)
        assert [o.name for o in mod.OPS] and all(o.name in rows for o in mod.OPS), fam
    assert len(rows) == len(set(rows)) == sum(len(getattr(opinfo, f).OPS) for f in families)


# ---- the docs run as written --------------------------------------------------------------------
def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def test_docs_testing_examples_run():
    blocks = _python_blocks(DOCS / "testing.md")
    assert len(blocks) >= 4 and any("@given" in b for b in blocks)
    for i, code in enumerate(blocks):
        namespace = {"__name__": f"docs_testing_block_{i}"}
        exec(compile(code, f"docs/testing.md[python block {i}]", "exec"), namespace)


def test_docs_autograd_examples_run():
    for i, code in enumerate(_python_blocks(DOCS / "autograd.md")):
        namespace = {"__name__": f"docs_autograd_block_{i}"}
        exec(compile(code, f"docs/autograd.md[python block {i}]", "exec"), namespace)


@settings(max_examples=5, deadline=None)
@given(st.data())
def test_gradcheck_inside_hypothesis(data):
    x = data.draw(mst.tensors(mst.shapes(0, 2, 1, 3), requires_grad=True))
    assert gradcheck(lambda t: (t * t).exp(), (x,))

"""Behaviour of Tensor + autograd beyond single ops: custom Functions, backward arguments,
accumulation, graph lifetime, grad mode, the version counter, hooks, dtype promotion, creation
functions, conversions, and a small MLP that learns (CPU, and CUDA in the `cuda` tier)."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import minidl
from minidl.autograd import Function
from minidl.testing import assert_close, gradcheck


def leaf(*shape, dtype=minidl.float64, seed=0):
    rng = np.random.default_rng(seed)
    return minidl.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True)


# ---- custom Functions ---------------------------------------------------------------------------
class Cube(Function):
    """y = x^3, dy/dx = 3 x^2 (saves the input)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


class ScaleBy(Function):
    """y = x * k for a python number k; records needs_input_grad."""

    seen_needs = None

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        ScaleBy.seen_needs = ctx.needs_input_grad
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


class SortWithIndices(Function):
    """values, indices = sort(x) along the last dim; indices are non-differentiable."""

    @staticmethod
    def forward(ctx, x):
        idx = minidl.tensor(np.argsort(x.detach().numpy(), axis=-1))
        ctx.save_for_backward(idx)
        ctx.mark_non_differentiable(idx)
        return x.gather(-1, idx), idx

    @staticmethod
    def backward(ctx, g, g_idx):
        (idx,) = ctx.saved_tensors
        assert g_idx is None or float(g_idx.abs().sum()) == 0.0
        return minidl.zeros(*g.shape, dtype=g.dtype).scatter_add(-1, idx, g)


def test_custom_function_gradient_and_gradcheck():
    x = leaf(3, 4)
    y = Cube.apply(x)
    assert y.grad_fn is not None and y.requires_grad and not y.is_leaf
    y.sum().backward()
    assert_close(x.grad, 3 * x.detach().numpy() ** 2)
    assert gradcheck(Cube.apply, (leaf(2, 3, seed=1),))


def test_custom_function_needs_input_grad_and_non_tensor_args():
    x = leaf(2, 2)
    y = ScaleBy.apply(x, 2.5)
    assert ScaleBy.seen_needs == (True, False)
    y.sum().backward()
    assert_close(x.grad, np.full((2, 2), 2.5))
    ScaleBy.apply(minidl.ones(2), 3.0)
    assert ScaleBy.seen_needs == (False, False)


def test_custom_function_mark_non_differentiable_and_tuple_outputs():
    x = leaf(2, 5)
    values, idx = SortWithIndices.apply(x)
    assert values.requires_grad and not idx.requires_grad and idx.grad_fn is None
    assert idx.dtype is minidl.int64
    (values * minidl.arange(5, dtype=minidl.float64)).sum().backward()
    expected = np.zeros((2, 5))
    np.put_along_axis(expected, idx.numpy(), np.arange(5.0)[None].repeat(2, 0), axis=-1)
    assert_close(x.grad, expected)
    assert gradcheck(lambda t: SortWithIndices.apply(t), (leaf(3, 4, seed=2),))


def test_custom_function_without_grad_records_nothing():
    x = minidl.randn(3)
    y = Cube.apply(x)
    assert y.grad_fn is None and not y.requires_grad
    with minidl.no_grad():
        y = Cube.apply(leaf(3))
    assert y.grad_fn is None and not y.requires_grad


def test_custom_function_wrong_gradient_shape_is_reported():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    x = leaf(3)
    with pytest.raises(RuntimeError, match="returned an invalid gradient at index 0"):
        Bad.apply(x).sum().backward()


def test_function_ctx_attributes_are_freed_after_backward():
    class Keep(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.big = np.ones(10)
            ctx.save_for_backward(x)
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g

    y = Keep.apply(leaf(2))
    node = y.grad_fn
    y.sum().backward()
    assert not hasattr(node, "big")
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        node.saved_tensors


# ---- backward: arguments, accumulation, retain_graph -------------------------------------------
def test_backward_from_scalar_and_with_gradient_argument():
    x = leaf(3, 2)
    (x * 2.0).sum().backward()
    assert_close(x.grad, np.full((3, 2), 2.0))
    x.grad = None
    y = x * x
    g = minidl.tensor(np.arange(6.0).reshape(3, 2), dtype=minidl.float64)
    y.backward(g)
    assert_close(x.grad, 2 * x.detach().numpy() * np.arange(6.0).reshape(3, 2))


def test_non_scalar_backward_needs_gradient():
    y = leaf(3) * 2.0
    with pytest.raises(RuntimeError,
                       match="grad can be implicitly created only for scalar outputs"):
        y.backward()


def test_backward_gradient_shape_mismatch():
    y = leaf(3) * 2.0
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        y.backward(minidl.ones(4, dtype=minidl.float64))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minidl.ones(2).sum().backward()


def test_gradients_accumulate_across_backward_calls():
    x = leaf(4)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    assert_close(x.grad, np.full(4, 6.0))
    x.grad = None
    (x * x).sum().backward()  # x used twice in one graph: both paths add up
    assert_close(x.grad, 2 * x.detach().numpy())


def test_diamond_graph():
    x = leaf(3)
    a = x.exp()
    b = a * 2.0 + a * a
    b.sum().backward()
    e = np.exp(x.detach().numpy())
    assert_close(x.grad, e * 2.0 + 2 * e * e)


def test_second_backward_fails_without_retain_graph():
    x = leaf(3)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed: the graph was retained
    assert_close(x.grad, 2 * (np.exp(x.detach().numpy()) * (1 + x.detach().numpy())))
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_grad_of_leaf_is_not_aliased_between_leaves():
    a, b = leaf(3), leaf(3, seed=1)
    (a + b).sum().backward()
    a.grad.add_(1.0)
    assert_close(b.grad, np.ones(3))


def test_long_chain_backward_has_no_recursion_limit():
    x = minidl.tensor([0.5], dtype=minidl.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad, np.array([1.0001 ** 10_000]), rtol=1e-9, atol=0)


def test_graph_is_freed_as_backward_runs():
    x = leaf(50)
    y = (x * 2.0).exp()  # exp saves its output: the graph holds y's storage
    ref = weakref.ref(y._data)
    z = y.sum()
    del y
    gc.collect()
    assert ref() is not None, "the graph should keep the saved output alive before backward"
    z.backward()
    gc.collect()
    assert ref() is None, "saved tensors must be released once their node has run"


def test_retain_graph_keeps_saved_tensors():
    x = leaf(50)
    y = (x * 2.0).exp()
    ref = weakref.ref(y._data)
    z = y.sum()
    del y
    z.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None
    del z
    gc.collect()
    assert ref() is None, "dropping the graph frees its saved tensors"


# ---- grad mode ----------------------------------------------------------------------------------
def test_no_grad_context_manager_and_decorator():
    x = leaf(3)
    with minidl.no_grad():
        assert not minidl.is_grad_enabled()
        y = x * 2.0
    assert minidl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @minidl.no_grad()
    def f(t):
        assert not minidl.is_grad_enabled()
        return t * 2.0
    assert not f(x).requires_grad
    assert minidl.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf(3)
    with minidl.no_grad():
        with minidl.enable_grad():
            y = x * 2.0
        z = x * 2.0

        @minidl.enable_grad()
        def g(t):
            return t * 3.0
        w = g(x)
    assert y.requires_grad and not z.requires_grad and w.requires_grad


def test_set_grad_enabled_and_exceptions_restore_mode():
    with minidl.set_grad_enabled(False):
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()
    with pytest.raises(ValueError):
        with minidl.no_grad():
            raise ValueError("boom")
    assert minidl.is_grad_enabled()


def test_detach_and_requires_grad_():
    x = leaf(3)
    y = x * 2.0
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.numpy(), y._data)  # detach shares storage like torch
    t = minidl.ones(3)
    assert not t.requires_grad
    assert t.requires_grad_() is t and t.requires_grad
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        minidl.ones(2, dtype=minidl.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)


# ---- version counter / in-place ----------------------------------------------------------------
def test_inplace_on_saved_tensor_is_detected():
    x = leaf(3)
    y = x.exp()  # ExpBackward saves y
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_on_saved_input_is_detected():
    x = leaf(3)
    a = x * 1.0
    b = a * a  # saves a
    a.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_inplace_through_view_bumps_shared_version():
    x = leaf(2, 3)
    a = x * 1.0
    b = a.exp()  # saves b
    v = b.reshape(6)
    v.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_inplace_on_non_saved_tensor_is_differentiable():
    x = leaf(3)
    y = x * 2.0
    y.add_(1.0)  # add saves nothing: fine, and the gradient flows through
    y.mul_(3.0)
    y.sum().backward()
    assert_close(x.grad, np.full(3, 6.0))


def test_leaf_inplace_error_and_no_grad_update():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        x.add_(1.0)
    before = x.detach().numpy().copy()
    with minidl.no_grad():
        x.sub_(1.0)  # the optimizer's path
    assert_close(x.detach(), before - 1.0)
    assert x.is_leaf and x.requires_grad


# ---- hooks and retain_grad ----------------------------------------------------------------------
def test_hooks_on_leaf_and_intermediate():
    x = leaf(3)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x * 2.0
    y.register_hook(lambda g: g * 10.0)  # replaces the gradient flowing on
    y.sum().backward()
    assert_close(seen[0], np.full(3, 20.0))
    assert_close(x.grad, np.full(3, 20.0))
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        minidl.ones(2).register_hook(lambda g: g)


def test_retain_grad():
    x = leaf(3)
    y = x * 2.0
    z = y * y
    y.retain_grad()
    z.sum().backward()
    assert y.retains_grad
    assert_close(y.grad, 2 * y.detach().numpy())
    assert z.grad is None  # a non-leaf without retain_grad keeps no .grad


def test_backward_inputs_restricts_accumulation():
    a, b = leaf(3), leaf(3, seed=1)
    (a * b).sum().backward(inputs=[a])
    assert_close(a.grad, b.detach().numpy())
    assert b.grad is None


def test_autograd_grad_returns_without_accumulating():
    x = leaf(3)
    y = (x * x).sum()
    (g,) = minidl.autograd.grad(y, x)
    assert_close(g, 2 * x.detach().numpy())
    assert x.grad is None


# ---- conversions --------------------------------------------------------------------------------
def test_numpy_on_requires_grad_tensor_hints_detach():
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\) instead"):
        leaf(2).numpy()
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(leaf(2))


def test_item_tolist_and_array_protocol():
    t = minidl.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert minidl.tensor(2.5).item() == 2.5 and isinstance(minidl.tensor(2.5).item(), float)
    assert minidl.tensor(7).item() == 7 and isinstance(minidl.tensor(7).item(), int)
    assert minidl.tensor([True]).item() is True
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert minidl.tensor(3.0).tolist() == 3.0
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    assert np.shares_memory(a, t.numpy())  # no copy by default
    b = t.__array__(np.float64)
    assert b.dtype == np.float64
    c = t.__array__(copy=True)
    assert not np.shares_memory(c, t.numpy())
    assert float(minidl.tensor(2.0)) == 2.0 and int(minidl.tensor(3)) == 3


def test_repr():
    assert repr(minidl.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(minidl.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=minidl.float64" in repr(minidl.tensor([1.0], dtype=minidl.float64))
    assert "requires_grad=True" in repr(leaf(2))
    assert "grad_fn=<MulBackward0>" in repr(leaf(2) * 2.0)
    assert repr(minidl.tensor(2.5)) == "tensor(2.5000)"
    assert "size=(0, 3)" in repr(minidl.zeros(0, 3))


# ---- dtype rules --------------------------------------------------------------------------------
def test_default_dtypes():
    assert minidl.tensor([1.0, 2.0]).dtype is minidl.float32
    assert minidl.tensor([1, 2]).dtype is minidl.int64
    assert minidl.tensor([True]).dtype is minidl.bool_
    assert minidl.tensor(np.array([1.0])).dtype is minidl.float64  # numpy keeps its dtype
    assert minidl.randn(2).dtype is minidl.float32
    assert minidl.zeros(2).dtype is minidl.float32
    assert minidl.arange(3).dtype is minidl.int64 and minidl.arange(0.5, 2).dtype is minidl.float32
    assert minidl.full((2,), 3).dtype is minidl.int64
    assert minidl.full((2,), 3.0).dtype is minidl.float32


def test_type_promotion():
    f32 = minidl.ones(2)
    f64 = minidl.ones(2, dtype=minidl.float64)
    i64 = minidl.ones(2, dtype=minidl.int64)
    assert (f32 + f64).dtype is minidl.float64
    assert (i64 + f32).dtype is minidl.float32
    assert (i64 + 1.5).dtype is minidl.float32
    assert (i64 * 2).dtype is minidl.int64
    assert (f32 * 2.5).dtype is minidl.float32  # python scalars do not upcast
    assert (2.5 * f32).dtype is minidl.float32
    assert (f32 * np.float64(2.5)).dtype is minidl.float32
    assert (f32 + minidl.tensor(1.0, dtype=minidl.float64)).dtype is minidl.float32  # 0-d
    assert (i64 / 2).dtype is minidl.float32  # true division
    assert (f32 > 0.5).dtype is minidl.bool_
    cond = minidl.tensor([True, False])
    assert minidl.where(cond, 1.0, 0.0).dtype is minidl.float32
    assert minidl.where(cond, 1, 0).dtype is minidl.int64
    assert minidl.where(cond, f64, 0.5).dtype is minidl.float64
    x = minidl.ones(2, requires_grad=True)
    y = x.double() * 2.0
    y.sum().backward()
    assert x.grad.dtype is minidl.float32  # the cast's gradient is cast back


# ---- creation -----------------------------------------------------------------------------------
def test_creation_functions():
    assert minidl.zeros(2, 3).shape == (2, 3) and minidl.zeros((2, 3)).shape == (2, 3)
    assert minidl.ones(4).tolist() == [1.0] * 4
    assert minidl.full((2,), 7.5).tolist() == [7.5, 7.5]
    assert minidl.empty(3, 2).shape == (3, 2)
    assert minidl.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert minidl.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert minidl.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert minidl.tensor(3.0).shape == ()
    assert minidl.tensor([[1, 2], [3, 4]]).shape == (2, 2)
    t = minidl.randn(2, 3, dtype=minidl.float64)
    for like, val in ((minidl.zeros_like, 0.0), (minidl.ones_like, 1.0)):
        u = like(t)
        assert u.shape == (2, 3) and u.dtype is minidl.float64 and np.all(u.numpy() == val)
    assert minidl.full_like(t, 2.0).tolist() == [[2.0] * 3] * 2
    assert minidl.empty_like(t).shape == (2, 3)
    assert minidl.randn_like(t).dtype is minidl.float64 and minidl.rand_like(t).shape == (2, 3)
    assert minidl.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="negative dimension"):
        minidl.zeros(-1)


def test_from_numpy_shares_memory():
    a = np.arange(6.0).reshape(2, 3)
    t = minidl.from_numpy(a)
    assert t.dtype is minidl.float64
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t.add_(1.0)
    assert a[1, 2] == 6.0
    b = minidl.tensor(a)  # tensor() copies
    a[0, 0] = -1.0
    assert b[0, 0].item() == 43.0
    assert minidl.from_numpy(np.array(2.0)).shape == ()


def test_manual_seed_reproducibility():
    minidl.manual_seed(123)
    a, b = minidl.randn(5), minidl.rand(3)
    minidl.manual_seed(123)
    assert np.array_equal(a.numpy(), minidl.randn(5).numpy())
    assert np.array_equal(b.numpy(), minidl.rand(3).numpy())
    c = minidl.randn(5)
    assert not np.array_equal(a.numpy(), c.numpy())  # the generator advanced


def test_random_statistics():
    minidl.manual_seed(0)
    n = minidl.randn(100_000, dtype=minidl.float64).numpy()
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1.0) < 0.02
    u = minidl.rand(100_000, dtype=minidl.float64).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005


# ---- a small MLP learns ------------------------------------------------------------------------
def _train_mlp(device: str, steps: int, n: int = 64, d: int = 8, h: int = 16, c: int = 3):
    """Full-batch SGD on a 2-layer MLP with cross-entropy; returns (first, last) loss."""
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((n, d)), device=device)
    labels = minidl.tensor(rng.integers(0, c, size=(n, 1)), device=device)

    def param(*shape):
        return minidl.tensor(rng.standard_normal(shape) / math.sqrt(shape[0]), device=device,
                             requires_grad=True)
    w1, b1, w2, b2 = param(d, h), minidl.zeros(h, device=device, requires_grad=True), \
        param(h, c), minidl.zeros(c, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    losses = []
    for _ in range(steps):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        loss = -logits.log_softmax(dim=1).gather(1, labels).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with minidl.no_grad():
            for p in params:
                p.sub_(p.grad * 0.5)
        losses.append(loss.item())
    return losses[0], losses[-1]


def test_mlp_loss_decreases_cpu():
    first, last = _train_mlp("cpu", steps=60)
    assert last < 0.7 * first, (first, last)


@pytest.mark.cuda
def test_mlp_loss_decreases_cuda(cuda_device):
    first, last = _train_mlp(cuda_device, steps=4, n=16, d=5, h=7, c=3)
    assert last < first, (first, last)
    cpu_first, _ = _train_mlp("cpu", steps=1, n=16, d=5, h=7, c=3)
    assert abs(first - cpu_first) < 1e-4  # same data and init: same first loss


@pytest.mark.cuda
def test_mixing_devices_raises(cuda_device):
    a = minidl.ones(3)
    b = minidl.ones(3, device=cuda_device)
    with pytest.raises(minidl.DeviceError, match="same device"):
        a + b
    with pytest.raises(minidl.DeviceError):
        minidl.matmul(minidl.ones(2, 2), minidl.ones(2, 2, device=cuda_device))
    with pytest.raises(minidl.DeviceError):
        minidl.cat([a, b])


@pytest.mark.cuda
def test_cuda_backward_and_grad_device(cuda_device):
    x = minidl.tensor([1.0, 2.0, 3.0], device=cuda_device, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.device.type == "cuda"
    assert_close(x.grad.cpu(), np.array([2.0, 4.0, 6.0]))
    y = minidl.tensor([1.0, 2.0], requires_grad=True)
    (y.to(cuda_device) * 3.0).sum().backward()  # the gradient comes back to the CPU leaf
    assert y.grad.device.type == "cpu"
    assert_close(y.grad, np.array([3.0, 3.0]))
    with pytest.raises(minidl.DeviceError, match="Tensor.cpu"):
        x.detach().numpy()


def test_setitem_records_the_write_like_copyslices():
    x = leaf(3)
    v = minidl.tensor(4.0, dtype=minidl.float64, requires_grad=True)
    y = x * 2.0
    y[1] = v  # the overwritten slot gets no gradient from x; v gets it
    (y * y).sum().backward()
    xs = x.detach().numpy()
    assert_close(x.grad, np.array([8 * xs[0], 0.0, 8 * xs[2]]))
    assert_close(v.grad, np.array(8.0))
    buf = minidl.zeros(2, 3, dtype=minidl.float64)
    w = leaf(3, seed=3)
    buf[1] = w * 3.0  # writing a graph tensor into a plain buffer makes it part of the graph
    assert buf.requires_grad
    buf.sum().backward()
    assert_close(w.grad, np.full(3, 3.0))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 1.0

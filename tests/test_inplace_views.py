"""In-place ops, views and autograd (issue 9, items 1, 2, 7, 9, 10, 11, 12; issue 10's id() reuse):
one regression test per item, and a property test that runs random programs of view, in-place and
out-of-place ops against numpy (values), central differences (gradients) and PyTorch when installed.

MINIDL_INPLACE_EXAMPLES sets the number of random programs (100 by default; 1000 for a long run)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn
from minidl.nn import functional as F
from minidl.testing import gradcheck

EXAMPLES = int(os.environ.get("MINIDL_INPLACE_EXAMPLES", "100"))


def _np(t):
    return t.detach().numpy()


# ---- item 1: an overwrite cuts the old history ---------------------------------------------------
@pytest.mark.parametrize("overwrite", [
    lambda y: y.zero_(), lambda y: y.fill_(2.0), lambda y: y.copy_(minidl.zeros(3)),
    lambda y: y.uniform_(), lambda y: y.normal_(), lambda y: y.copy_([4.0, 5.0, 6.0]),
])
def test_overwrite_cuts_old_graph(overwrite):
    x = minidl.tensor([1., 2., 3.], requires_grad=True)
    y = x * 2
    overwrite(y)
    assert y.requires_grad and y.grad_fn is not None
    (y + x).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [1., 1., 1.])


def test_copy_from_grad_source_takes_its_history():
    x = minidl.tensor([1., 2., 3.], requires_grad=True)
    w = minidl.tensor([1., 1., 1.], requires_grad=True)
    y = x * 2
    y.copy_(w * 3)
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [0., 0., 0.])  # as torch
    np.testing.assert_array_equal(_np(w.grad), [3., 3., 3.])


# ---- item 2 and issue 10: a leaf's .grad owns its storage ----------------------------------------
def test_clip_grad_norm_does_not_scale_a_shared_grad_twice():
    w = nn.Parameter(minidl.ones(2, 3))
    b = nn.Parameter(minidl.ones(6))
    ((w.reshape(6) + b) * minidl.arange(1., 7.)).sum().backward()
    nn.utils.clip_grad_norm_([w, b], 1.0)
    expect = np.arange(1., 7.) / np.sqrt(2 * (np.arange(1., 7.) ** 2).sum())
    np.testing.assert_allclose(_np(b.grad), expect, rtol=1e-5)
    np.testing.assert_allclose(_np(w.grad).reshape(-1), expect, rtol=1e-5)


@pytest.mark.parametrize("route", [
    lambda w: w.reshape(6), lambda w: w.view(6), lambda w: w.flatten(),
    lambda w: w.unsqueeze(0).squeeze(0).reshape(6), lambda w: w.t().t().reshape(6),
])
def test_leaf_grads_never_alias(route):
    w = minidl.ones(2, 3, requires_grad=True)
    b = minidl.ones(6, requires_grad=True)
    (route(w) + b).sum().backward()
    b.grad.mul_(5)
    w.grad.add_(1)
    np.testing.assert_array_equal(_np(b.grad), np.full(6, 5.))
    np.testing.assert_array_equal(_np(w.grad), np.full((2, 3), 2.))


def test_root_gradient_and_hook_results_are_not_taken():
    x = minidl.ones(3, requires_grad=True)
    g = minidl.tensor([1., 2., 3.])
    x.backward(g)
    x.grad.mul_(0)
    np.testing.assert_array_equal(_np(g), [1., 2., 3.])
    kept = minidl.tensor([7., 7., 7.])
    y = minidl.ones(3, requires_grad=True)
    y.register_hook(lambda grad: kept)
    (y * 1).sum().backward()
    y.grad.zero_()
    np.testing.assert_array_equal(_np(kept), [7., 7., 7.])


def test_grad_storage_after_reassignment_is_not_reused():
    # ownership is marked on storage records, not on id()s of tensors that may be freed and reused
    xs = [minidl.ones(4, requires_grad=True) for _ in range(6)]
    for _ in range(3):
        total = sum((x * float(i + 1)).sum() for i, x in enumerate(xs))
        total.backward()
    for x in xs:
        x.grad.zero_()
        x.grad.add_(1)
    for x in xs:
        np.testing.assert_array_equal(_np(x.grad), np.ones(4))


# ---- item 7: in-place results may not be narrowed to int/bool ------------------------------------
@pytest.mark.parametrize("op", [
    lambda t: t.div_(2), lambda t: t.add_(0.5), lambda t: t.mul_(1.5),
    lambda t: t.__itruediv__(2), lambda t: t.sub_(minidl.tensor([0.5, 0.5])),
])
def test_int_inplace_needing_float_raises(op):
    t = minidl.tensor([1, 3])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output "
                                           "type Long"):
        op(t)
    np.testing.assert_array_equal(_np(t), [1, 3])


def test_bool_inplace_needing_long_raises_and_copies_cast():
    b = minidl.tensor([True, False])
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output "
                                           "type Bool"):
        b.add_(1)
    t = minidl.tensor([1, 3])
    t.add_(2)
    t.copy_(minidl.tensor([2.7, 3.2]))  # copy_ and fill_ convert, as in torch
    np.testing.assert_array_equal(_np(t), [2, 3])
    f = minidl.ones(2)
    f.add_(minidl.tensor([1, 2]))  # a lower category is fine
    np.testing.assert_array_equal(_np(f), [2., 3.])


# ---- item 9: duplicate indices, last write wins in both grad modes -------------------------------
def test_setitem_duplicates_do_not_depend_on_grad_mode():
    x = minidl.tensor([1., 2., 3.], requires_grad=True)
    y = x * 1
    v = minidl.tensor([5., 6.], requires_grad=True)
    y[minidl.tensor([0, 0])] = v
    np.testing.assert_array_equal(_np(y), [6., 2., 3.])
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [0., 1., 1.])
    np.testing.assert_array_equal(_np(v.grad), [0., 1.])  # only the winning write reaches y
    with minidl.no_grad():
        z = x * 1
        z[minidl.tensor([0, 0])] = minidl.tensor([5., 6.])
    np.testing.assert_array_equal(_np(z), [6., 2., 3.])


def test_setitem_duplicates_gradcheck():
    def f(x, v):
        y = x * 1
        y[minidl.tensor([2, 0, 2])] = v
        return y
    x = minidl.randn(4, dtype=minidl.float64, requires_grad=True)
    v = minidl.randn(3, dtype=minidl.float64, requires_grad=True)
    assert gradcheck(f, (x, v))


# ---- item 10: views share storage in both modes; autograd through views --------------------------
@pytest.mark.parametrize("grad", [True, False])
def test_views_share_storage(grad):
    with minidl.set_grad_enabled(grad):
        h = minidl.ones(2, 3, requires_grad=True) * 1
        v = h.view(6)
        t = h.t()
        r = h[1]
        s = h[:, ::2]
        h.mul_(3)
        np.testing.assert_array_equal(_np(v), np.full(6, 3.))
        np.testing.assert_array_equal(_np(t), np.full((3, 2), 3.))
        h[0] = 5.0
        np.testing.assert_array_equal(_np(v)[:3], [5., 5., 5.])
        v[4] = 7.0
        assert h[1, 1].item() == 7.0 and r[1].item() == 7.0 and t[1, 1].item() == 7.0
        t[2, 0] = -1.0
        assert h[0, 2].item() == -1.0 and s[0, 1].item() == -1.0
        s.add_(10)
        np.testing.assert_array_equal(_np(h), [[15., 5., 9.], [13., 7., 13.]])
        np.testing.assert_array_equal(_np(t), _np(h).T)


def test_inplace_on_view_rebases_base():
    x = minidl.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    b = x * 1
    v = b[0]
    other = b.t()
    v.mul_(10)
    assert b.grad_fn.name() == "CopySlicesBackward0"
    (b.sum() + other[0, 0] * 100).backward()
    # b = [[10 x00, 10 x01], [x10, x11]]; other[0, 0] = b[0, 0] = 10 x00
    np.testing.assert_array_equal(_np(x.grad), [[1010., 10.], [1., 1.]])


def test_view_of_leaf_inplace_raises():
    leaf = minidl.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being "
                                           "used in an in-place operation"):
        leaf.reshape(3).add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf[0] = 2.0
    with minidl.no_grad():  # the optimizer's way
        leaf.reshape(3).add_(1)
    np.testing.assert_array_equal(_np(leaf), [2., 2., 2.])


def test_view_rules_match_torch_errors():
    x = minidl.randn(3, 4)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(12)
    np.testing.assert_array_equal(_np(x.t().reshape(12)), _np(x).T.reshape(12))
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        minidl.zeros(1, 3).expand(2, 3).add_(1)
    c = x.t().contiguous()  # a copy: writes do not reach x
    c.zero_()
    assert _np(x).any() and not x.t().is_contiguous() and c.is_contiguous()


def test_setitem_through_view_gradcheck():
    def f(x, w):
        y = x * 1
        y.t()[1:, 0] = w
        y[:, 1].mul_(w[0])
        return y.sum(0) * minidl.tensor([1., 2., 3.], dtype=minidl.float64)
    x = minidl.randn(3, 3, dtype=minidl.float64, requires_grad=True)
    w = minidl.randn(2, dtype=minidl.float64, requires_grad=True)
    assert gradcheck(f, (x, w))


# ---- item 11: in-place activations and ops train -------------------------------------------------
@pytest.mark.parametrize("act, ref", [
    (lambda y: nn.ReLU(inplace=True)(y), lambda y: F.relu(y)),
    (lambda y: nn.LeakyReLU(0.1, inplace=True)(y), lambda y: F.leaky_relu(y, 0.1)),
    (lambda y: nn.ELU(inplace=True)(y), lambda y: F.elu(y)),
    (lambda y: nn.Hardtanh(inplace=True)(y), lambda y: F.hardtanh(y)),
    (lambda y: F.relu(y, inplace=True), lambda y: F.relu(y)),
    (lambda y: y.clamp_(-0.5, 0.7), lambda y: y.clamp(-0.5, 0.7)),
    (lambda y: y.pow_(3), lambda y: y ** 3),
    (lambda y: y.mul_(y), lambda y: y * y),
    (lambda y: y.exp_(), lambda y: y.exp()),
    (lambda y: y.div_(minidl.tensor([1., 2., 3., 4.])),
     lambda y: y / minidl.tensor([1., 2., 3., 4.])),
])
def test_inplace_ops_backprop(act, ref):
    x0 = np.array([-1.3, -0.2, 0.4, 1.1], dtype=np.float32)
    x = minidl.tensor(x0, requires_grad=True)
    w = minidl.tensor([1., -2., 3., 0.5])
    y = x * 1.5
    out = act(y)
    assert out is y
    ((out * w).sum()).backward()
    x2 = minidl.tensor(x0, requires_grad=True)
    ((ref(x2 * 1.5) * w).sum()).backward()
    np.testing.assert_allclose(_np(x.grad), _np(x2.grad), rtol=1e-6)


def test_inplace_relu_trains_a_model():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 1))
    opt = minidl.optim.SGD(model.parameters(), lr=0.05)
    x = minidl.randn(16, 4)
    y = x.sum(1, keepdim=True)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_modifying_a_saved_tensor_still_raises():
    x = minidl.tensor([1., 2.], requires_grad=True)
    a = x * 2
    b = a * x  # mul saves a
    a.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()
    y = x * 2
    z = y.relu()  # relu saves its input y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


# ---- item 12: hook handles, backward(inputs=non_leaf), custom Function grad dtype ----------------
def test_register_hook_returns_removable_handle():
    x = minidl.ones(3, requires_grad=True)
    calls = []
    h = x.register_hook(lambda g: calls.append(1) or g * 2)
    y = x * 1
    hy = y.register_hook(lambda g: g * 10)
    (y.sum()).backward()
    np.testing.assert_array_equal(_np(x.grad), np.full(3, 20.))
    h.remove()
    hy.remove()
    h.remove()  # twice is harmless
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), np.ones(3))
    assert calls == [1]


def test_backward_inputs_non_leaf():
    x = minidl.tensor([1., 2.], requires_grad=True)
    y = x * 3
    z = (y * y).sum()
    z.backward(inputs=[y])
    np.testing.assert_array_equal(_np(y.grad), [6., 12.])
    assert x.grad is None and not y.retains_grad
    (y * 1).sum().backward(inputs=[x])
    np.testing.assert_array_equal(_np(x.grad), [3., 3.])


def test_custom_function_grad_cast_to_input_dtype():
    class Double(minidl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.double() * 2

    x = minidl.ones(3, requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.dtype is minidl.float32
    np.testing.assert_array_equal(_np(x.grad), np.full(3, 2.))


# ---- the property test: random programs of views and in-place ops --------------------------------
VIEWS = ["t", "rows", "step", "index", "unsqueeze", "flat", "view2", "permute"]
INPLACE = ["add_s", "mul_s", "div_s", "add_o", "mul_o", "sub_o", "relu_", "clamp_", "zero_",
           "fill_", "copy_o", "pow_", "neg_", "set_row", "set_dup", "set_mask", "set_slice"]
SHAPE = (3, 4)

_op = st.one_of(
    st.tuples(st.just("view"), st.integers(0, 7), st.sampled_from(VIEWS)),
    st.tuples(st.just("inplace"), st.integers(0, 7), st.sampled_from(INPLACE)),
    st.tuples(st.just("new"), st.integers(0, 7), st.just("")),
)
programs = st.lists(_op, min_size=1, max_size=12)


class _Lib:
    """The few calls that differ between minidl, torch and numpy."""

    def __init__(self, name):
        self.name = name
        if name == "torch":
            import torch
            self.mod = torch
        elif name == "minidl":
            self.mod = minidl

    def index(self, values):
        return np.array(values) if self.name == "numpy" else self.mod.tensor(values)

    def mask(self, shape):
        m = (np.arange(int(np.prod(shape))).reshape(shape) % 2) == 0
        return m if self.name == "numpy" else self.mod.tensor(m)

    def view(self, t, kind):
        if kind == "t":
            return t.T if self.name == "numpy" else t.t()
        if kind == "rows":
            return t[1:]
        if kind == "step":
            return t[..., ::2]
        if kind == "index":
            return t[0]
        if kind == "unsqueeze":
            return t[None]
        if kind == "flat":
            return t.reshape(-1)
        if kind == "view2":
            return t.reshape(2, -1) if self.name == "numpy" else t.view(2, -1)
        if kind == "permute":
            return t.transpose(1, 0, 2) if self.name == "numpy" else t.permute(1, 0, 2)
        raise AssertionError(kind)

    def inplace(self, t, kind, other):
        npy = self.name == "numpy"
        if kind == "add_s":
            t += 0.7
        elif kind == "mul_s":
            t *= -1.3
        elif kind == "div_s":
            t /= 2.5
        elif kind == "add_o":
            t += other(t.shape)
        elif kind == "mul_o":
            t *= other(t.shape)
        elif kind == "sub_o":
            if npy:
                t -= other(t.shape)
            else:
                t.sub_(other(t.shape))
        elif kind == "relu_":
            np.maximum(t, 0, out=t) if npy else t.relu_()
        elif kind == "clamp_":
            np.clip(t, -0.5, 0.8, out=t) if npy else t.clamp_(-0.5, 0.8)
        elif kind == "zero_":
            t.fill(0) if npy else t.zero_()
        elif kind == "fill_":
            t.fill(0.3) if npy else t.fill_(0.3)
        elif kind == "copy_o":
            if npy:
                t[...] = other(t.shape)
            else:
                t.copy_(other(t.shape))
        elif kind == "pow_":
            if npy:
                t **= 2
            else:
                t.pow_(2)
        elif kind == "neg_":
            np.negative(t, out=t) if npy else t.neg_()
        elif kind == "set_row":
            t[0] = other(t.shape[1:])
        elif kind == "set_dup":
            rest = tuple(t.shape[1:])
            two = (2,) + rest if 2 * int(np.prod(rest)) <= SHAPE[0] * SHAPE[1] else rest
            t[self.index([0, 0])] = other(two)
        elif kind == "set_mask":
            m = self.mask(tuple(t.shape))
            t[m] = other((int(np.asarray(m if npy else m.numpy()).sum()),))
        elif kind == "set_slice":
            t[..., 1:] = 0.25
        else:
            raise AssertionError(kind)


def _run(prog, x, w, lib):
    """Run `prog` from leaves x, w; returns the live tensors (flags say which ops ran)."""
    ts = [x * 1.0]
    contig = [True]
    used = set()

    def other(shape):
        n = int(np.prod(shape))
        return w.reshape(-1)[:n].reshape(tuple(shape)) * 0.5 + 0.1

    for what, i, kind in prog:
        k = i % len(ts)
        t = ts[k]
        shape = tuple(t.shape)
        nd = len(shape)
        if what == "view":
            ok = {"t": nd == 2, "rows": nd >= 1 and shape[0] > 1, "step": nd >= 1 and shape[-1] > 1,
                  "index": nd >= 2, "unsqueeze": nd <= 2, "flat": contig[k] and nd > 1,
                  "view2": contig[k] and nd == 1 and shape[0] % 2 == 0 and shape[0] > 2,
                  "permute": nd == 3}[kind]
            if not ok or len(ts) >= 8:
                continue
            ts.append(lib.view(t, kind))
            contig.append(contig[k] and kind in ("rows", "index", "unsqueeze", "flat", "view2"))
        elif what == "new":
            if len(ts) >= 8:
                continue
            ts.append(t * 1.5 - 0.2)
            contig.append(True)
        else:
            if kind.startswith("set_") and (nd == 0 or shape[0] == 0):
                continue
            if kind == "pow_" and "pow_" in used:
                continue  # one squaring: repeated ones overflow, or drown gradients in round-off
            if kind == "set_slice" and nd == 0:
                continue
            lib.inplace(t, kind, other)
        used.add(kind)
    return ts, used


def _weights(ts):
    return [np.linspace(-1.0, 1.0, int(np.prod(t.shape))).reshape(tuple(t.shape)) + 0.05 * j
            for j, t in enumerate(ts)]


def _check_program(prog, seed):
    rng = np.random.default_rng(seed)
    x0, w0 = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    mlib = _Lib("minidl")

    # values against numpy, whose views share memory exactly
    got, used = _run(prog, minidl.tensor(x0, dtype=minidl.float64),
                     minidl.tensor(w0, dtype=minidl.float64), mlib)
    want, _ = _run(prog, x0.copy(), w0.copy(), _Lib("numpy"))
    assert len(got) == len(want)
    for j, (g, e) in enumerate(zip(got, want)):
        np.testing.assert_allclose(_np(g), e, rtol=1e-12, atol=1e-12, err_msg=f"tensor {j}")

    # the same values with grad on, and gradients against central differences
    def loss(x, w):
        ts, _ = _run(prog, x, w, mlib)
        return sum((t * minidl.tensor(c)).sum() for t, c in zip(ts, _weights(ts)))

    x = minidl.tensor(x0, dtype=minidl.float64, requires_grad=True)
    w = minidl.tensor(w0, dtype=minidl.float64, requires_grad=True)
    ts, _ = _run(prog, x, w, mlib)
    for j, (g, e) in enumerate(zip(ts, want)):
        np.testing.assert_allclose(_np(g), e, rtol=1e-12, atol=1e-12, err_msg=f"grad mode, {j}")
    # central differences of a loss L lose about |L| * 1e-16 / eps to round-off; an input
    # within eps of a kink (relu_, clamp_) fools them, so a miss is retried with a 100x smaller
    # eps: a wrong gradient fails both, a kink crossing only one
    size = abs(loss(x, w).item())
    if not gradcheck(loss, (x, w), eps=1e-6, atol=max(1e-6, 1e-8 * size), rtol=1e-4,
                     raise_exception=False):
        assert gradcheck(loss, (x, w), eps=1e-8, atol=max(1e-4, 1e-6 * size), rtol=1e-3)
    return used


@settings(max_examples=EXAMPLES)
@given(prog=programs, seed=st.integers(0, 2 ** 16))
def test_random_inplace_view_programs(prog, seed):
    _check_program(prog, seed)


@settings(max_examples=EXAMPLES)
@given(prog=programs, seed=st.integers(0, 2 ** 16))
def test_random_inplace_view_programs_vs_torch(prog, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x0, w0 = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    tx = torch.tensor(x0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    try:
        tts, used = _run(prog, tx, tw, _Lib("torch"))
        tloss = sum((t * torch.tensor(c)).sum() for t, c in zip(tts, _weights(tts)))
        tloss.backward()
    except RuntimeError:
        return  # torch refuses some programs minidl runs (it saves relu's output, not a copy)
    mx = minidl.tensor(x0, dtype=minidl.float64, requires_grad=True)
    mw = minidl.tensor(w0, dtype=minidl.float64, requires_grad=True)
    mts, _ = _run(prog, mx, mw, _Lib("minidl"))
    mloss = sum((t * minidl.tensor(c)).sum() for t, c in zip(mts, _weights(mts)))
    mloss.backward()
    for j, (m, t) in enumerate(zip(mts, tts)):
        np.testing.assert_allclose(_np(m), t.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"tensor {j}")
    if "set_dup" in used:
        return  # torch gives every repeated index the gradient; minidl only the winning write
    for name, m, t in (("x", mx, tx), ("w", mw, tw)):
        mg = np.zeros(SHAPE) if m.grad is None else _np(m.grad)
        tg = np.zeros(SHAPE) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(mg, tg, rtol=1e-10, atol=1e-12, err_msg=f"{name}.grad")


@pytest.mark.cuda
def test_views_share_storage_cuda(cuda_device):
    h = minidl.ones(2, 3, device=cuda_device) * 1
    v, t, s = h.view(6), h.t(), h[:, ::2]
    h.mul_(3)
    t[2, 0] = -1.0
    v[4] = 7.0
    s.add_(10)
    want = np.array([[13., 3., 9.], [13., 7., 13.]])
    np.testing.assert_array_equal(h.cpu().numpy(), want)
    np.testing.assert_array_equal(t.cpu().numpy(), want.T)
    np.testing.assert_array_equal(v.cpu().numpy(), want.reshape(6))
    x = minidl.tensor([[1., 2.], [3., 4.]], device=cuda_device, requires_grad=True)
    b = x * 1
    b[0].mul_(10)
    b.t()[1, 1] = 0.0
    y = b * 1
    y[minidl.tensor([0, 0], device=cuda_device)] = minidl.tensor([[5., 5.], [6., 6.]],
                                                                   device=cuda_device)
    F.relu(y, inplace=True).sum().backward()
    np.testing.assert_array_equal(y.detach().cpu().numpy(), [[6., 6.], [3., 0.]])
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [[0., 0.], [1., 0.]])


def test_grad_through_expand_is_writable_and_views_resync_under_no_grad():
    x = minidl.ones(3, requires_grad=True)
    (x.sum() * 2).backward()  # the sum's backward expands a 0-d gradient
    x.grad.add_(1)
    nn.utils.clip_grad_value_([x], 2.5)
    np.testing.assert_array_equal(_np(x.grad), [2.5, 2.5, 2.5])
    w = minidl.ones(2, 2, requires_grad=True)
    b = w * 1
    v = b.t()
    b.mul_(2)
    with minidl.no_grad():
        assert v.requires_grad and v.grad_fn is not None
    (v * minidl.tensor([[1., 2.], [3., 4.]])).sum().backward()
    np.testing.assert_array_equal(_np(w.grad), [[2., 6.], [4., 8.]])


def test_optimizer_step_reaches_views_of_parameters():
    p = nn.Parameter(minidl.ones(2, 3))
    pt = p.t()
    (p * 2).sum().backward()
    minidl.optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(_np(pt), np.zeros((3, 2)))


def test_parameter_of_a_view_shares_its_storage():
    x = minidl.zeros(3, 4)
    xt = x.t()
    p = nn.Parameter(x[1])
    pt = p.reshape(2, 2).t()
    with minidl.no_grad():
        p.add_(1)
        pt[0, 1] = 5.0
    want = np.zeros((3, 4))
    want[1] = [1., 1., 5., 1.]
    np.testing.assert_array_equal(_np(x), want)
    np.testing.assert_array_equal(_np(xt), want.T)

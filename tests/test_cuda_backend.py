"""The CUDA backend (minidl.cuda.backend) agrees with the CPU backend on every contract primitive.

Runs under numba's simulator (NUMBA_ENABLE_CUDASIM=1) or on a real GPU.  Sizes are chosen around
the kernels' own launch constants (1-D block, reduction block, matmul tiles), read from the
kernel modules so the same edges are crossed in the simulator (tiny blocks) and on a GPU.
The two unmarked tests at the end check `minidl.cuda` itself without touching numba.cuda.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.backend import cpu as C
from minidl.backend.shared import scalar

F32, F64, I64, BOOL = (np.dtype(t) for t in (np.float32, np.float64, np.int64, np.bool_))
DTYPES = (F32, F64, I64, BOOL)

cuda = pytest.mark.cuda


@pytest.fixture(scope="module")
def G():
    """The CUDA backend module (skips when neither a GPU nor the simulator is available)."""
    import minidl.cuda

    if not minidl.cuda.is_available():
        pytest.skip("no CUDA GPU and NUMBA_ENABLE_CUDASIM is not set")
    from minidl.cuda import backend

    return backend


@pytest.fixture(scope="module")
def K():
    """Launch constants of the kernels: 1-D block, reduction block, matmul tile config."""
    from minidl.cuda.kernels import _common, matmul, reduce

    return {"block": _common.THREADS_1D, "rblock": reduce.MAX_BLOCK, "mm": matmul.CONFIG}


def _rand(shape, dtype, rng, low=-3.0, high=3.0):
    dtype = np.dtype(dtype)
    if dtype == BOOL:
        return rng.random(shape) < 0.5
    if dtype == I64:
        return rng.integers(-5, 6, size=shape).astype(np.int64)
    return rng.uniform(low, high, size=shape).astype(dtype)


def _check(got, want, rtol=None, atol=None):
    want = np.asarray(want)
    assert isinstance(got, np.ndarray)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype.kind == "f":
        r = rtol if rtol is not None else (2e-6 if want.dtype == F32 else 1e-13)
        a = atol if atol is not None else (2e-6 if want.dtype == F32 else 1e-13)
        np.testing.assert_allclose(got, want, rtol=r, atol=a, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def _dev(G, a):
    return G.from_numpy(np.asarray(a))


# ---- memory --------------------------------------------------------------------------------------
@cuda
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (1,), (17,), (2, 3, 4)])
def test_roundtrip_empty_full_copy(G, shape):
    rng = np.random.default_rng(0)
    for dt in DTYPES:
        a = _rand(shape, dt, rng)
        d = G.from_numpy(a)
        assert tuple(d.shape) == shape
        back = G.to_numpy(d)
        _check(back, a)
        assert back.dtype == dt  # bool stays np.bool_
        _check(G.to_numpy(G.copy(d)), C.copy(a))
        e = G.empty(shape, dt)
        assert tuple(e.shape) == shape and np.dtype(e.dtype) == dt
        for v in (0, 1, -2.5, True):
            _check(G.to_numpy(G.full(shape, v, dt)), C.full(shape, v, dt))


@cuda
def test_arange(G, K):
    for dt in (F32, F64, I64):
        b = K["block"]
        for start, step, n in ((0, 1, 0), (0, 1, 1), (2, 3, b + 1), (1.5, -0.25, 2 * b + 3),
                               (-7, 2, b - 1)):
            if dt == I64 and (start != int(start) or step != int(step)):
                continue
            _check(G.to_numpy(G.arange(start, step, n, dt)), C.arange(start, step, n, dt))


@cuda
@pytest.mark.parametrize("src", DTYPES, ids=str)
def test_astype(G, src):
    a = np.array([[-2.7, -1.0, -0.5, 0.0], [0.25, 1.0, 1.9, 3.0]])
    a = a.astype(src) if src != BOOL else a > 0
    d = G.from_numpy(a)
    for dst in DTYPES:
        _check(G.to_numpy(G.astype(d, dst)), C.astype(a, dst))
    _check(G.to_numpy(G.astype(G.from_numpy(np.array(-3.5, np.float32)).reshape(()), I64)),
           C.astype(np.array(-3.5, np.float32), I64))


@cuda
def test_reshape_and_copy_into(G):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    d = G.from_numpy(a)
    r = G.reshape(d, (4, 6))
    _check(G.to_numpy(r), C.reshape(a, (4, 6)))
    s = G.reshape(G.from_numpy(np.array([5.0], np.float64)), ())
    assert tuple(s.shape) == () and G.to_numpy(s) == 5.0
    one = G.reshape(G.from_numpy(np.array(7, np.int64)), (1, 1))
    _check(G.to_numpy(one), np.array([[7]], np.int64))
    dst = G.empty((2, 3, 4), F32)
    G.copy_into(dst, d)
    _check(G.to_numpy(dst), a)
    b = np.array([True, False, True])
    dstb = G.full((3,), False, BOOL)
    G.copy_into(dstb, G.from_numpy(b))
    _check(G.to_numpy(dstb), b)


# ---- movement ------------------------------------------------------------------------------------
def _view_cases(K):
    b = K["block"]
    return [  # (base shape, view shape, strides, offset)
        ((3, 4), (4, 3), (1, 4), 0),                       # transpose
        ((5,), (2, 5), (0, 1), 0),                         # expand: stride-0 dim
        ((b + 1,), (b + 1,), (-1,), b),                    # flip: negative stride
        ((4, 6), (2, 3), (12, -2), 5),                     # step + negative stride + offset
        ((2, 3, 4), (4, 2, 3), (1, 12, 4), 0),             # 3-D permute
        ((2, 3, 2, 2, 3), (3, 2, 3, 2, 2), (1, 36, 12, 6, 3), 0),  # 5-D permute, no merging
        ((6,), (), (), 4),                                  # 0-d result
        ((6,), (0, 3), (3, 1), 0),                          # zero-size
        ((2 * b + 3,), (2 * b + 3,), (1,), 0),             # contiguous, grid-stride
        ((3, 1, 4), (3, 5, 4), (4, 0, 1), 0),              # broadcast a middle dim
    ]


@cuda
def test_strided_copy(G, K):
    rng = np.random.default_rng(1)
    for base, shape, strides, offset in _view_cases(K):
        for dt in DTYPES:
            a = _rand(base, dt, rng)
            got = G.to_numpy(G.strided_copy(G.from_numpy(a), shape, strides, offset))
            _check(got, C.strided_copy(a, shape, strides, offset))


@cuda
def test_strided_add(G, K):
    rng = np.random.default_rng(2)
    b = K["block"]
    cases = [  # non-overlapping targets only
        ((3, 4), (4, 3), (1, 4), 0),
        ((b + 1,), (b + 1,), (-1,), b),
        ((4, 6), (2, 3), (12, -2), 5),
        ((2, 3, 4), (4, 2, 3), (1, 12, 4), 0),
        ((6,), (), (), 4),
        ((6,), (0, 3), (3, 1), 0),
        ((5, 7), (5,), (8,), 0),  # the diagonal-ish walk
    ]
    for base, shape, strides, offset in cases:
        for dt in DTYPES:
            dst = _rand(base, dt, rng)
            src = _rand(shape, dt, rng)
            want = dst.copy()
            C.strided_add_(want, shape, strides, offset, src)
            d = G.from_numpy(dst)
            G.strided_add_(d, shape, strides, offset, G.from_numpy(src))
            _check(G.to_numpy(d), want)


@cuda
def test_take(G, K):
    rng = np.random.default_rng(3)
    n = K["block"] + 1
    for dt in DTYPES:
        a = _rand((3, n), dt, rng)
        for index in (np.array(4), np.zeros((0,), np.int64), rng.integers(0, a.size, (2, n)),
                      np.array([0, 0, a.size - 1, 0])):
            index = np.asarray(index, np.int64)
            got = G.to_numpy(G.take(G.from_numpy(a), G.from_numpy(index)))
            _check(got, C.take(a, index))


@cuda
def test_put(G, K):
    rng = np.random.default_rng(10)
    n = 2 * K["block"] + 3
    for dt in DTYPES:
        cases = (((n,), rng.permutation(n)[: n - 2]), ((3, 4), np.array([[11, 0], [5, 6]])),
                 ((2, 2), np.array(3)), ((4,), np.zeros((0,), np.int64)))
        for shape, index in cases:
            index = np.asarray(index, np.int64)
            a, src = _rand(shape, dt, rng), _rand(index.shape, dt, rng)
            want = a.copy()
            C.put_(want, index, src)
            d = G.from_numpy(a)
            G.put_(d, G.from_numpy(index), G.from_numpy(src))
            _check(G.to_numpy(d), want)


@cuda
def test_index_add_repeated_indices(G, K):
    rng = np.random.default_rng(4)
    m = 2 * K["block"] + 3
    for dt in DTYPES:
        for size, index in ((5, np.array([0, 2, 2, 4, 2, 0])), (7, rng.integers(0, 7, m)),
                            (3, np.zeros((0,), np.int64)), (4, np.array(3)),
                            (6, rng.integers(0, 6, (3, 4)))):
            index = np.asarray(index, np.int64)
            src = _rand(index.shape, dt, rng)
            got = G.to_numpy(G.index_add(size, G.from_numpy(index), G.from_numpy(src)))
            want = C.index_add(size, index, src)
            _check(got, want, rtol=1e-5, atol=1e-5)  # atomics: order of float sums varies


# ---- elementwise ---------------------------------------------------------------------------------
_POSITIVE = {"log", "sqrt", "pow", "pow_scalar", "pow_scalar_grad"}
_PARAMS = {"pow_scalar": (2.5,), "pow_scalar_grad": (1.5,), "clamp": (-1.0, 2.0),
           "clamp_grad": (-1.0, 2.0), "leaky_relu": (0.1,), "leaky_relu_grad": (0.1,)}


def _operands(name, dtype, shapes, rng):
    fn = scalar.FUNCTIONS[name]
    lo = 0.1 if name in _POSITIVE else -3.0
    ops = [_rand(s, dtype, rng, low=lo) for s in shapes]
    if name == "where":
        ops[0] = _rand(shapes[0], BOOL, rng)
    assert len(ops) == fn.nin
    return ops


def _params(name):
    """Scalar params for `name`: hand-picked, else 0.5, 2.0 (elu alpha, softplus beta/threshold,
    hardtanh lo/hi...)."""
    return _PARAMS.get(name, (0.5, 2.0)[:scalar.FUNCTIONS[name].nparams])


def _cpu_map(name, ops, params):
    try:
        with np.errstate(all="ignore"):
            return C.map(name, ops, params)
    except TypeError:  # numpy refuses e.g. subtract/negative on bool: not a supported combo
        if ops[-1].dtype != BOOL:
            raise
        return None


def _map_tol(name, dt):
    # transcendental functions: libdevice / math vs numpy may differ by a few ulps
    if dt == F32:
        return 2e-6, 1e-6
    return 1e-13, 1e-14


@cuda
@pytest.mark.parametrize("name", sorted(scalar.FUNCTIONS))
def test_map_every_function(G, K, name):
    from minidl.cuda.kernels.elementwise import map_dtypes

    rng = np.random.default_rng(5)
    fn = scalar.FUNCTIONS[name]
    n = K["block"] + 1
    params = _params(name)
    tested = 0
    for dt in map_dtypes(name):
        for shapes in ([(n,)] * fn.nin,                       # contiguous fast path
                       [(3, 1)] + [(2, 3, 4)] * (fn.nin - 1),  # broadcast (stride 0)
                       [()] * fn.nin):                        # all 0-d
            ops = _operands(name, dt, shapes, rng)
            want = _cpu_map(name, ops, params)
            if want is None:
                continue
            got = G.to_numpy(G.map(name, [G.from_numpy(o) for o in ops], params))
            _check(got, want, *_map_tol(name, dt))
            tested += 1
    assert tested >= 3  # at least one dtype on all three paths


@cuda
def test_map_broadcast_shapes(G, K):
    rng = np.random.default_rng(6)
    b = K["block"]
    cases = [((), (b + 1,)), ((1,), (2 * b + 3,)), ((2, 1, 4), (3, 1)), ((5, 1), (1, 5)),
             ((2, 3, 1, 2, 1, 2), (3, 2, 2, 1)), ((0, 3), (3,)), ((4, 1), (4, 0))]
    for sa, sb in cases:
        for dt in (F32, I64):
            a, c = _rand(sa, dt, rng), _rand(sb, dt, rng)
            for name in ("add", "mul", "lt"):
                got = G.to_numpy(G.map(name, [G.from_numpy(a), G.from_numpy(c)]))
                _check(got, C.map(name, [a, c]))
    cond = rng.random((3, 1)) < 0.5
    x, y = _rand((4,), F32, rng), np.array(7.0, np.float32)
    got = G.to_numpy(G.map("where", [G.from_numpy(cond), G.from_numpy(x), G.from_numpy(y)]))
    _check(got, C.map("where", [cond, x, y]))


@st.composite
def _broadcast_pair(draw):
    """Two shapes that broadcast: a random out shape, each operand dropping leading dims and
    setting some dims to 1 (stride 0)."""
    out = draw(st.lists(st.integers(1, 5), min_size=0, max_size=5))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, len(out)))
        ones = draw(st.lists(st.booleans(), min_size=len(out) - drop, max_size=len(out) - drop))
        shapes.append(tuple(1 if o else n for n, o in zip(out[drop:], ones)))
    return shapes


@cuda
@settings(max_examples=15, deadline=None)
@given(shapes=_broadcast_pair(), name=st.sampled_from(["add", "maximum", "ge", "relu_grad"]))
def test_map_broadcast_property(G, shapes, name):
    rng = np.random.default_rng(11)
    a, b = (_rand(s, F32, rng) for s in shapes)
    got = G.to_numpy(G.map(name, [G.from_numpy(a), G.from_numpy(b)]))
    _check(got, C.map(name, [a, b]))


@cuda
@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_reduce_axes_property(G, shape, data):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    name = data.draw(st.sampled_from(["sum", "max"]))
    a = _rand(tuple(shape), F64, np.random.default_rng(12))
    got = G.to_numpy(G.reduce(name, G.from_numpy(a), axes, False))
    _check(got, C.reduce(name, a, axes, False), rtol=1e-12, atol=1e-12)


@cuda
def test_too_many_unmergeable_dims_is_a_shape_error(G):
    from minidl.cuda.kernels.elementwise import MAX_ND
    from minidl.errors import ShapeError

    k = MAX_ND + 1  # alternating broadcasts: no two adjacent dims can merge
    a = np.ones(tuple(2 if d % 2 == 0 else 1 for d in range(k)), np.float32)
    b = np.ones(tuple(1 if d % 2 == 0 else 2 for d in range(k)), np.float32)
    with pytest.raises(ShapeError, match="at most"):
        G.map("add", [G.from_numpy(a), G.from_numpy(b)])


@cuda
def test_map_nan_propagation(G):
    """NaN/inf through arithmetic, comparisons and sign (maximum, minimum, clamp, relu, abs and
    the activations: tests/test_numerics.py on CUDA)."""
    a = np.array([np.nan, 1.0, -np.inf, 2.0], np.float32)
    b = np.array([0.0, np.nan, 3.0, np.inf], np.float32)
    for name, ops in [(n, [a, b]) for n in ("add", "lt", "eq", "ne")] + [("sign", [a])]:
        got = G.to_numpy(G.map(name, [G.from_numpy(o) for o in ops]))
        _check(got, _cpu_map(name, ops, ()))


# ---- reductions ----------------------------------------------------------------------------------
def _reduce_cases(K):
    rb = K["rblock"]
    return [((1,), (0,)), ((rb - 1,), (0,)), ((rb + 1,), (0,)), ((2 * rb + 3,), (0,)),
            ((3, rb + 1), (1,)), ((3, 5, 2), (0,)), ((3, 5, 2), (1,)), ((3, 5, 2), (0, 2)),
            ((2, 3, 4), (0, 1, 2)), ((5, 1, 3), (1,))]


@cuda
@pytest.mark.parametrize("name", ["sum", "max", "min"])
def test_reduce(G, K, name):
    rng = np.random.default_rng(7)
    for shape, axes in _reduce_cases(K):
        for dt in DTYPES:
            a = _rand(shape, dt, rng)
            keepdims = dt == F64  # only output-shape bookkeeping: once per case is enough
            got = G.to_numpy(G.reduce(name, G.from_numpy(a), axes, keepdims))
            _check(got, C.reduce(name, a, axes, keepdims), rtol=1e-5, atol=1e-5)


@cuda
def test_reduce_edges(G):
    def both(name, a, axes, keepdims):
        _check(G.to_numpy(G.reduce(name, G.from_numpy(a), axes, keepdims)),
               C.reduce(name, a, axes, keepdims))

    a = np.zeros((0, 3), np.float32)
    both("sum", a, (0,), False)  # empty reduction: zeros
    both("max", a, (1,), True)  # no rows: empty output
    b = np.array([[1.0, np.nan, 3.0], [np.nan, -1.0, np.inf]], np.float64)
    for name in ("sum", "max", "min"):
        both(name, b, (1,), False)
    both("sum", np.array([True, True, False]), (0,), False)


@cuda
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reduce(G, K, name):
    rng = np.random.default_rng(8)
    rb = K["rblock"]
    for shape, axis in (((1,), 0), ((rb + 1,), 0), ((2 * rb + 3,), 0), ((3, 5, 2), 0),
                        ((3, 5, 2), 1), ((3, 5, 2), 2), ((4, rb - 1), 1)):
        for dt in DTYPES:
            a = _rand(shape, dt, rng)  # small ints / bools: many ties, the first must win
            keepdims = dt == F32
            got = G.to_numpy(G.arg_reduce(name, G.from_numpy(a), axis, keepdims))
            _check(got, C.arg_reduce(name, a, axis, keepdims))
    ties = np.array([[1.0, 3.0, 3.0, -2.0, -2.0, 3.0], [np.nan, 0.0, np.nan, 9.0, -9.0, 1.0],
                     [0.0, 1.0, 2.0, 3.0, 4.0, np.nan]], np.float32)
    for axis in (0, 1):
        got = G.to_numpy(G.arg_reduce(name, G.from_numpy(ties), axis, False))
        _check(got, C.arg_reduce(name, ties, axis, False))


# ---- matmul --------------------------------------------------------------------------------------
@cuda
def test_matmul_tiles(G, K):
    BM, BN, BK, _, _ = K["mm"]
    rng = np.random.default_rng(9)
    cases = [(1, 1, 1, 1), (2, BM - 1, BK + 1, BN + 1), (1, BM + 1, BK - 1, 2 * BN + 1),
             (3, 2, 2 * BK + 1, 1), (1, 1, 3, BN - 1)]
    for B, M, Kd, N in cases:
        for dt in (F32, F64):
            a = rng.standard_normal((B, M, Kd)).astype(dt)
            b = rng.standard_normal((B, Kd, N)).astype(dt)
            got = G.to_numpy(G.matmul(G.from_numpy(a), G.from_numpy(b)))
            _check(got, C.matmul(a, b), rtol=1e-5 if dt == F32 else 1e-12,
                   atol=1e-5 if dt == F32 else 1e-12)


# ---- random --------------------------------------------------------------------------------------
@cuda
@pytest.mark.parametrize("kind", ["rand_uniform", "rand_normal"])
def test_random_bit_identical(G, K, kind):
    for dt in (F32, F64):
        for shape, seed, offset in (((), 0, 0), ((0,), 1, 0), ((K["block"] + 1,), 123, 7),
                                    ((3, 5), (1 << 63) - 1, (1 << 40) + 3)):
            got = G.to_numpy(getattr(G, kind)(shape, dt, seed, offset))
            with np.errstate(over="ignore"):
                want = getattr(C, kind)(shape, dt, seed, offset)
            assert got.dtype == want.dtype and got.shape == want.shape
            if kind == "rand_uniform":  # integer hash + one exact scaling: bit-identical
                np.testing.assert_array_equal(got, want)
            else:  # log/sqrt/cos: libm, libdevice and the simulator's float64 math differ in ulps
                tol = 4e-7 if dt == F32 else 1e-15
                _check(got, want, rtol=tol, atol=tol)
    u = G.to_numpy(G.rand_uniform((64,), F32, 5, 0))
    assert (u >= 0).all() and (u < 1).all()


# ---- the package ---------------------------------------------------------------------------------
@cuda
def test_cuda_module_info(G):
    import minidl.cuda as mc

    assert mc.is_available()
    mc.require()
    assert mc.device_count() >= 1
    assert isinstance(mc.get_device_name(), str) and mc.get_device_name()
    mc.synchronize()
    from minidl.cuda.kernels._common import SIMULATOR

    assert mc.is_simulator() == SIMULATOR


def test_import_minidl_cuda_does_not_import_numba_cuda():
    code = ("import sys, minidl.cuda; "
            "assert 'numba.cuda' not in sys.modules, 'numba.cuda imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_require_without_numba_cuda_names_the_fix(monkeypatch):
    import minidl.cuda as mc
    from minidl.errors import DeviceError

    monkeypatch.setattr(mc, "_numba_cuda", lambda: None)
    assert not mc.is_available()
    assert mc.device_count() == 0
    with pytest.raises(DeviceError, match=r'pip install "minidl\[cuda\]"'):
        mc.require()

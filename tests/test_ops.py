"""Tests generated from the op table (minidl.testing.opinfo.OP_DB), CPU tier: forward vs the numpy
reference in every dtype of a row, gradcheck in float64 for every differentiable sample,
hypothesis property tests from each row's strategy, and error inputs.  The CUDA parity tests
generated from the same table live in tests/test_ops_cuda.py."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import minidl
from minidl.testing import assert_close, gradcheck
from minidl.testing.opinfo import OP_DB, OpInfo, SampleInput, to_numpy_args
from minidl.testing.strategies import sample_inputs

FOUNDATION = [
    "add", "sub", "mul", "div", "pow", "pow_scalar", "neg", "abs", "exp", "log", "sqrt", "clamp",
    "maximum", "minimum", "where", "matmul", "sum", "mean", "max", "max_dim", "min", "min_dim",
    "amax", "var", "std", "argmax", "argmin", "eq", "ne", "lt", "le", "gt", "ge", "reshape",
    "view", "flatten", "transpose", "permute", "T", "squeeze", "unsqueeze", "expand", "getitem",
    "gather", "scatter_add", "cat", "stack", "pad", "relu", "leaky_relu", "sigmoid", "tanh",
    "gelu", "softmax", "log_softmax",
]


def _outputs(out) -> tuple:
    return tuple(out) if isinstance(out, tuple) else (out,)


def forward_tolerances(op: OpInfo, dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing a forward result with the reference in `dtype`."""
    if dtype is minidl.float64:
        return op.rtol, op.atol
    return max(op.rtol, 1e-4), max(op.atol, 1e-5)  # float32, or an int input with a float result


def check_forward(op: OpInfo, sample: SampleInput, dtype) -> None:
    out = op.op(*sample.args, **sample.kwargs)
    expected = op.ref(*to_numpy_args(sample.args), **sample.kwargs)
    outs, exps = _outputs(out), _outputs(expected)
    where = f"{op.name}[{sample.name}] {dtype}"
    assert len(outs) == len(exps), f"{where}: {len(outs)} outputs, reference gave {len(exps)}"
    for k, (o, e) in enumerate(zip(outs, exps)):
        assert isinstance(o, minidl.Tensor), f"{where}: output {k} is {type(o).__name__}"
        e = np.asarray(e)
        if e.dtype.kind == "f" and dtype.is_floating_point:
            assert o.dtype.np == e.dtype, f"{where}: output {k} dtype {o.dtype}, expected {e.dtype}"
        elif e.dtype.kind in "bi" and o.dtype.np.kind in "bi":
            assert o.dtype.np == e.dtype, f"{where}: output {k} dtype {o.dtype}, expected {e.dtype}"
        rtol, atol = forward_tolerances(op, dtype) if e.dtype.kind == "f" else (0.0, 0.0)
        assert_close(o, e, rtol=rtol, atol=atol, msg=f"{where}: output {k}")


def check_gradients(op: OpInfo, sample: SampleInput) -> None:
    if not any(t.requires_grad for t in sample.tensors()):
        return
    fn = op.gradcheck_fn or op.op
    try:
        gradcheck(fn, sample.args, kwargs=sample.kwargs, atol=op.grad_atol, rtol=op.grad_rtol)
    except AssertionError as e:
        raise AssertionError(f"{op.name}[{sample.name}]: {e}") from None


def _sample_params(dtype_of, requires_grad, rows):
    params = []
    for op in rows:
        for dtype in dtype_of(op):
            for i, s in enumerate(op.sample_inputs("cpu", dtype, requires_grad)):
                params.append(pytest.param(op, dtype, i, id=f"{op.name}-{dtype.name}-{s.name}"))
    return params


# ---- the table itself ---------------------------------------------------------------------------
def test_table_names_unique_and_complete():
    names = [o.name for o in OP_DB]
    assert len(names) == len(set(names)), "duplicate OpInfo names"
    missing = sorted(set(FOUNDATION) - set(names))
    assert not missing, f"foundation ops without a row: {missing}"


@pytest.mark.parametrize("op", OP_DB, ids=lambda o: o.name)
def test_samples_are_well_formed(op):
    for dtype in op.dtypes:
        samples = op.sample_inputs("cpu", dtype, False)
        assert samples, f"{op.name}: no samples for {dtype}"
        for s in samples:
            assert isinstance(s, SampleInput) and isinstance(s.args, tuple)
            assert isinstance(s.kwargs, dict) and s.name
            assert not any(isinstance(v, minidl.Tensor) for v in s.kwargs.values())
            for t in s.tensors():
                assert t.device.type == "cpu"
                assert t.numel() <= 1200, f"{op.name}[{s.name}]: keep samples small (CUDA sim)"
    if op.differentiable:
        grads = [t for s in op.sample_inputs("cpu", minidl.float64, True)
                 for t in s.tensors() if t.requires_grad]
        assert grads, f"{op.name}: differentiable but no sample input requires grad"
        assert all(t.dtype is minidl.float64 for t in grads)


# ---- forward vs reference -----------------------------------------------------------------------
@pytest.mark.parametrize("op,dtype,i", _sample_params(lambda o: o.dtypes, False, OP_DB))
def test_forward(op, dtype, i):
    sample = op.sample_inputs("cpu", dtype, False)[i]
    check_forward(op, sample, dtype)


# ---- gradcheck ----------------------------------------------------------------------------------
@pytest.mark.parametrize("op,dtype,i", _sample_params(
    lambda o: (minidl.float64,), True, [o for o in OP_DB if o.differentiable]))
def test_gradcheck(op, dtype, i):
    sample = op.sample_inputs("cpu", dtype, True)[i]
    check_gradients(op, sample)


@pytest.mark.parametrize("op", [o for o in OP_DB if not o.differentiable], ids=lambda o: o.name)
def test_non_differentiable_outputs_have_no_grad_fn(op):
    for s in op.sample_inputs("cpu", minidl.float64, False):
        args = tuple(t.detach().requires_grad_() if isinstance(t, minidl.Tensor) and
                     t.dtype.is_floating_point else t for t in s.args)
        for o in _outputs(op.op(*args, **s.kwargs)):
            assert not o.requires_grad and o.grad_fn is None, f"{op.name}[{s.name}]"


# ---- hypothesis ---------------------------------------------------------------------------------
@pytest.mark.parametrize("op", [o for o in OP_DB if o.strategy is not None], ids=lambda o: o.name)
def test_property(op):
    @given(sample=sample_inputs(op))
    def check(sample):
        check_forward(op, sample, minidl.float64)
        if op.differentiable:
            check_gradients(op, sample)
    check()


# ---- error inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize("op", [o for o in OP_DB if o.error_inputs is not None],
                         ids=lambda o: o.name)
def test_error_inputs(op):
    errors = op.error_inputs("cpu")
    assert errors
    for e in errors:
        with pytest.raises(e.error, match=e.match):
            op.op(*e.args, **e.kwargs)

"""`gradcheck`: compare backward's gradients with central differences; `assert_close` for values.

What lives here: the numerical/analytic Jacobian comparison used by the op table's tests and by
users who write their own `minidl.autograd.Function`, and a torch-like closeness assertion.
What does not: sample generation (minidl.testing.strategies, minidl.testing.opinfo).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes
from ..autograd import grad as _autograd_grad
from ..autograd import no_grad
from ..ops.movement import write_back
from ..tensor import Tensor

__all__ = ["gradcheck", "GradcheckError", "assert_close"]


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree (or the function cannot be checked)."""


# ---- gradcheck ---------------------------------------------------------------------------------
def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _eval(fn, args, kwargs) -> list:
    """fn's differentiable outputs as float64 host arrays, without recording a graph.

    Which outputs count is decided by the caller's first (graph-recording) run; here every
    floating tensor output is returned in order, so the caller indexes them the same way."""
    with no_grad():
        out = fn(*args, **kwargs)
    return [o._backend.to_numpy(o._data).astype(np.float64)
            for o in _as_tuple(out) if isinstance(o, Tensor) and o.dtype.is_floating_point]


def _check_inputs(inputs) -> list[int]:
    idx = []
    for i, a in enumerate(inputs):
        if not isinstance(a, Tensor) or not a.requires_grad:
            continue
        if a.dtype is not dtypes.float64:
            raise GradcheckError(
                f"gradcheck: input {i} has dtype {a.dtype}; gradcheck needs float64 inputs that "
                f"require grad (finite differences in float32 are too coarse). Use x.double().")
        if a.device.type != "cpu":
            raise GradcheckError(f"gradcheck: input {i} is on {a.device}; gradcheck runs on the "
                                 f"CPU (check CUDA gradients against CPU ones instead)")
        idx.append(i)
    if not idx:
        raise GradcheckError("gradcheck: no input requires grad; pass float64 tensors created with "
                             "requires_grad=True")
    return idx


def _analytic(outs, ins, grad_outs) -> list[np.ndarray]:
    """J^T v for every input, v = grad_outs (one per output), as float64 host arrays."""
    grads = _autograd_grad(outs, ins, grad_outputs=grad_outs, retain_graph=True,
                           allow_unused=True)
    res = []
    for k, (g, x) in enumerate(zip(grads, ins)):
        if g is None:
            res.append(np.zeros(x.shape))
            continue
        if tuple(g.shape) != tuple(x.shape):
            raise GradcheckError(f"gradcheck: gradient of input {k} has shape {list(g.shape)}, "
                                 f"expected {list(x.shape)}")
        if g.dtype is not x.dtype:
            raise GradcheckError(f"gradcheck: gradient of input {k} has dtype {g.dtype}, "
                                 f"expected {x.dtype}")
        res.append(g._backend.to_numpy(g._data).astype(np.float64))
    return res


def _one_hot_like(outs, pos: int) -> list:
    """Unit cotangent at flat position `pos` of the concatenated outputs."""
    from ..creation import from_numpy

    res = []
    for o in outs:
        v = np.zeros(o.numel())
        if 0 <= pos < o.numel():
            v[pos] = 1.0
        pos -= o.numel()
        res.append(from_numpy(v.reshape(o.shape)))
    return res


def _fail_message(kind, in_idx, arg_idx, elem, out_elem, a, n, atol, rtol, extra="") -> str:
    err = abs(a - n)
    rel = err / abs(n) if n != 0 else float("inf") if err else 0.0
    where = f"input {in_idx} (argument {arg_idx})"
    if elem is not None:
        where += f", element {elem}"
    if out_elem is not None:
        where += f", output element {out_elem}"
    return (f"gradcheck: {kind} Jacobian mismatch at {where}:\n"
            f"  analytic  = {a!r}\n  numerical = {n!r}\n"
            f"  abs error = {err:.3e} (atol {atol:g}), rel error = {rel:.3e} (rtol {rtol:g})"
            + (f"\n{extra}" if extra else ""))


def _unravel(flat: int, shape: tuple):
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def gradcheck(fn: Callable[..., Any], inputs: Sequence | Tensor, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              max_full: int = 4096, n_projections: int = 2, seed: int = 0,
              kwargs: dict | None = None) -> bool:
    """Check `fn`'s backward against central differences, in float64 on the CPU.

    fn(*inputs, **kwargs) returns a Tensor or a tuple; its floating outputs that require grad are
    checked, the rest (indices, masks) ignored.  Every Tensor in `inputs` with requires_grad=True
    must be float64 on the CPU; other arguments are passed through unchanged.

    If (total input numel) * (total output numel) <= max_full the whole Jacobian is compared
    (one backward per output element, two forward calls per input element).  Otherwise
    `n_projections` random projections v^T J u are compared, v and u drawn with `seed`:
    analytic sum_k <J_k^T v, u_k> against the directional derivative (f(x + eps u) - f(x - eps u))
    / (2 eps).  A mismatch |analytic - numerical| > atol + rtol |numerical| raises GradcheckError
    naming the worst element (or returns False with raise_exception=False).  Returns True.
    """
    inputs = _as_tuple(inputs) if isinstance(inputs, (Tensor, tuple)) else tuple(inputs)
    kwargs = kwargs or {}
    try:
        return _gradcheck(fn, inputs, kwargs, eps, atol, rtol, max_full, n_projections, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(fn, inputs, kwargs, eps, atol, rtol, max_full, n_projections, seed) -> bool:
    idx = _check_inputs(inputs)
    ins = [inputs[i] for i in idx]
    out = fn(*inputs, **kwargs)
    float_outs = [o for o in _as_tuple(out) if isinstance(o, Tensor) and o.dtype.is_floating_point]
    diff = [k for k, o in enumerate(float_outs) if o.requires_grad]
    outs = [float_outs[k] for k in diff]
    for k, o in enumerate(outs):
        if o.dtype is not dtypes.float64:
            raise GradcheckError(f"gradcheck: output {k} has dtype {o.dtype}; expected float64 "
                                 f"from float64 inputs")
    if not outs:
        # nothing differentiable came out: every gradient must be zero/None, nothing to compare
        return True
    n_in = sum(x.numel() for x in ins)
    n_out = sum(o.numel() for o in outs)
    if n_in == 0 or n_out == 0:
        # empty Jacobian; still run backward once so shape/dtype errors surface
        _analytic(outs, ins, [o.detach() * 0.0 for o in outs])
        return True

    def values(args) -> np.ndarray:
        for x in ins:  # the perturbations wrote a strided view's own copy: publish them
            if x._view is not None and x._view[3]:
                write_back(x)
        got = _eval(fn, args, kwargs)
        return np.concatenate([got[k].reshape(-1) for k in diff]) if diff else np.zeros(0)

    if n_in * n_out <= max_full:
        _full(fn, inputs, idx, ins, outs, values, eps, atol, rtol)
    else:
        _projected(inputs, idx, ins, outs, values, eps, atol, rtol, n_projections, seed)
    return True


def _perturbed(x: Tensor, j: int, delta: float):
    """Add `delta` to element j of x's storage in place; returns the old value."""
    flat = x._data.reshape(-1)
    old = flat[j]
    flat[j] = old + delta
    if x._data.reshape(-1)[j] != old + delta:  # reshape copied: storage not writable in place
        raise GradcheckError("gradcheck: cannot perturb an input in place (non-contiguous storage)")
    return old


def _full(fn, inputs, idx, ins, outs, values, eps, atol, rtol) -> None:
    n_out = sum(o.numel() for o in outs)
    # analytic: row r of J (over all inputs) from a backward with a one-hot cotangent
    analytic = [np.zeros((n_out, x.numel())) for x in ins]
    for r in range(n_out):
        gs = _analytic(outs, ins, _one_hot_like(outs, r))
        for k, g in enumerate(gs):
            analytic[k][r] = g.reshape(-1)
    out_shapes = [tuple(o.shape) for o in outs]
    worst = None
    for k, x in enumerate(ins):
        numerical = np.zeros((n_out, x.numel()))
        for j in range(x.numel()):
            old = _perturbed(x, j, eps)
            try:
                plus = values(inputs)
                x._data.reshape(-1)[j] = old - eps
                minus = values(inputs)
            finally:
                x._data.reshape(-1)[j] = old
            numerical[:, j] = (plus - minus) / (2 * eps)
        a = analytic[k]
        err = np.abs(a - numerical)
        bound = atol + rtol * np.abs(numerical)
        bad = ~(err <= bound)  # NaN counts as a failure
        if bad.any():
            ratio = np.where(np.isnan(err), np.inf, err / bound)
            r, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
            score = ratio[r, j]
            if worst is None or score > worst[0]:
                worst = (score, k, r, j, a[r, j], numerical[r, j], int(bad.sum()), a.size)
    if worst is not None:
        _, k, r, j, a, n, nbad, total = worst
        out_k, pos = _locate(out_shapes, r)
        out_elem = f"{out_k}{list(_unravel(pos, out_shapes[out_k]))}" if len(outs) > 1 else \
            str(list(_unravel(pos, out_shapes[0])))
        raise GradcheckError(_fail_message(
            "full", k, idx[k], list(_unravel(j, tuple(ins[k].shape))), out_elem, float(a),
            float(n), atol, rtol, f"  {nbad} of {total} Jacobian entries of this input differ"))


def _locate(shapes, r: int):
    for k, s in enumerate(shapes):
        n = int(np.prod(s, dtype=np.int64))
        if r < n:
            return k, r
        r -= n
    raise IndexError(r)


def _projected(inputs, idx, ins, outs, values, eps, atol, rtol, n_projections, seed) -> None:
    from ..creation import from_numpy

    rng = np.random.default_rng(seed)
    for p in range(n_projections):
        us = [rng.standard_normal(x.shape) for x in ins]
        vs = [rng.standard_normal(o.shape) for o in outs]
        v_flat = np.concatenate([v.reshape(-1) for v in vs])
        gs = _analytic(outs, ins, [from_numpy(v) for v in vs])
        parts = [float(np.sum(g * u)) for g, u in zip(gs, us)]
        analytic = sum(parts)
        numerical_parts = []
        for k, (x, u) in enumerate(zip(ins, us)):
            # one input at a time, so a mismatch can name the input
            base = x._data.copy()
            try:
                x._data[...] = base + eps * u
                plus = values(inputs)
                x._data[...] = base - eps * u
                minus = values(inputs)
            finally:
                x._data[...] = base
            numerical_parts.append(float(v_flat @ (plus - minus)) / (2 * eps))
        numerical = sum(numerical_parts)
        per_input = [(abs(a - n) / (atol + rtol * abs(n)), k, a, n)
                     for k, (a, n) in enumerate(zip(parts, numerical_parts))]
        if not abs(analytic - numerical) <= atol + rtol * abs(numerical) or \
                any(not s <= 1.0 for s, *_ in per_input):
            s, k, a, n = max(per_input, key=lambda t: np.inf if np.isnan(t[0]) else t[0])
            extra = (f"  projection {p} (seed {seed}): v^T J u analytic {analytic!r} vs numerical "
                     f"{numerical!r}; the worst input's share is shown above")
            elem = None
            diag = _worst_element_of_projection(inputs, ins, outs, values, vs, gs, k, eps)
            if diag is not None:
                elem, a_e, n_e = diag
                extra += f"\n  worst element of J^T v for that input: {elem}: analytic {a_e!r} " \
                         f"vs numerical {n_e!r}"
            raise GradcheckError(_fail_message("projected (v^T J u)", k, idx[k], None, None, a, n,
                                               atol, rtol, extra))


def _worst_element_of_projection(inputs, ins, outs, values, vs, gs, k, eps, limit=20000):
    """For a failing projection, J^T v of input k elementwise (if cheap enough) to name the
    worst element."""
    x = ins[k]
    if x.numel() > limit:
        return None
    v_flat = np.concatenate([v.reshape(-1) for v in vs])
    num = np.zeros(x.numel())
    flat = x._data.reshape(-1)
    for j in range(x.numel()):
        old = flat[j]
        try:
            flat[j] = old + eps
            plus = values(inputs)
            flat[j] = old - eps
            minus = values(inputs)
        finally:
            flat[j] = old
        num[j] = float(v_flat @ (plus - minus)) / (2 * eps)
    a = gs[k].reshape(-1)
    err = np.abs(a - num)
    j = int(np.argmax(np.where(np.isnan(err), np.inf, err)))
    return list(_unravel(j, tuple(x.shape))), float(a[j]), float(num[j])


# ---- assert_close ------------------------------------------------------------------------------
_DEFAULT_TOL = {np.dtype(np.float32): (1.3e-6, 1e-5), np.dtype(np.float64): (1e-7, 1e-7)}


def _to_array(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._backend.to_numpy(x._data)
    return np.asarray(x)


def assert_close(actual, expected, rtol: float | None = None, atol: float | None = None,
                 equal_nan: bool = True, check_dtype: bool = False, msg: str | None = None) -> None:
    """Assert |actual - expected| <= atol + rtol * |expected| elementwise (torch.testing style).

    Accepts Tensors (any device, requires_grad or not), numpy arrays and numbers.  Default
    tolerances follow the less precise of the two dtypes (float32: rtol 1.3e-6, atol 1e-5;
    float64: 1e-7, 1e-7; integers and bools: exact).  NaNs compare equal when equal_nan."""
    a, e = _to_array(actual), _to_array(expected)
    prefix = f"{msg}\n\n" if msg else ""
    if a.shape != e.shape:
        raise AssertionError(f"{prefix}The values for attribute 'shape' do not match: "
                             f"{a.shape} != {e.shape}.")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(f"{prefix}The values for attribute 'dtype' do not match: "
                             f"{a.dtype} != {e.dtype}.")
    if rtol is None or atol is None:
        cands = [_DEFAULT_TOL.get(d, (0.0, 0.0)) for d in (a.dtype, e.dtype)
                 if d.kind == "f"] or [(0.0, 0.0)]
        dr, da = max(c[0] for c in cands), max(c[1] for c in cands)
        rtol = dr if rtol is None else rtol
        atol = da if atol is None else atol
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if a64.size == 0:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a64 - e64)
        ok = diff <= atol + rtol * np.abs(e64)
        same_inf = np.isinf(a64) & np.isinf(e64) & (np.sign(a64) == np.sign(e64))
        ok |= same_inf
        if equal_nan:
            ok |= np.isnan(a64) & np.isnan(e64)
    if ok.all():
        return
    bad = ~ok
    n_bad, total = int(bad.sum()), a64.size
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(bad, diff, 0.0)
        rel = np.where(bad, diff / np.abs(e64), 0.0)
    d = np.where(np.isnan(d), np.inf, d)
    rel = np.where(np.isnan(rel), np.inf, rel)
    ia = _unravel(int(np.argmax(d)), a64.shape)
    ir = _unravel(int(np.argmax(rel)), a64.shape)
    lines = [
        "Tensor-likes are not close!" if a64.ndim else "Scalars are not close!",
        "",
        f"Mismatched elements: {n_bad} / {total} ({100.0 * n_bad / total:.1f}%)",
        f"Greatest absolute difference: {d[ia] if d.ndim else d:g} at index {ia} "
        f"(up to {atol:g} allowed)",
        f"Greatest relative difference: {rel[ir] if rel.ndim else rel:g} at index {ir} "
        f"(up to {rtol:g} allowed)",
        f"  actual[{ia}] = {float(a64[ia])!r}, expected[{ia}] = {float(e64[ia])!r}",
    ]
    raise AssertionError(prefix + "\n".join(lines))

"""Hypothesis strategies for minidl: shapes, broadcast-compatible shape tuples, tensors (with kink
points kept at a distance), and the SampleInputs of an op-table row.

Only this module of minidl.testing imports hypothesis, so `import minidl.testing` needs it
installed (`pip install hypothesis`; it is part of minidl's test extra).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import dtypes
from .opinfo import keep_away

__all__ = ["shapes", "tensors", "arrays", "broadcastable_shapes", "sample_inputs",
           "distinct_arrays"]


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1,
           max_side: int = 5) -> st.SearchStrategy:
    """Tuples of ints: min_dims..max_dims dims, each of size min_side..max_side."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


def arrays(shape, dtype=dtypes.float64, min_value: float = -3.0, max_value: float = 3.0,
           avoid=(), margin: float = 0.05) -> st.SearchStrategy:
    """numpy arrays of `shape` (a tuple or a strategy of tuples) with finite values in
    [min_value, max_value], at least `margin` from each point of `avoid`."""
    dt = dtypes.to_dtype(dtype)

    @st.composite
    def build(draw):
        shp = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
        if dt.is_floating_point:
            elems = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False,
                              allow_subnormal=False, width=8 * dt.itemsize)
        elif dt is dtypes.bool_:
            elems = st.booleans()
        else:
            elems = st.integers(int(np.ceil(min_value)), int(np.floor(max_value)))
        a = draw(hnp.arrays(dt.np, shp, elements=elems))
        if dt.is_floating_point and len(avoid):
            a = keep_away(a, avoid, margin, min_value, max_value).astype(dt.np)
        return a
    return build()


def distinct_arrays(shape, dtype=dtypes.float64, spacing: float = 0.25) -> st.SearchStrategy:
    """Arrays whose elements are pairwise at least `spacing` apart (a shuffled, centred ladder
    with jitter): for max/min/argmax-like ops, where ties make the gradient ill-defined."""
    dt = dtypes.to_dtype(dtype)

    @st.composite
    def build(draw):
        shp = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
        n = int(np.prod(shp, dtype=np.int64))
        perm = np.array(draw(st.permutations(list(range(n)))), dtype=np.float64)
        jitter = draw(st.floats(0.0, 0.4 * spacing))
        scale = draw(st.sampled_from([1.0, -1.0]))
        a = scale * (perm - (n - 1) / 2.0) * spacing + jitter
        return a.reshape(shp).astype(dt.np)
    return build()


def tensors(shape=shapes(), dtype=dtypes.float64, min_value: float = -3.0,
            max_value: float = 3.0, avoid=(), margin: float = 0.05, device: str = "cpu",
            requires_grad: bool = False) -> st.SearchStrategy:
    """minidl Tensors of `shape` (tuple or strategy) and `dtype` with values in
    [min_value, max_value] kept `margin` away from each kink point in `avoid`."""
    from ..creation import from_numpy

    def make(a):
        t = from_numpy(np.asarray(a, order="C"))
        if device != "cpu":
            t = t.to(device)
        if requires_grad:
            t.requires_grad_(True)
        return t
    return arrays(shape, dtype, min_value, max_value, avoid, margin).map(make)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4,
                         min_side: int = 1, max_side: int = 5) -> st.SearchStrategy:
    """Tuples of `num_shapes` shapes that broadcast together (dims of size 1 and missing
    leading dims included), e.g. ((3, 1, 4), (5, 1))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda b: tuple(b.input_shapes))


def sample_inputs(opinfo) -> st.SearchStrategy:
    """The SampleInputs (float64, CPU, requires_grad=True) an OpInfo's `strategy` describes."""
    if opinfo.strategy is None:
        raise ValueError(f"op '{opinfo.name}' has no hypothesis strategy")
    return opinfo.strategy()

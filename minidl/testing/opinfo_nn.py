"""Op-table rows for minidl.nn.functional: pooling, local response norm, batch/layer norm,
linear, losses and the nn activations (elu, softplus, hardtanh, scaled_tanh, logsigmoid).

Each row's reference is written here directly in numpy (loops over windows / channels where
that is the clearest statement of the definition); samples are tiny and awkward (odd sizes,
overlapping windows, padding, dilation, ceil_mode) so the CUDA simulator runs them quickly.
Dropout is not a row (its output is random): tests/test_dropout.py covers it.
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.nn.functional as F
from minidl.backend.shared.geometry import pair
from minidl.errors import DTypeError, ShapeError

from .opinfo import ErrorInput, Maker, OpInfo, SampleInput, _composite


def pool_out_size(n, k, s, p, d, ceil):
    """PyTorch's pooled size of a side n (kernel k, stride s, padding p, dilation d, ceil_mode)."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


# ---- references --------------------------------------------------------------------------------
def ref_max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   return_indices=False):
    if x.ndim == 3:  # unbatched [C, H, W]
        r = ref_max_pool2d(x[None], kernel_size, stride, padding, dilation, ceil_mode, True)
        return (r[0][0], r[1][0]) if return_indices else r[0][0]
    k = pair(kernel_size, "reference", "kernel_size")
    s = k if stride is None else pair(stride, "reference", "stride")
    p, d = pair(padding, "reference", "padding"), pair(dilation, "reference", "dilation")
    N, C, H, W = x.shape
    OH = pool_out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = pool_out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.empty((N, C, OH, OW), x.dtype)
    idx = np.empty((N, C, OH, OW), np.int64)
    for oh in range(OH):
        for ow in range(OW):
            hs = [oh * s[0] - p[0] + i * d[0] for i in range(k[0])]
            ws = [ow * s[1] - p[1] + j * d[1] for j in range(k[1])]
            flat = [h * W + w for h in hs for w in ws if 0 <= h < H and 0 <= w < W]
            if not flat:  # a dilated window that misses the input: -inf, index -1 (torch)
                out[:, :, oh, ow], idx[:, :, oh, ow] = -np.inf, -1
                continue
            vals = x.reshape(N, C, H * W)[:, :, flat]
            arg = np.argmax(vals, axis=2)  # first maximum in raster order
            nan = np.isnan(vals)  # torch's scan takes every NaN it meets: the last one wins
            arg = np.where(nan.any(2), len(flat) - 1 - np.argmax(nan[..., ::-1], axis=2), arg)
            out[:, :, oh, ow] = np.take_along_axis(vals, arg[..., None], 2)[..., 0]
            idx[:, :, oh, ow] = np.asarray(flat)[arg]
    return (out, idx) if return_indices else out


def ref_avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
    k = pair(kernel_size, "reference", "kernel_size")
    s = k if stride is None else pair(stride, "reference", "stride")
    p = pair(padding, "reference", "padding")
    N, C, H, W = x.shape
    OH = pool_out_size(H, k[0], s[0], p[0], 1, ceil_mode)
    OW = pool_out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    out = np.empty((N, C, OH, OW), x.dtype)
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            area = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            div = divisor_override or (area if count_include_pad else (h1 - h0) * (w1 - w0))
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    return out


def ref_adaptive_avg_pool2d(x, output_size):
    H, W = x.shape[-2:]
    o = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    OH, OW = (H if o[0] is None else o[0]), (W if o[1] is None else o[1])
    out = np.empty(x.shape[:-2] + (OH, OW), x.dtype)
    for i in range(OH):
        for j in range(OW):
            h0, h1 = (i * H) // OH, -(-((i + 1) * H) // OH)
            w0, w1 = (j * W) // OW, -(-((j + 1) * W) // OW)
            out[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return out


def ref_local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1)
        out[:, c] = x[:, c] / (k + alpha / size * (x[:, lo:hi] ** 2).sum(axis=1)) ** beta
    return out


def ref_batch_norm_train(x, weight, bias, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return (y * weight.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


def ref_layer_norm(x, normalized_shape, weight, bias, eps=1e-5):
    nd = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - nd, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return (y * weight + bias).astype(x.dtype)


def ref_linear(x, w, b=None):
    return (x @ w.T + (0 if b is None else b)).astype(x.dtype)


def _log_softmax_rows(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def ref_cross_entropy(x, target, weight=None, label_smoothing=0.0, ignore_index=-100,
                      reduction="mean"):
    """[N, C] logits with class indices [N] or probabilities [N, C]; spatial [N, C, d1, ...]
    inputs are rows at every position, unbatched [C] inputs one row."""
    kw = dict(weight=weight, label_smoothing=label_smoothing, ignore_index=ignore_index,
              reduction=reduction)
    probs = target.dtype.kind == "f"
    if x.ndim == 1:
        r = ref_cross_entropy(x[None], target[None], **kw)
        return r[0] if reduction == "none" else r
    if x.ndim > 2:
        C = x.shape[1]
        rows = lambda a: np.moveaxis(a, 1, -1).reshape(-1, C)  # noqa: E731
        r = ref_cross_entropy(rows(x), rows(target) if probs else target.reshape(-1), **kw)
        return r.reshape(x.shape[:1] + x.shape[2:]) if reduction == "none" else r
    N, C = x.shape
    weight = np.ones(C) if weight is None else weight
    lp = _log_softmax_rows(x.astype(np.float64))
    if probs:  # smoothing mixes the target with the uniform distribution; "mean" divides by N
        losses = -(lp * (target * (1 - label_smoothing) + label_smoothing / C) * weight).sum(1)
        if reduction == "none":
            return losses.astype(x.dtype)
        return np.asarray(losses.mean() if reduction == "mean" else losses.sum(), x.dtype)
    losses, denom = np.zeros(N), 0.0
    for i in range(N):
        if target[i] == ignore_index:
            continue
        nll = -weight[target[i]] * lp[i, target[i]]
        losses[i] = (1 - label_smoothing) * nll - label_smoothing / C * (weight * lp[i]).sum()
        denom += weight[target[i]]
    if reduction == "none":
        return losses.astype(x.dtype)
    return np.asarray(losses.sum() / denom if reduction == "mean" else losses.sum(), x.dtype)


def ref_nll_loss(lp, target, weight=None, ignore_index=-100, reduction="mean"):
    keep = target != ignore_index
    tt = np.where(keep, target, 0)
    w = (np.ones(lp.shape[1]) if weight is None else weight)[tt] * keep
    picked = -lp[np.arange(len(target)), tt] * w
    if reduction == "none":
        return picked.astype(lp.dtype)
    return np.asarray(picked.sum() / w.sum() if reduction == "mean" else picked.sum(), lp.dtype)


def ref_mse_loss(x, y, reduction="mean"):
    d = (x - y) ** 2
    return d if reduction == "none" else np.asarray(d.mean() if reduction == "mean" else d.sum(),
                                                    x.dtype)


def ref_bce_with_logits(x, y, pos_weight=None, weight=None, reduction="mean"):
    xd = x.astype(np.float64)
    log_sig = -np.logaddexp(0.0, -xd)
    log_one_minus = -np.logaddexp(0.0, xd)
    pw = 1.0 if pos_weight is None else pos_weight
    d = -(pw * y * log_sig + (1 - y) * log_one_minus) * (1.0 if weight is None else weight)
    if reduction == "none":
        return d.astype(x.dtype)
    return np.asarray(d.mean() if reduction == "mean" else d.sum(), x.dtype)


def _act(fn):
    return lambda x, *a, **k: fn(x.astype(np.float64), *a, **k).astype(x.dtype)


def _softplus(x, beta=1.0, threshold=20.0):
    soft = np.log1p(np.exp(np.minimum(beta * x, threshold))) / beta
    return np.where(beta * x > threshold, x, soft)


# ---- samples -----------------------------------------------------------------------------------
def _pool_samples(device, dtype, rg, max_pool=True):
    m = Maker(device, dtype, rg)
    x4 = (2, 3, 7, 6)
    cases = [
        ((2, 3, 9, 9), (3,), {"stride": 2}, "alexnet_3x3_s2"),
        ((1, 2, 7, 5), (2,), {}, "lenet_2x2_odd"),
        (x4, (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, "pad_ceil"),
        ((1, 1, 1, 1), (1,), {}, "size1"),
        ((1, 2, 6, 7), ((2, 3),), {"stride": (1, 2), "padding": (1, 0)}, "rect"),
        # 6x3 outputs per plane: more than one of the simulator's 16-thread blocks
        ((1, 1, 17, 3), ((2, 3),), {"stride": (3, 1), "padding": 1, "ceil_mode": True}, "tall"),
    ]
    if max_pool:
        cases.append(((1, 2, 8, 6), ((3, 2),), {"stride": 1, "padding": 1, "dilation": (2, 1)},
                      "dilated"))
        cases.append(((2, 5, 5), (2,), {"stride": 1}, "unbatched"))
    else:
        cases.append((x4, (3,), {"stride": 2, "padding": 1, "count_include_pad": False,
                                 "ceil_mode": True}, "exclude_pad"))
        cases.append(((1, 2, 5, 5), (2,), {"divisor_override": 3}, "divisor_override"))
    out = []
    for shape, args, kw, name in cases:
        x = m.distinct(shape, spacing=0.05) if max_pool else m(shape)
        out.append(SampleInput((x,) + args, kw, name))
    return out


def _pool_errors(op):
    def errors(device):
        x = minidl.zeros(1, 3, 5, 5, device=device)
        return [
            ErrorInput((x, 3), {"padding": 2}, ShapeError,
                       rf"{op.__name__}: pad should be at most half of effective kernel size, "
                       r"but got pad=2, kernel_size=3"),
            ErrorInput((x, 7), {}, ShapeError, rf"{op.__name__}: output size is too small: "
                                               r"computed output \[1, 3, 0, 0\].*larger than "
                                               r"the padded input 5x5"),
            ErrorInput((minidl.zeros(5, 5, device=device), 2), {}, ShapeError,
                       r"expected a non-empty 3D \[C, H, W\] or 4D \[N, C, H, W\] input"),
            ErrorInput((x, 3, 0), {}, ShapeError, "stride must be greater than zero"),
            ErrorInput((x, 0), {}, ShapeError, "kernel_size must be greater than zero"),
            ErrorInput((minidl.zeros(1, 1, 4, 4, dtype=minidl.int64, device=device), 2), {},
                       DTypeError, rf"{op.__name__}: expected a floating point input"),
        ]
    return errors


def _st_pool(max_pool):
    """Hypothesis geometries (kernel, stride, padding, dilation for max, ceil_mode; for avg
    count_include_pad and divisor_override); max pooling draws distinct values (no ties)."""
    def draw_sample(draw, st, S):
        from hypothesis import assume

        k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if max_pool else (1, 1)
        ceil = draw(st.booleans())
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 9)),
                 draw(st.integers(1, 9)))
        for n, i in ((shape[2], 0), (shape[3], 1)):
            o = pool_out_size(n, k[i], s[i], p[i], d[i], ceil)
            assume(o >= 1)
            # a dilated window may miss the input entirely (-inf): not differentiable
            assume(all(any(0 <= j * s[i] - p[i] + t * d[i] < n for t in range(k[i]))
                       for j in range(o)))
        kw = {"stride": s, "padding": p, "ceil_mode": ceil}
        if max_pool:
            x = minidl.from_numpy(draw(S.distinct_arrays(shape, spacing=0.1)))
            kw["dilation"] = d
        else:
            x = draw(S.tensors(shape))
            kw["count_include_pad"] = draw(st.booleans())
            kw["divisor_override"] = draw(st.sampled_from([None, 3]))
        return SampleInput((x.requires_grad_(True), k), kw, "hypothesis")
    return _composite(draw_sample)


def _adaptive_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    return [SampleInput((m((2, 3, 7, 5)), (3, 2)), {}, "uneven"),
            SampleInput((m((1, 2, 6, 6)), 3), {}, "even"),
            SampleInput((m((2, 5, 4)), (None, 3)), {}, "unbatched_none"),
            SampleInput((m((2, 3, 7, 5)), (5, 4)), {}, "overlapping")]


def _lrn_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    return [SampleInput((m((2, 7, 3, 3)), 5), {"alpha": 0.1, "beta": 0.75, "k": 2.0}, "alexnet"),
            SampleInput((m((1, 4, 5)), 2), {"alpha": 0.5}, "even_size_3d"),
            SampleInput((m((1, 3, 2, 2, 2)), 9), {"alpha": 1.0, "beta": 0.5}, "size_gt_c_5d"),
            SampleInput((m((2, 1, 3, 3)), 3), {"alpha": 1.0, "beta": 1.0, "k": 1.0}, "one_channel"),
            SampleInput((m((3, 5, 1)), 1), {"alpha": 1e-4}, "size1"),
            SampleInput((m((1, 4, 3)), 9), {"alpha": 2.0, "beta": 0.6}, "size_gt_c_3d"),
            SampleInput((m((1, 3, 19)), 2), {"alpha": 0.5, "k": 2.0}, "long_row")]


def _lrn_errors(device):
    return [ErrorInput((minidl.zeros(3, 4, device=device), 3), {}, ShapeError,
                       r"local_response_norm: Expected 3D or higher dimensionality input "
                       r"\(got 2 dimensions\)"),
            ErrorInput((minidl.zeros(1, 3, 4, device=device), 0), {}, ShapeError,
                       "size must be a positive int"),
            ErrorInput((minidl.zeros(1, 3, 4, dtype=minidl.int64, device=device), 3), {},
                       DTypeError, "local_response_norm: expected a floating point")]


@_composite
def _st_lrn(draw, st, S):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 4)))
    alpha, beta, k = draw(st.sampled_from([(1e-1, 0.75, 2.0), (1.0, 0.5, 1.0), (0.5, 1.5, 0.5)]))
    x = draw(S.tensors(shape, requires_grad=True))
    return SampleInput((x, draw(st.integers(1, 6))), {"alpha": alpha, "beta": beta, "k": k},
                       "hypothesis")


def _bn_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    return [SampleInput((m((5, 3)), m((3,)), m((3,))), {}, "NC"),
            SampleInput((m((2, 3, 4, 5)), m((3,)), m((3,))), {"eps": 1e-3}, "NCHW")]


def _bn_train(x, weight, bias, eps=1e-5):
    return F.batch_norm(x, None, None, weight, bias, training=True, eps=eps)


def _ln_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    return [SampleInput((m((4, 6)), (6,), m((6,)), m((6,))), {}, "last"),
            SampleInput((m((2, 3, 5)), (3, 5), m((3, 5)), m((3, 5))), {}, "last_two"),
            SampleInput((m((2, 3, 5)), 5, m((5,)), m((5,))), {"eps": 1e-4}, "int_shape_eps")]


def _ln_errors(device):
    return [ErrorInput((minidl.zeros(2, 3, device=device), (4,), None, None), {}, ShapeError,
                       r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], but "
                       r"got input of size\[2, 3\]")]


def _linear_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    return [SampleInput((m((5, 4)), m((3, 4)), m((3,))), {}, "2d"),
            SampleInput((m((2, 3, 4)), m((7, 4)), m((7,))), {}, "batched"),
            SampleInput((m((4,)), m((3, 4)), m((3,))), {}, "1d"),
            SampleInput((m((5, 4)), m((3, 4))), {}, "no_bias")]


def _linear_errors(device):
    return [ErrorInput((minidl.zeros(5, 4, device=device), minidl.zeros(3, 5, device=device)),
                       {}, ShapeError, "linear: input")]


def _ce_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    t = minidl.tensor([0, 4, 2, 4, 1, 3], device=device)
    w = Maker(device, dtype, False)((5,), low=0.2, high=2.0)
    return [SampleInput((m((6, 5), low=-4, high=4), t, w), {}, "weighted"),
            SampleInput((m((6, 5)), t, w), {"label_smoothing": 0.2, "ignore_index": 4},
                        "smooth_ignore"),
            SampleInput((m((6, 5)), t, w), {"reduction": "none"}, "none"),
            SampleInput((m((6, 5)), t, None), {"reduction": "sum"}, "unweighted_sum"),
            SampleInput((m((6, 5)), t, None), {"ignore_index": 2}, "unweighted_ignore"),
            SampleInput((m((6, 5)), t, w), {"label_smoothing": 0.1, "reduction": "none"},
                        "smooth_none"),
            SampleInput((m((5,)), minidl.tensor(3, device=device), None), {}, "unbatched")]


def _ce_nd_samples(device, dtype, rg):
    """Spatial [N, C, d1, d2] logits, and probability targets (which require grad too)."""
    m = Maker(device, dtype, rg)
    t = Maker(device, minidl.int64, False).index((2, 2, 3), 3)
    w = Maker(device, dtype, False)((3,), low=0.5, high=2.0)
    p = np.random.default_rng(12).uniform(0.1, 1.0, (4, 5))
    p = m.from_array(p / p.sum(1, keepdims=True))
    p4 = np.random.default_rng(13).uniform(0.1, 1.0, (2, 3, 2, 2))
    p4 = m.from_array(p4 / p4.sum(1, keepdims=True))
    return [SampleInput((m((2, 3, 2, 3)), t, None), {}, "spatial"),
            SampleInput((m((2, 3, 2, 3)), t, w), {"label_smoothing": 0.2, "reduction": "none"},
                        "spatial_weighted_none"),
            SampleInput((m((4, 5)), p, None), {"label_smoothing": 0.1}, "probs"),
            SampleInput((m((4, 5)), p, Maker(device, dtype, False)((5,), 0.5, 1.5)),
                        {"reduction": "sum"}, "probs_weighted_sum"),
            SampleInput((m((2, 3, 2, 2)), p4, None), {"reduction": "none"}, "probs_spatial")]


def _nll_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    t = minidl.tensor([2, 0, 1, 2], device=device)
    return [SampleInput((m((4, 3)), t), {}, "mean"),
            SampleInput((m((4, 3)), t), {"reduction": "sum"}, "sum"),
            SampleInput((m((5, 4)), minidl.tensor([3, 0, -100, 1, 3], device=device),
                         Maker(device, dtype, False)((4,), 0.5, 2.0)), {}, "weighted_ignored"),
            SampleInput((m((4, 3)), t, None, 0), {"reduction": "sum"}, "ignore_index_sum")]


def _nll_errors(device):
    return [ErrorInput((minidl.zeros(3, 10, device=device),
                        minidl.tensor([1, -3, 2], device=device)), {}, IndexError,
                       "Target -3 is out of bounds")]


def _mse_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    return [SampleInput((m((3, 5)), m((3, 5))), {}, "mean"),
            SampleInput((m((7,)), m((7,))), {"reduction": "none"}, "none"),
            SampleInput((m((2, 3)), m((2, 3))), {"reduction": "sum"}, "sum")]


def _bce_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    pw = Maker(device, dtype, False)((4,), low=0.5, high=3.0)
    x, y = m((3, 4), low=-6, high=6), m((3, 4), low=0, high=1)
    w = Maker(device, dtype, False)((3, 4), low=0.5, high=2.0)
    return [SampleInput((x, y, pw), {}, "pos_weight"),
            SampleInput((x, y, pw), {"reduction": "sum"}, "pos_weight_sum"),
            SampleInput((x, y, None, w), {"reduction": "none"}, "weight_none")]


def _ce_errors(device):
    x = minidl.zeros(3, 10, device=device)
    return [
        ErrorInput((x, minidl.tensor([1, 2, 12], device=device)), {}, ShapeError,
                   r"Target 12 is out of bounds\."),
        ErrorInput((x, minidl.tensor([1, 2, 1, 3], device=device)), {}, ShapeError,
                   r"Expected input batch_size \(3\) to match target batch_size \(4\)"),
        ErrorInput((x, minidl.tensor([True, False, True], device=device)), {}, DTypeError,
                   r"cross_entropy: expected target of dtype int64 \(class indices\) or float"),
        ErrorInput((x, minidl.tensor([1, 2, 1], device=device), minidl.ones(3, device=device)),
                   {}, ShapeError, "weight tensor should be defined either for all 10"),
    ]


def _act_samples(avoid):
    def samples(device, dtype, rg):
        m = Maker(device, dtype, rg)
        return [SampleInput((m((4, 7), low=-4, high=4, avoid=avoid),), {}, "4x7"),
                SampleInput((m((17,), low=-30, high=30, avoid=avoid),), {}, "wide_range")]
    return samples


def _act_row(name, op, ref, avoid=()):
    return OpInfo(name=name, op=op, ref=_act(ref), sample_inputs=_act_samples(avoid),
                  avoid=avoid, atol=1e-6, rtol=1e-6)


OPS: list[OpInfo] = [
    OpInfo(name="max_pool2d", op=F.max_pool2d, ref=ref_max_pool2d,
           sample_inputs=lambda d, t, r: _pool_samples(d, t, r, True),
           error_inputs=_pool_errors(F.max_pool2d), strategy=_st_pool(True)),
    OpInfo(name="max_pool2d_with_indices",
           op=lambda x, *a, **k: F.max_pool2d(x, *a, return_indices=True, **k),
           ref=lambda x, *a, **k: ref_max_pool2d(x, *a, return_indices=True, **k),
           sample_inputs=lambda d, t, r: _pool_samples(d, t, r, True)[:3],
           gradcheck_fn=lambda x, *a, **k: F.max_pool2d(x, *a, **k)),
    OpInfo(name="avg_pool2d", op=F.avg_pool2d, ref=ref_avg_pool2d,
           sample_inputs=lambda d, t, r: _pool_samples(d, t, r, False),
           error_inputs=_pool_errors(F.avg_pool2d), strategy=_st_pool(False)),
    OpInfo(name="adaptive_avg_pool2d", op=F.adaptive_avg_pool2d, ref=ref_adaptive_avg_pool2d,
           sample_inputs=_adaptive_samples, atol=1e-6, rtol=1e-6),
    OpInfo(name="local_response_norm", op=F.local_response_norm, ref=ref_local_response_norm,
           sample_inputs=_lrn_samples, error_inputs=_lrn_errors, strategy=_st_lrn),
    OpInfo(name="batch_norm_train", op=_bn_train, ref=ref_batch_norm_train,
           sample_inputs=_bn_samples, atol=1e-5, rtol=1e-5),
    OpInfo(name="layer_norm", op=F.layer_norm, ref=ref_layer_norm, sample_inputs=_ln_samples,
           error_inputs=_ln_errors, atol=1e-5, rtol=1e-5),
    OpInfo(name="linear", op=F.linear, ref=ref_linear, sample_inputs=_linear_samples,
           error_inputs=_linear_errors, atol=1e-5, rtol=1e-5),
    OpInfo(name="cross_entropy", op=F.cross_entropy, ref=ref_cross_entropy,
           sample_inputs=_ce_samples, error_inputs=_ce_errors, atol=1e-6, rtol=1e-6),
    OpInfo(name="cross_entropy_nd", op=F.cross_entropy, ref=ref_cross_entropy,
           sample_inputs=_ce_nd_samples, atol=1e-6, rtol=1e-6),
    OpInfo(name="nll_loss", op=F.nll_loss, ref=ref_nll_loss, sample_inputs=_nll_samples,
           error_inputs=_nll_errors),
    OpInfo(name="mse_loss", op=F.mse_loss, ref=ref_mse_loss, sample_inputs=_mse_samples,
           error_inputs=lambda d: [ErrorInput((minidl.zeros(3, device=d),) * 2,
                                              {"reduction": "avg"}, ValueError,
                                              "not a valid value for reduction")]),
    OpInfo(name="binary_cross_entropy_with_logits",
           op=lambda x, y, pw, w=None, **k: F.binary_cross_entropy_with_logits(
               x, y, w, pos_weight=pw, **k),
           ref=ref_bce_with_logits, sample_inputs=_bce_samples, atol=1e-6, rtol=1e-6,
           error_inputs=lambda d: [ErrorInput(
               (minidl.zeros(4, device=d), minidl.zeros(3, device=d), None), {}, ShapeError,
               r"Target size \(\[3\]\) must be the same as input size")]),
    _act_row("elu", F.elu, lambda x: np.where(x > 0, x, np.expm1(x)), avoid=(0.0,)),
    _act_row("softplus", lambda x: F.softplus(x, 2.0, 5.0), lambda x: _softplus(x, 2.0, 5.0),
             avoid=(2.5,)),
    _act_row("hardtanh", lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: np.clip(x, -0.5, 1.5),
             avoid=(-0.5, 1.5)),
    _act_row("scaled_tanh", F.scaled_tanh, lambda x: 1.7159 * np.tanh(2.0 * x / 3.0)),
    _act_row("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0.0, -x)),
    _act_row("silu", F.silu, lambda x: x / (1.0 + np.exp(-x))),
    # torch's defaults, and elu's alpha
    _act_row("elu_alpha", lambda x: F.elu(x, 0.3), lambda x: np.where(x > 0, x, 0.3 * np.expm1(x)),
             avoid=(0.0,)),
    _act_row("softplus_default", F.softplus, _softplus, avoid=(20.0,)),
    _act_row("hardtanh_default", F.hardtanh, lambda x: np.clip(x, -1.0, 1.0), avoid=(-1.0, 1.0)),
]

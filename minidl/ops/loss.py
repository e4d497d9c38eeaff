"""Losses: nll_loss, cross_entropy (class indices or probabilities, class weights, ignore_index,
label smoothing), mse_loss, binary_cross_entropy_with_logits.

cross_entropy over class indices is one fused Op (CrossEntropy: the backend's
cross_entropy / cross_entropy_grad primitives, one pass per row, the same corners as below);
nll_loss and probability targets are composed.  The composed nll/cross-entropy never gather:
a constant coefficient matrix W [M, C] (one-hot of the target times class weight, smoothed, zero
on ignored rows) is built on the device, and the loss is -where(K, log_probs * W, 0).sum(1), so
the backward is a multiply and a select (deterministic, no
scatter).  K marks the entries PyTorch reads: the target's (a gather) and, with label smoothing,
the whole row, never an ignored row.  So a -inf logit elsewhere gives no 0 * -inf = NaN, and an
all-ignored batch has mean 0/0 = NaN like PyTorch but zero gradients (no entry is read).
Target range checks read the (small, int64) target on the host, before any launch.
What does not live here: the loss modules (minidl.nn.loss).
"""
from __future__ import annotations

from .. import dtypes
from .. import creation as _creation
from ..autograd import Op, no_grad
from ..errors import DTypeError, ShapeError, TargetIndexError  # noqa: F401 (re-exported)
from . import elementwise as _ew
from ._base import require_float, same_device
from .reduce import log_softmax

REDUCTIONS = ("none", "mean", "sum")


# ---- helpers -----------------------------------------------------------------------------------
def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction (expected one of "
                         f"'none', 'mean', 'sum')")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _channels_last(x):
    """[N, C, d1..] -> ([M, C], batch shape [N, d1..]); [C] -> ([1, C], ())."""
    if x.ndim == 1:
        return x.reshape(1, x.shape[0]), ()
    if x.ndim == 2:
        return x, (x.shape[0],)
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    batch = (x.shape[0],) + tuple(x.shape[2:])
    return x.permute(order).reshape(-1, x.shape[1]), batch


def _check_class_target(op, input, target):
    """Shape checks for class-index targets; returns the target's expected shape."""
    if input.ndim == 0:
        raise ShapeError(f"{op}: input must have at least 1 dimension [C], got a 0-d tensor")
    want = () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])
    if input.ndim >= 2 and (target.ndim == 0 or target.shape[0] != input.shape[0]):
        tb = target.shape[0] if target.ndim else "(none)"
        raise ShapeError(f"{op}: Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({tb}); input {list(input.shape)}, target "
                         f"{list(target.shape)}")
    if tuple(target.shape) != want:
        raise ShapeError(f"{op}: expected target of shape {list(want)} for input "
                         f"{list(input.shape)}, got {list(target.shape)}")
    return want


def _check_range(target, C, ignore_index):
    # on CUDA this is a device-side check raised at the next sync (no host sync inside a step)
    target._backend.check_class_targets(target._data, C, ignore_index)


def _check_weight(op, weight, C, input):
    if weight is None:
        return
    if tuple(weight.shape) != (C,):
        raise ShapeError(f"{op}: weight tensor should be defined either for all {C} classes or "
                         f"no classes but got weight tensor of shape: {list(weight.shape)}")
    same_device(op, input, weight)


def _class_coefficients(target, C, weight, ignore_index, smoothing, dtype, device):
    """(W [M, C], read mask K [M, C] bool, denominator) for class-index targets:
    loss_i = -where(K_i, lp_i * W_i, 0).sum()."""
    with no_grad():
        t = target.reshape(-1, 1)
        valid_b = t != ignore_index
        valid = valid_b.to(dtype)
        onehot_b = _creation.arange(C, device=device).reshape(1, C) == t
        onehot = onehot_b.to(dtype)
        w = weight.to(dtype).reshape(1, C) if weight is not None else None
        picked = onehot * w if w is not None else onehot
        denom = (picked * valid).sum()
        coef = onehot * (1.0 - smoothing) + smoothing / C if smoothing > 0 else onehot
        if w is not None:
            coef = coef * w
        coef = coef * valid
        # smoothing reads every class of a kept row; otherwise only the target is read
        read = valid_b.expand(valid_b.shape[0], C) if smoothing > 0 else onehot_b
    return coef, read, denom


def _nll_from_log_probs(op, lp, target, batch, weight, ignore_index, reduction, smoothing):
    C = lp.shape[1]
    coef, read, denom = _class_coefficients(target, C, weight, ignore_index, smoothing, lp.dtype,
                                            lp.device)
    loss = -_ew.where(read, lp * coef, 0.0).sum(1)
    if reduction == "mean":
        return loss.sum() / denom
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(batch)


class CrossEntropy(Op):
    """Fused log_softmax + nll over class indices, x [M, C], target [M]: loss_i = -sum_c
    coef_ic (x_ic - lse_i), reduced; dx = softmax(x) g S - g coef (S_i = sum_c coef_ic)."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, eps, reduction):
        B = ctx.backend
        loss, lse, rw = B.cross_entropy(x, target, weight, ignore_index, eps)
        ctx.save_for_backward(x, target, weight)
        ctx.lse, ctx.args = lse, (ignore_index, eps, reduction)
        if reduction == "none":
            return loss
        total = B.reduce("sum", loss, (0,), False)
        if reduction == "sum":
            return total
        ctx.denom = B.reduce("sum", rw, (0,), False)  # on the device: no host read
        return B.map("div", [total, ctx.denom])

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        ignore_index, eps, reduction = ctx.args
        B = ctx.backend
        gd = g._data
        if reduction == "mean":
            gd = B.map("div", [gd, ctx.denom])
        if reduction != "none":
            gd = B.reshape(gd, (1,))
        dx = B.cross_entropy_grad(gd, x._data, target._data,
                                  None if weight is None else weight._data, ctx.lse,
                                  ignore_index, eps)
        return dx, None, None, None, None, None


# ---- public losses -----------------------------------------------------------------------------
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class-index targets: input log-probs [N, C] / [N, C, d..] /
    [C], target int64 [N] / [N, d..] / [];  mean divides by the sum of the targets' weights."""
    op = "nll_loss"
    _check_reduction(op, reduction)
    same_device(op, input, target)
    if target.dtype is not dtypes.int64:
        raise DTypeError(f"{op}: expected target of dtype int64 (class indices), got "
                         f"{target.dtype}")
    require_float(op, input)
    _check_class_target(op, input, target)
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    _check_weight(op, weight, C, input)
    _check_range(target, C, ignore_index)
    lp, batch = _channels_last(input)
    return _nll_from_log_probs(op, lp, target, batch, weight, int(ignore_index), reduction, 0.0)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over the class dim (1, or 0 for unbatched [C]) followed by nll_loss for int64
    class-index targets, or -(target * log_softmax).sum(class dim) for float probability
    targets (same shape as input; mean divides by the number of rows)."""
    op = "cross_entropy"
    _check_reduction(op, reduction)
    same_device(op, input, target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0. Got: "
                         f"{label_smoothing}")
    require_float(op, input)
    if input.ndim == 0:
        raise ShapeError(f"{op}: input must have at least 1 dimension [C], got a 0-d tensor")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    _check_weight(op, weight, C, input)
    eps = float(label_smoothing)
    if target.dtype is dtypes.int64:
        _check_class_target(op, input, target)
        _check_range(target, C, ignore_index)
        x, batch = _channels_last(input)
        if x.shape[0] == 0 or x.shape[1] == 0:  # nothing to fuse: the composed path's corners
            return _nll_from_log_probs(op, log_softmax(x, -1), target, batch, weight,
                                       int(ignore_index), reduction, eps)
        w = None if weight is None else weight.detach().to(x.dtype)  # no gradient, as torch
        loss = CrossEntropy.apply(x, target.reshape(-1), w, int(ignore_index), eps, reduction)
        return loss.reshape(batch) if reduction == "none" else loss
    if not target.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected target of dtype int64 (class indices) or float "
                         f"(probabilities), got {target.dtype}")
    if tuple(target.shape) != tuple(input.shape):
        if input.ndim >= 2 and target.ndim >= 1 and target.shape[0] != input.shape[0]:
            raise ShapeError(f"{op}: Expected input batch_size ({input.shape[0]}) to match "
                             f"target batch_size ({target.shape[0]}); input "
                             f"{list(input.shape)}, target {list(target.shape)}")
        raise ShapeError(f"{op}: expected probability target of the input's shape "
                         f"{list(input.shape)}, got {list(target.shape)}")
    x, batch = _channels_last(input)
    t, _ = _channels_last(target.to(input.dtype))
    if eps > 0:
        t = t * (1.0 - eps) + eps / C
    if weight is not None:
        t = t * weight.to(input.dtype).reshape(1, C)
    loss = -(log_softmax(x, -1) * t).sum(1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(batch)


def mse_loss(input, target, reduction="mean"):
    """mean / sum / elementwise (input - target)^2 (broadcasting like PyTorch)."""
    op = "mse_loss"
    _check_reduction(op, reduction)
    same_device(op, input, target)
    require_float(op, input)
    d = input - target.to(input.dtype)
    return _reduce(d * d, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """-w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed stably as
    (1 - t) x - (1 + (p - 1) t) logsigmoid(x) (p = pos_weight, broadcast over the last dim)."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    same_device(op, input, target)
    require_float(op, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"{op}: Target size ({list(target.shape)}) must be the same as input "
                         f"size ({list(input.shape)})")
    t = target.to(input.dtype)
    logsig = _ew.unary("log_sigmoid", input)
    if pos_weight is not None:
        same_device(op, input, pos_weight)
        lw = (pos_weight.to(input.dtype) - 1.0) * t + 1.0
        loss = (1.0 - t) * input - lw * logsig
    else:
        loss = (1.0 - t) * input - logsig
    if weight is not None:
        same_device(op, input, weight)
        loss = loss * weight.to(input.dtype)
    return _reduce(loss, reduction)


"""The backend contract: the short list of array primitives every device implements.

`minidl.backend.cpu` (numpy + numba) and `minidl.cuda.backend` (numba.cuda kernels) each provide
every function below, with the same signature and semantics; tests/test_backend_contract.py walks
this list.  Arrays are the device's own (numpy ndarray / numba DeviceNDArray), C-contiguous unless
said otherwise; shapes and strides are tuples of ints, strides in *elements*.  Callers (minidl.ops)
validate shapes, dtypes and devices before calling; primitives may assume valid input.
dtypes are numpy dtypes (float32, float64, int64, bool).
"""
from __future__ import annotations

from typing import Protocol, Sequence

Array = object
Shape = tuple


class Backend(Protocol):
    # ---- memory -------------------------------------------------------------------------------
    def from_numpy(self, a) -> Array:
        """Copy a host numpy array to the device (result C-contiguous, same dtype)."""

    def to_numpy(self, a: Array):
        """Copy a device array to a new host numpy array."""

    def empty(self, shape: Shape, dtype) -> Array:
        """Uninitialised array."""

    def full(self, shape: Shape, value, dtype) -> Array:
        """Array filled with `value` (cast to dtype)."""

    def arange(self, start, step, n: int, dtype) -> Array:
        """[start, start+step, ..., start+(n-1)*step] of dtype."""

    def astype(self, a: Array, dtype) -> Array:
        """A new array of `dtype` (float -> int truncates toward zero)."""

    def copy(self, a: Array) -> Array:
        """A new C-contiguous array equal to `a` (`a` may be a strided view on CPU)."""

    def reshape(self, a: Array, shape: Shape) -> Array:
        """A view of C-contiguous `a` with a new shape of the same size."""

    def copy_into(self, dst: Array, src: Array) -> None:
        """dst[...] = src in place; same shape and dtype."""

    # ---- movement -----------------------------------------------------------------------------
    def strided_copy(self, a: Array, shape: Shape, strides: Shape, offset: int) -> Array:
        """out[i] = a.flat[offset + sum(i_k * strides_k)]: transpose, expand, slices with steps.

        Strides may be 0 (broadcast) or negative; out is C-contiguous of `shape`."""

    def strided_add_(self, dst: Array, shape: Shape, strides: Shape, offset: int,
                     src: Array) -> None:
        """dst.flat[offset + sum(i_k * strides_k)] += src[i] in place.

        The addressed positions must not repeat (a non-overlapping view: slices, permutes), so
        no atomics are needed and results are deterministic."""

    def take(self, a: Array, index: Array) -> Array:
        """out = a.flat[index]; index int64 of any shape, values in [0, a.size)."""

    def index_add(self, size: int, index: Array, src: Array) -> Array:
        """out = zeros(size); out[index.flat[j]] += src.flat[j]; repeated indices accumulate."""

    def put_(self, a: Array, index: Array, src: Array) -> None:
        """a.flat[index.flat[j]] = src.flat[j] in place (indices assumed distinct)."""

    # ---- elementwise --------------------------------------------------------------------------
    def map(self, name: str, arrays: Sequence[Array], params: Sequence = ()) -> Array:
        """Apply scalar function `minidl.backend.shared.scalar.FUNCTIONS[name]` elementwise.

        Inputs broadcast against each other (numpy rules, any may be 0-d) and share one dtype,
        except `where`, whose first operand is bool.  `params` are scalars cast to that dtype.
        Result dtype: the inputs' dtype, or bool for comparisons."""

    # ---- reductions ---------------------------------------------------------------------------
    def reduce(self, name: str, a: Array, axes: Shape, keepdims: bool) -> Array:
        """name in {"sum", "max", "min"} over `axes` (non-empty, sorted, non-negative).

        sum of bool/int64 gives int64; floats accumulate in their own dtype (pairwise/tree
        order, so results may differ from a sequential sum by rounding)."""

    def arg_reduce(self, name: str, a: Array, axis: int, keepdims: bool) -> Array:
        """name in {"argmax", "argmin"} along one axis; int64 index of the first extreme (NaN
        wins)."""

    # ---- linear algebra -----------------------------------------------------------------------
    def matmul(self, a: Array, b: Array) -> Array:
        """Batched product: a [B, M, K] @ b [B, K, N] -> [B, M, N], same float dtype."""

    def addmm(self, bias, a: Array, b: Array, trans_a: bool, trans_b: bool) -> Array:
        """2-D product op(a) @ op(b) (+ bias [N] added to every row when not None) -> [M, N],
        op(t) = t.T when its flag is set (a stored [K, M] / b stored [N, K]); no transpose is
        materialised.  nn.Linear: forward addmm(b, x, W, False, True), backward
        dx = addmm(None, g, W, False, False), dW = addmm(None, g, x, True, False)."""

    # ---- convolution (minidl.ops.conv; CPU: backend/cpu/conv.py, CUDA: cuda/backend/conv.py) ---
    # NCHW, float32/float64.  stride (sh, sw) >= 1, padding ((top, bottom), (left, right)) >= 0,
    # dilation (dh, dw) >= 1, groups G dividing C and Co; w is [Co, C/G, kh, kw];
    # Ho = (H + top + bottom - dh*(kh-1) - 1) // sh + 1 >= 1 (likewise Wo).  The bias is fused
    # into the forward (its gradient is the op's sum of g over N, H, W).
    def conv2d(self, x: Array, w: Array, stride: Shape, padding: tuple, dilation: Shape,
               groups: int, bias=None) -> Array:
        """Cross-correlation out[n, o, p, q] = sum_{c in group(o), i, j} w[o, c', i, j] *
        x[n, c, p*sh - top + i*dh, q*sw - left + j*dw] (zero outside x) + bias[o] (when not
        None): [N, Co, Ho, Wo]."""

    def conv2d_grad_input(self, g: Array, w: Array, x_shape: Shape, stride: Shape, padding: tuple,
                          dilation: Shape, groups: int) -> Array:
        """dL/dx [N, C, H, W] (= x_shape) from g = dL/dout [N, Co, Ho, Wo]; deterministic."""

    def conv2d_grad_weight(self, g: Array, x: Array, w_shape: Shape, stride: Shape,
                           padding: tuple, dilation: Shape, groups: int) -> Array:
        """dL/dw [Co, C/G, kh, kw] (= w_shape) from g = dL/dout and x; deterministic."""

    # ---- random -------------------------------------------------------------------------------
    def rand_uniform(self, shape: Shape, dtype, seed: int, offset: int) -> Array:
        """U[0,1) from backend.shared.counter_rng at counters offset..offset+n-1 (bit-identical on
        every backend)."""

    def rand_normal(self, shape: Shape, dtype, seed: int, offset: int) -> Array:
        """N(0,1) from counter_rng.make_normal, likewise."""

    # ---- neural-network primitives (pooling, LRN, log-softmax, dropout) -----------------------
    # x is [N, C, H, W] for pooling, [N, C, L] for LRN; kernel/stride/padding/dilation are (h, w)
    # pairs of ints already validated by minidl.ops.pool (pad <= kernel // 2, output >= 1).
    # Output sizes follow minidl.backend.shared.pool_geometry (PyTorch's rules incl. ceil_mode).
    # Backward passes are deterministic: every input-gradient element is summed by one owner
    # (a CUDA thread in gather form; a CPU loop per plane) in the order of the output windows.
    def max_pool2d(self, x: Array, kernel: Shape, stride: Shape, padding: Shape, dilation: Shape,
                   ceil_mode: bool) -> tuple:
        """(out [N, C, OH, OW], argmax int64 [N, C, OH, OW]); the index is flat within the
        H x W plane (PyTorch's return_indices); ties keep the first in window order, NaN wins."""

    def max_pool2d_grad(self, g: Array, indices: Array, x_shape: Shape, kernel: Shape,
                        stride: Shape, padding: Shape, dilation: Shape) -> Array:
        """dx [x_shape]: dx[n, c, p] = sum of g[n, c, o] over windows o whose argmax is p."""

    def avg_pool2d(self, x: Array, kernel: Shape, stride: Shape, padding: Shape, ceil_mode: bool,
                   count_include_pad: bool, divisor_override) -> Array:
        """out [N, C, OH, OW] = window sum / divisor (PyTorch's divisor rules; override if not
        None)."""

    def avg_pool2d_grad(self, g: Array, x_shape: Shape, kernel: Shape, stride: Shape,
                        padding: Shape, count_include_pad: bool, divisor_override) -> Array:
        """dx [x_shape]: each input sums g / divisor over the windows that contain it."""

    def lrn(self, x: Array, size: int, alpha: float, beta: float, k: float) -> tuple:
        """PyTorch's local_response_norm on x [N, C, L]: (out, scale) with
        scale[n, c] = k + alpha / size * sum of x[n, c']^2 over c' in [c - size//2,
        c + (size-1)//2] (zero padded) and out = x * scale^-beta."""

    def lrn_grad(self, g: Array, x: Array, out: Array, scale: Array, size: int, alpha: float,
                 beta: float, k: float) -> Array:
        """dx = g scale^-beta - 2 alpha beta / size * x * sum over the channels c' whose window
        holds c of g[c'] out[c'] / scale[c']."""

    def log_softmax(self, x: Array) -> Array:
        """y = x - max - log(sum(exp(x - max))) over the last axis (stable, fused)."""

    def log_softmax_grad(self, g: Array, y: Array) -> Array:
        """dx = g - exp(y) * sum(g) over the last axis."""

    # Fused cross-entropy over class-index targets (minidl.ops.loss.cross_entropy): x [M, C]
    # logits, target int64 [M], weight [C] (None: all ones); a row whose target equals
    # ignore_index is skipped (loss 0, gradient 0 * p), other targets lie in [0, C).  With
    # eps = label smoothing, row i reads coef_c = w_c (eps / C + (1 - eps) [c == t_i]); with
    # eps == 0 only the target entry is read (a -inf logit elsewhere gives no 0 * -inf).
    def cross_entropy(self, x: Array, target: Array, weight, ignore_index: int,
                      smoothing: float) -> tuple:
        """(loss [M], lse [M], row_weight [M]): loss_i = -sum_c coef_c (x_ic - lse_i) with
        lse_i = logsumexp(x_i); row_weight_i = w[t_i] (0 on ignored rows, the mean's
        denominator terms)."""

    def cross_entropy_grad(self, g: Array, x: Array, target: Array, weight, lse: Array,
                           ignore_index: int, smoothing: float) -> Array:
        """dx [M, C] = softmax(x_i) (g_i S_i) - g_i coef_c, S_i = sum_c coef_c (0 on ignored
        rows, whose coef is 0); g is [M] per row, or [1] for every row."""

    def check_class_targets(self, target: Array, C: int, ignore_index: int) -> None:
        """Raise errors.TargetIndexError for an int64 class index outside [0, C) other than
        ignore_index.  The CUDA backend checks on the device and raises at the next
        synchronisation (minidl.cuda.checks), so a training step never waits for it."""

    def dropout_mask(self, shape: Shape, p: float, seed: int, offset: int, dtype) -> Array:
        """Inverted-dropout mask: 1 / (1 - p) where counter_rng's uniform at counter offset + i
        is < 1 - p, else 0 (all zeros for p == 1); the same bits on every backend."""

    # ---- fused optimizer steps (minidl.optim; CPU: backend/cpu/optim.py, CUDA:
    # cuda/backend/optim.py launching cuda/kernels/optim.py) ---------------------------------
    # In place on param and its state arrays (all of param's shape and dtype, C-contiguous);
    # scalars are host floats/bools, `step` the step number being taken (1 first).  An unused
    # state array may be None.  The per-element rules are written once (math_* in
    # backend/shared/optim_rules.py) and compiled for both targets.
    def sgd_step(self, param: Array, grad: Array, momentum_buf, lr: float, momentum: float,
                 dampening: float, weight_decay: float, nesterov: bool, maximize: bool,
                 first_step: bool) -> None:
        """PyTorch SGD: g += wd p; b = g (first step) or momentum b + (1 - dampening) g;
        g = g + momentum b (nesterov) or b; p -= lr g.  momentum_buf None when momentum == 0."""

    def sgd_paper_step(self, param: Array, grad: Array, velocity: Array, lr: float,
                       momentum: float, weight_decay: float, maximize: bool) -> None:
        """AlexNet paper's SGD: v = momentum v - weight_decay lr p - lr g; p += v."""

    def adam_step(self, param: Array, grad: Array, exp_avg: Array, exp_avg_sq: Array,
                  max_exp_avg_sq, step: int, lr: float, beta1: float, beta2: float, eps: float,
                  weight_decay: float, amsgrad: bool, maximize: bool,
                  decoupled_weight_decay: bool) -> None:
        """Adam (L2 decay in the gradient) or AdamW (decoupled: p *= 1 - lr wd), with bias
        correction for `step`; max_exp_avg_sq None unless amsgrad."""

    def rmsprop_step(self, param: Array, grad: Array, square_avg: Array, grad_avg,
                     momentum_buf, lr: float, alpha: float, eps: float, weight_decay: float,
                     momentum: float, centered: bool, maximize: bool) -> None:
        """RMSprop; grad_avg None unless centered, momentum_buf None unless momentum > 0."""

    def adagrad_step(self, param: Array, grad: Array, state_sum: Array, step: int, lr: float,
                     lr_decay: float, weight_decay: float, eps: float, maximize: bool) -> None:
        """Adagrad with lr / (1 + (step - 1) lr_decay)."""

    def adadelta_step(self, param: Array, grad: Array, square_avg: Array, acc_delta: Array,
                      lr: float, rho: float, eps: float, weight_decay: float,
                      maximize: bool) -> None:
        """Adadelta: sq = rho sq + (1-rho) g^2; d = sqrt(acc + eps) / sqrt(sq + eps) g;
        acc = rho acc + (1-rho) d^2; p -= lr d."""


def primitive_names() -> list[str]:
    """Every primitive of the contract, for the contract test."""
    return sorted(n for n in Backend.__dict__
                  if not n.startswith("_") and callable(Backend.__dict__[n]))

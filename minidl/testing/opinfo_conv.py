"""Op-table rows for convolution: `conv2d` (minidl.nn.functional.conv2d / minidl.ops.conv).

The reference is a direct summation in numpy (over output pixels and kernel taps, padding by
explicit zero rows/columns), independent of the im2col CPU backend and of the CUDA kernels.
Samples are tiny and awkward (odd sizes, even kernels, kernel == input, stride 4, dilation,
asymmetric "same" padding, groups 2, depthwise and a 1x1 channel multiplier, unbatched) so the
CUDA simulator runs them quickly; the hypothesis strategy draws geometries (groups, stride,
padding incl. "same"/"valid", dilation, with or without bias).
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.nn.functional as F
from minidl.backend.shared.geometry import pair
from minidl.errors import DTypeError, ShapeError

from .opinfo import ErrorInput, Maker, OpInfo, SampleInput, _composite


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's conv2d by definition: out[n, o, p, q] = b[o] + sum over the group's channels c
    and taps (i, j) of w[o, c, i, j] * xpad[n, c, p*sh + i*dh, q*sw + j*dw]."""
    if x.ndim == 3:
        return ref_conv2d(x[None], w, b, stride, padding, dilation, groups)[0]
    s, d = pair(stride, "reference", "stride"), pair(dilation, "reference", "dilation")
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    if padding == "same":
        tot = (d[0] * (kh - 1), d[1] * (kw - 1))
        pads = ((tot[0] // 2, tot[0] - tot[0] // 2), (tot[1] // 2, tot[1] - tot[1] // 2))
    else:
        p = (0, 0) if padding == "valid" else pair(padding, "reference", "padding")
        pads = ((p[0], p[0]), (p[1], p[1]))
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + pads)
    Ho = (xp.shape[2] - d[0] * (kh - 1) - 1) // s[0] + 1
    Wo = (xp.shape[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    out = np.zeros((N, Co, Ho, Wo))
    Cog = Co // groups
    for o in range(Co):
        c0 = (o // Cog) * Cg
        for p in range(Ho):
            for q in range(Wo):
                for i in range(kh):
                    for j in range(kw):
                        out[:, o, p, q] += xp[:, c0:c0 + Cg, p * s[0] + i * d[0],
                                              q * s[1] + j * d[1]] @ w[o, :, i, j]
        if b is not None:
            out[:, o] += b[o]
    return out.astype(x.dtype)


def _conv_samples(device, dtype, rg):
    m = Maker(device, dtype, rg)
    # (x shape, weight shape, bias?, kwargs, name)
    cases = [
        ((2, 3, 5, 6), (4, 3, 3, 2), True, {}, "basic_even_kw"),
        ((1, 2, 7, 7), (3, 2, 3, 3), True, {"stride": 2, "padding": 1}, "stride2_pad1"),
        ((1, 4, 6, 5), (6, 2, 3, 3), False, {"groups": 2, "padding": (1, 0)}, "groups2"),
        ((2, 3, 5, 5), (3, 1, 3, 3), True, {"groups": 3, "padding": 1}, "depthwise"),
        ((1, 2, 7, 6), (2, 2, 2, 3), True, {"padding": "same", "dilation": 2}, "same_dilated"),
        ((1, 2, 6, 7), (3, 2, 2, 2), False, {"stride": (2, 1), "dilation": (1, 2),
                                             "padding": "valid"}, "rect_stride_dilation"),
        ((1, 1, 1, 1), (2, 1, 1, 1), True, {}, "size1"),
        ((3, 5, 4), (2, 3, 2, 2), True, {"padding": 1}, "unbatched"),
        ((1, 2, 7, 7), (2, 2, 7, 7), True, {}, "kernel_is_input"),
        ((2, 4, 5, 6), (4, 2, 2, 3), True, {"groups": 2, "padding": "same"}, "same_asymmetric"),
        ((1, 6, 4, 5), (12, 2, 1, 1), False, {"groups": 3}, "1x1_channel_multiplier"),
        ((1, 3, 15, 13), (2, 3, 5, 5), True, {"stride": 4, "padding": 2}, "stride4_pad2"),
        ((1, 4, 7, 6), (6, 2, 3, 3), True, {"stride": 2, "padding": 1, "groups": 2},
         "groups2_stride2"),
        ((0, 2, 4, 4), (3, 2, 3, 3), True, {}, "empty_batch"),
    ]
    out = []
    for xs, ws, bias, kw, name in cases:
        args = (m(xs), m(ws, low=-1.0, high=1.0))
        args += (m((ws[0],)),) if bias else (None,)
        out.append(SampleInput(args, kw, name))
    return out


def _conv_errors(device):
    z = lambda *s, **k: minidl.zeros(*s, device=device, **k)  # noqa: E731
    return [
        ErrorInput((z(1, 1, 224, 224), z(64, 3, 11, 11)), {}, ShapeError,
                   r"^conv2d: weight \[64, 3, 11, 11\] expects input with 3 channels, got input "
                   r"\[1, 1, 224, 224\]$"),
        ErrorInput((z(5, 5), z(2, 1, 3, 3)), {}, ShapeError,
                   r"conv2d: expected 4-D input \[N, C, H, W\] \(or 3-D unbatched\), got input "
                   r"\[5, 5\]"),
        ErrorInput((z(1, 4, 5, 5), z(6, 2, 3, 3)), {"groups": 4}, ShapeError,
                   r"not divisible by groups=4"),
        ErrorInput((z(1, 2, 3, 3), z(1, 2, 5, 5)), {"padding": 0}, ShapeError,
                   r"kernel size \(dilated\) \(5, 5\) can't be greater than the padded input "
                   r"size \(3, 3\)"),
        ErrorInput((z(1, 2, 5, 5), z(1, 2, 3, 3)), {"stride": 0}, ShapeError,
                   r"stride must be positive"),
        ErrorInput((z(1, 2, 5, 5), z(1, 2, 0, 3)), {}, ShapeError,
                   r"^conv2d: kernel size should be greater than zero, but got weight "
                   r"\[1, 2, 0, 3\]$"),
        ErrorInput((z(1, 2, 5, 5), z(1, 2, 3, 3)), {"dilation": -1}, ShapeError,
                   r"dilation must be positive"),
        ErrorInput((z(1, 2, 5, 5), z(1, 2, 3, 3)), {"padding": (1, -1)}, ShapeError,
                   r"negative padding"),
        ErrorInput((z(1, 2, 5, 5), z(3, 2, 3, 3), z(2)), {}, ShapeError,
                   r"bias \[2\] must have shape \[3\]"),
        ErrorInput((z(1, 2, 5, 5), z(3, 2, 3, 3, dtype=minidl.float64)), {}, DTypeError,
                   r"conv2d: expected input, weight and bias of one floating dtype"),
        ErrorInput((z(1, 2, 3, 4, 5), z(2, 2, 3, 3)), {}, ShapeError,
                   r"got input \[1, 2, 3, 4, 5\]"),
        ErrorInput((z(1, 3, 9, 9), z(3, 3, 3)), {}, ShapeError,
                   r"expected 4-D weight .* got weight \[3, 3, 3\]"),
        ErrorInput((z(1, 4, 9, 9), z(6, 2, 3, 3)), {"groups": 3}, ShapeError,
                   r"weight \[6, 2, 3, 3\] expects input with 6 channels \(groups=3\), got input "
                   r"\[1, 4, 9, 9\]"),
        ErrorInput((z(1, 4, 9, 9), z(4, 4, 3, 3)), {"groups": 0}, ShapeError,
                   r"groups must be a positive int, got 0"),
        ErrorInput((z(1, 3, 4, 4), z(2, 3, 3, 3)), {"dilation": 2}, ShapeError,
                   r"kernel size \(dilated\) \(5, 5\)"),
        ErrorInput((z(1, 3, 9, 9), z(2, 3, 3, 3)), {"padding": "full"}, ShapeError,
                   r"invalid padding string 'full'"),
        ErrorInput((z(1, 3, 9, 9), z(2, 3, 3, 3)), {"stride": 2, "padding": "same"}, ShapeError,
                   r"'same' is not supported for strided"),
        ErrorInput((z(1, 3, 9, 9), z(2, 3, 3, 3)), {"stride": (1, 2, 3)}, ShapeError,
                   r"stride must be an int or a pair of ints"),
        ErrorInput((z(1, 3, 9, 9), z(2, 3, 3, 3), z(2, dtype=minidl.float64)), {}, DTypeError,
                   r"bias minidl.float64"),
        ErrorInput((z(1, 3, 9, 9, dtype=minidl.int64), z(2, 3, 3, 3, dtype=minidl.int64)), {},
                   DTypeError, r"one floating dtype"),
    ]


@_composite
def _st_conv(draw, st, S):
    """Geometries: groups, odd/even sizes, stride, padding incl. "same"/"valid", dilation."""
    groups, cg, cog = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([1, 2, (1, 2), (2, 1), 3]))
    dilation = draw(st.sampled_from([1, 2, (1, 2)]))
    pads = [0, 1, 2, (0, 1), "same", "valid"] if stride == 1 else [0, 1, (1, 0), "valid"]
    padding = draw(st.sampled_from(pads))
    d = pair(dilation, "reference", "dilation")
    if padding == "same":
        tot = (d[0] * (kh - 1), d[1] * (kw - 1))
    else:
        p = (0, 0) if padding == "valid" else pair(padding, "reference", "padding")
        tot = (2 * p[0], 2 * p[1])
    from hypothesis import assume

    assume(d[0] * (kh - 1) < h + tot[0] and d[1] * (kw - 1) < w + tot[1])
    x = draw(S.tensors((n, cg * groups, h, w), requires_grad=True))
    wt = draw(S.tensors((cog * groups, cg, kh, kw), requires_grad=True))
    b = draw(S.tensors((cog * groups,), requires_grad=True)) if draw(st.booleans()) else None
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return SampleInput((x, wt, b), kwargs, "hypothesis")


OPS: list[OpInfo] = [
    OpInfo(name="conv2d", op=F.conv2d, ref=ref_conv2d, sample_inputs=_conv_samples,
           error_inputs=_conv_errors, strategy=_st_conv, atol=1e-5, rtol=1e-5),
]

"""nn.Conv2d refuses non-positive kernel_size / stride / dilation (and negative padding) when it
is built, not at the first forward; the functional conv and pool ops name the bad argument."""
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn
from minidl.errors import ShapeError


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel_size": 0}, r"^Conv2d: kernel size should be greater than zero, but got "
                         r"kernel_size=\(0, 0\)$"),
    ({"kernel_size": (3, -1)}, r"kernel_size=\(3, -1\)"),
    ({"kernel_size": 3, "stride": 0}, r"^Conv2d: non-positive stride is not supported, got "
                                      r"stride=\(0, 0\)$"),
    ({"kernel_size": 3, "stride": (1, -2)}, r"stride=\(1, -2\)"),
    ({"kernel_size": 3, "dilation": 0}, r"^Conv2d: dilation should be greater than zero, but "
                                        r"got dilation=\(0, 0\)$"),
    ({"kernel_size": 3, "padding": -1}, r"^Conv2d: negative padding is not supported, got "
                                        r"padding=\(-1, -1\)$"),
])
def test_conv2d_rejects_bad_geometry_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(1, 1, **kwargs)


def test_functional_conv_and_pool_name_the_bad_argument():
    x = minidl.zeros(1, 1, 5, 5)
    w = minidl.zeros(1, 1, 3, 3)
    cases = [
        (lambda: F.conv2d(x, minidl.zeros(1, 1, 0, 0)), "conv2d: kernel size should be greater "
         "than zero, but got weight [1, 1, 0, 0]"),
        (lambda: F.conv2d(x, w, stride=0), "conv2d: stride must be positive"),
        (lambda: F.conv2d(x, w, dilation=(1, 0)), "conv2d: dilation must be positive"),
        (lambda: F.conv2d(x, w, padding=-1), "conv2d: negative padding is not supported"),
    ]
    for pool in ("max_pool2d", "avg_pool2d"):
        fn = getattr(F, pool)
        cases += [
            (lambda fn=fn: fn(x, 0), f"{pool}: kernel_size must be greater than zero"),
            (lambda fn=fn: fn(x, 2, stride=0), f"{pool}: stride must be greater than zero"),
            (lambda fn=fn: fn(x, 2, padding=-1), f"{pool}: padding must be non-negative"),
        ]
    cases.append((lambda: F.max_pool2d(x, 2, dilation=0),
                  "max_pool2d: dilation must be greater than zero"))
    for call, message in cases:
        with pytest.raises(ShapeError) as info:
            call()
        assert message in str(info.value)

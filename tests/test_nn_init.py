"""minidl.nn.init: gains, fans, and the statistics of every initialiser over large tensors
against its formula; reproducibility under minidl.manual_seed; PyTorch's default layer init."""
import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import init


def _stats(t):
    a = t.detach().cpu().numpy().astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


def _phi(x):
    if math.isinf(x):
        return 0.0
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _Phi(x):
    return (1 + math.erf(x / math.sqrt(2))) / 2


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans():
    assert init._calculate_fan_in_and_fan_out(minidl.empty(64, 3, 11, 11)) == (363, 7744)
    assert init._calculate_fan_in_and_fan_out(minidl.empty(10, 84)) == (84, 10)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(minidl.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(minidl.empty(3, 3), mode="fan_avg")


def test_simple_fills_and_grad_free_on_parameters():
    p = nn.Parameter(minidl.empty(3, 4))  # in-place init of a leaf that requires grad
    init.constant_(p, 0.25)
    assert np.all(p.detach().numpy() == 0.25) and p.requires_grad and p.grad_fn is None
    init.zeros_(p)
    assert np.all(p.detach().numpy() == 0)
    init.ones_(p)
    assert np.all(p.detach().numpy() == 1)
    assert init.uniform_(p, -1, 1) is p


def _check_uniform(t, bound):
    mean, std, lo, hi = _stats(t)
    assert -bound <= lo and hi <= bound
    assert lo < -0.98 * bound and hi > 0.98 * bound
    assert abs(mean) < 0.01 * bound
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.01)


def _check_normal(t, mu, sigma):
    mean, std, _, _ = _stats(t)
    assert abs(mean - mu) < 0.01 * sigma
    assert std == pytest.approx(sigma, rel=0.01)


BIG = (400, 250, 3)  # fan_in 750, fan_out 1200, 300k elements


def test_uniform_and_normal():
    minidl.manual_seed(0)
    t = minidl.empty(*BIG)
    init.uniform_(t, -3.0, 3.0)
    _check_uniform(t, 3.0)
    init.normal_(t, 2.0, 0.5)
    _check_normal(t, 2.0, 0.5)


def test_xavier():
    minidl.manual_seed(1)
    t = minidl.empty(*BIG)
    std = 2.0 * math.sqrt(2.0 / (750 + 1200))
    init.xavier_uniform_(t, gain=2.0)
    _check_uniform(t, math.sqrt(3) * std)
    init.xavier_normal_(t, gain=2.0)
    _check_normal(t, 0.0, std)


@pytest.mark.parametrize("mode,fan", [("fan_in", 750), ("fan_out", 1200)])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.2), ("tanh", 0)])
def test_kaiming(mode, fan, nonlinearity, a):
    minidl.manual_seed(2)
    t = minidl.empty(*BIG)
    gain = init.calculate_gain(nonlinearity, a)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    _check_uniform(t, gain * math.sqrt(3.0 / fan))
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    _check_normal(t, 0.0, gain / math.sqrt(fan))


def test_kaiming_on_empty_tensor_warns():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(minidl.empty(0, 3))


def _trunc_moments(mu, sigma, a, b):
    al, be = (a - mu) / sigma, (b - mu) / sigma
    z = _Phi(be) - _Phi(al)
    m = (_phi(al) - _phi(be)) / z
    def xphi(x):  # x * phi(x), 0 at +-inf
        return 0.0 if math.isinf(x) else x * _phi(x)

    var = 1 + (xphi(al) - xphi(be)) / z - m * m
    return mu + sigma * m, sigma * math.sqrt(var)


@pytest.mark.parametrize("mu,sigma,a,b", [
    (0.0, 1.0, -2.0, 2.0),      # PyTorch's defaults, normal proposals
    (0.0, 0.02, -0.04, 0.04),   # ViT-style init
    (1.0, 2.0, 0.0, 8.0),       # asymmetric
    (0.0, 1.0, 2.0, 3.0),       # the tail: uniform proposals
    (0.0, 1.0, 1.5, math.inf),  # a one-sided tail
])
def test_trunc_normal(mu, sigma, a, b):
    minidl.manual_seed(3)
    t = minidl.empty(200, 500)
    init.trunc_normal_(t, mu, sigma, a, b)
    mean, std, lo, hi = _stats(t)
    want_mean, want_std = _trunc_moments(mu, sigma, a, b)
    assert a <= lo and hi <= b
    assert abs(mean - want_mean) < 0.01 * want_std + 1e-6
    assert std == pytest.approx(want_std, rel=0.02)


def test_seeded_reproducibility():
    def draw():
        minidl.manual_seed(1234)
        lin = nn.Linear(20, 30)
        t = minidl.empty(50, 40)
        init.trunc_normal_(t, std=0.5)
        return lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy(), t.numpy()

    a, b = draw(), draw()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    minidl.manual_seed(99)
    assert not np.array_equal(nn.Linear(20, 30).weight.detach().numpy(), a[0])


@pytest.mark.cuda
def test_init_on_cuda_matches_cpu():
    for dev_init in (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)),
                     lambda t: init.xavier_normal_(t), lambda t: init.trunc_normal_(t, std=0.1)):
        out = []
        for dev in ("cpu", "cuda"):
            minidl.manual_seed(5)
            t = minidl.empty(33, 17, device=dev)
            dev_init(t)
            assert t.device.type == dev
            out.append(t.cpu().numpy())
        np.testing.assert_allclose(out[0], out[1], rtol=1e-6, atol=1e-7)


def test_linear_default_init_matches_pytorch():
    minidl.manual_seed(4)
    lin = nn.Linear(750, 800)
    bound = 1 / math.sqrt(750)
    _check_uniform(lin.weight, bound)
    b = lin.bias.detach().numpy()
    assert np.all(np.abs(b) <= bound) and b.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert lin.weight.dtype == minidl.float32
    assert nn.Linear(3, 2, dtype=minidl.float64).weight.dtype == minidl.float64


def test_conv2d_default_init_matches_pytorch():
    minidl.manual_seed(5)
    conv = nn.Conv2d(30, 400, 5, groups=2)  # fan_in = 15 * 25 = 375
    bound = 1 / math.sqrt(375)
    assert conv.weight.shape == (400, 15, 5, 5)
    _check_uniform(conv.weight, bound)
    assert np.all(np.abs(conv.bias.detach().numpy()) <= bound)

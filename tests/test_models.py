"""minidl.models: LeNet-5 (paper parameter counts per layer, both variants, RBF codes), AlexNet
(60,965,224 parameters, every layer's output shape, one training step) and cuda-convnet's
CIFAR-10 network."""
from __future__ import annotations

import time

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.models import AlexNet, alexnet, cifar_convnet, get_model, lenet5
from minidl.models.alexnet import CeilModePad
from minidl.models.lenet import rbf_codes


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- LeNet-5


def test_lenet5_paper_parameter_counts_per_layer():
    m = lenet5("paper")
    per_layer = {name: _count(getattr(m, name)) for name in ("c1", "s2", "c3", "s4", "c5", "f6")}
    assert per_layer == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}
    assert sum(per_layer.values()) == 60000
    assert _count(m.output) == 0  # fixed RBF centres are a buffer
    assert _count(m) == 60000
    assert m.c3.num_connections == 60
    assert _count(lenet5("paper", output="linear")) == 60000 + 850


def test_lenet5_modern_parameter_count_and_layers():
    m = lenet5("modern")
    assert isinstance(m.s2, nn.MaxPool2d) and isinstance(m.act1, nn.ReLU)
    assert _count(m.c3) == 6 * 16 * 25 + 16
    assert _count(m) == 61706


@pytest.mark.parametrize("variant", ["paper", "modern"])
def test_lenet5_forward_shapes(variant):
    minidl.manual_seed(0)
    m = lenet5(variant)
    x = minidl.randn(3, 1, 32, 32)
    shapes = {}
    for name, child in m.named_children():
        x = child(x)
        shapes[name] = tuple(x.shape)
    assert shapes["c1"] == (3, 6, 28, 28)
    assert shapes["s2"] == (3, 6, 14, 14)
    assert shapes["c3"] == (3, 16, 10, 10)
    assert shapes["s4"] == (3, 16, 5, 5)
    assert shapes["c5"] == (3, 120, 1, 1)
    assert shapes["f6"] == (3, 84)
    assert shapes["output"] == (3, 10)
    if variant == "paper":  # logits are minus squared distances
        assert (x.detach().numpy() <= 1e-4).all()


def test_lenet5_rbf_codes_and_bad_input():
    codes = rbf_codes(10)
    assert codes.shape == (10, 84) and set(np.unique(codes)) == {-1.0, 1.0}
    assert len({c.tobytes() for c in codes}) == 10
    other = rbf_codes(5)
    assert other.shape == (5, 84) and set(np.unique(other)) <= {-1.0, 1.0}
    with pytest.raises(minidl.ShapeError, match=r"\[N, 1, 32, 32\]"):
        lenet5("modern")(minidl.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="variant"):
        lenet5("lecun")


def test_rbf_output_is_minus_squared_distance():
    minidl.manual_seed(1)
    m = lenet5("paper")
    x = minidl.randn(4, 84)
    got = m.output(x).numpy()
    ref = -((x.numpy()[:, None, :] - rbf_codes(10)[None]) ** 2).sum(-1)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- AlexNet

ALEXNET_LAYER_PARAMS = {"conv1": 34944, "conv2": 307456, "conv3": 885120, "conv4": 663936,
                        "conv5": 442624, "fc6": 37752832, "fc7": 16781312, "fc8": 4097000}


@pytest.fixture(scope="module")
def paper_alexnet() -> AlexNet:
    minidl.manual_seed(0)
    return alexnet(variant="paper")


def test_alexnet_paper_parameter_count(paper_alexnet):
    m = paper_alexnet
    assert _count(m) == 60_965_224
    per = {n: _count(c) for n, c in list(m.features.named_children())
           + list(m.classifier.named_children()) if _count(c)}
    assert per == ALEXNET_LAYER_PARAMS
    assert sum(ALEXNET_LAYER_PARAMS.values()) == 60_965_224
    for name in ("conv2", "conv4", "conv5"):
        assert getattr(m.features, name).groups == 2
    for name in ("conv1", "conv3"):
        assert getattr(m.features, name).groups == 1
    lrn = m.features.norm1
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.paper_alpha) == (5, 1e-4, 0.75, 2.0, True)
    # paper initialisation: N(0, 0.01) weights, biases 1 in conv2/4/5 and the fc layers
    assert abs(float(m.features.conv3.weight.detach().numpy().std()) - 0.01) < 1e-3
    assert (m.features.conv2.bias.detach().numpy() == 1).all()
    assert (m.features.conv1.bias.detach().numpy() == 0).all()


def test_alexnet_paper_every_layer_shape_at_224(paper_alexnet):
    """One forward at batch 1 on CPU, recording the output of every layer."""
    m = paper_alexnet.eval()
    x = minidl.randn(1, 3, 224, 224)
    shapes = {}
    t0 = time.perf_counter()
    with minidl.no_grad():
        for seq in (m.features, m.classifier):
            for name, child in seq.named_children():
                x = child(x)
                shapes[name] = tuple(x.shape[1:])
    seconds = time.perf_counter() - t0
    print(f"AlexNet forward, batch 1, 224x224: {seconds:.2f} s")
    expected = {"conv1": (96, 55, 55), "pool1": (96, 27, 27), "conv2": (256, 27, 27),
                "pool2": (256, 13, 13), "conv3": (384, 13, 13), "conv4": (384, 13, 13),
                "conv5": (256, 13, 13), "pool5": (256, 6, 6), "fc6": (4096,), "fc7": (4096,),
                "fc8": (1000,)}
    assert {k: shapes[k] for k in expected} == expected
    assert shapes["norm1"] == (96, 55, 55) and shapes["norm2"] == (256, 27, 27)
    assert np.isfinite(x.numpy()).all()


def test_ceil_mode_pad_matches_cuda_convnet_rule():
    pad = CeilModePad(11, 4)
    assert pad(minidl.zeros(1, 1, 224, 224)).shape == (1, 1, 227, 227)
    assert pad(minidl.zeros(1, 1, 227, 227)).shape == (1, 1, 227, 227)
    for n in (224, 227, 100, 67):
        out = (pad(minidl.zeros(1, 1, n, n)).shape[-1] - 11) // 4 + 1
        assert out == 1 + -(-(n - 11) // 4)


def test_alexnet_single_variant():
    minidl.manual_seed(0)
    m = alexnet(variant="single", num_classes=1000)
    assert _count(m) == 61_100_840  # torchvision's count
    assert [m.features[i].out_channels for i in (0, 3, 6, 8, 10)] == [64, 192, 384, 256, 256]
    with minidl.no_grad():
        assert m.eval()(minidl.randn(2, 3, 64, 64)).shape == (2, 1000)  # adaptive pool


def test_alexnet_paper_one_training_step(paper_alexnet):
    """One SGD step at batch 2.  The input stays 224x224: the paper network's fc6 fixes the
    spatial size (pool5 must be 6x6), so the cost is cut with the batch instead.  The loss must
    be finite and every parameter must receive a non-zero gradient."""
    from minidl.nn import functional as F

    minidl.manual_seed(0)
    m = paper_alexnet.train()
    x = minidl.randn(2, 3, 224, 224)
    y = minidl.tensor([3, 777])
    t0 = time.perf_counter()
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    print(f"AlexNet forward+backward, batch 2: {time.perf_counter() - t0:.2f} s")
    assert np.isfinite(loss.item())
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert np.abs(p.grad.numpy()).max() > 0, name
    opt = minidl.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4,
                           paper_form=True)
    before = m.classifier.fc8.weight.detach().numpy().copy()
    opt.step()
    assert not np.array_equal(before, m.classifier.fc8.weight.detach().numpy())


# ---------------------------------------------------------------- cuda-convnet CIFAR-10


def test_cifar_convnet_layers():
    minidl.manual_seed(0)
    m = cifar_convnet()
    assert _count(m) == 2432 + 25632 + 51264 + 10250
    x = minidl.randn(2, 3, 32, 32)
    shapes = {}
    for name, child in m.features.named_children():
        x = child(x)
        shapes[name] = tuple(x.shape[1:])
    assert shapes["pool1"] == (32, 16, 16) and shapes["pool2"] == (32, 8, 8)
    assert shapes["pool3"] == (64, 4, 4)
    assert m(minidl.randn(2, 3, 32, 32)).shape == (2, 10)


def test_get_model():
    assert isinstance(get_model("lenet5", variant="modern"), nn.Module)
    with pytest.raises(ValueError, match="unknown model"):
        get_model("resnet50")

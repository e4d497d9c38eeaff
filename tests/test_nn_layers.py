"""minidl.nn layers and losses: forward values against the op table's references (or the
functional form a layer delegates to, whose values are the table's), PyTorch's defaults and reprs,
train/eval behaviour (dropout, batch norm), LeNet-5's layers, and input-shape errors that name
the layer and the expected shape."""
import numpy as np
import pytest

import minidl
from minidl import models, nn
from minidl.errors import ShapeError
from minidl.nn import functional as F
from minidl.testing.opinfo_nn import (ref_adaptive_avg_pool2d, ref_avg_pool2d,
                                      ref_batch_norm_train, ref_bce_with_logits,
                                      ref_cross_entropy, ref_layer_norm, ref_local_response_norm,
                                      ref_max_pool2d, ref_mse_loss, ref_nll_loss)
from minidl.testing.opinfo_refs import ref_log_softmax

needs_conv = pytest.mark.skipif(not hasattr(F, "conv2d"), reason="functional missing")


def _np(t):
    return t.detach().cpu().numpy()


def _t(a, requires_grad=False, dtype=None):
    return minidl.tensor(np.asarray(a), dtype=dtype, requires_grad=requires_grad)


RNG = np.random.default_rng(0)


# ---- Linear, Flatten, Identity -------------------------------------------------------------
def test_linear_forward_and_batch_shapes():
    lin = nn.Linear(3, 2)
    w, b = _np(lin.weight), _np(lin.bias)
    for shape in [(3,), (4, 3), (2, 5, 3)]:
        x = RNG.standard_normal(shape).astype(np.float32)
        out = lin(_t(x))
        np.testing.assert_allclose(_np(out), x @ w.T + b, rtol=1e-5, atol=1e-6)
    no_bias = nn.Linear(3, 2, bias=False)
    assert no_bias.bias is None and len(list(no_bias.parameters())) == 1
    assert "bias" in no_bias._parameters


def test_linear_backward():
    lin = nn.Linear(3, 2)
    x = _t(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    lin(x).sum().backward()
    np.testing.assert_allclose(_np(lin.bias.grad), [4.0, 4.0])
    np.testing.assert_allclose(_np(lin.weight.grad), np.tile(_np(x).sum(0), (2, 1)), rtol=1e-5)
    np.testing.assert_allclose(_np(x.grad), np.tile(_np(lin.weight).sum(0), (4, 1)), rtol=1e-5)


def test_linear_wrong_input_names_layer_and_shape():
    lin = nn.Linear(3, 2)
    with pytest.raises(ShapeError) as e:
        lin(minidl.zeros(4, 5))
    assert str(e.value) == ("Linear(in_features=3, out_features=2): expected input with last "
                            "dimension 3, got shape [4, 5]")
    assert isinstance(e.value, ValueError)


def test_flatten_identity():
    x = minidl.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Identity(54, unused="x")(x) is x


# ---- activations ---------------------------------------------------------------------------
X = np.linspace(-3, 3, 13).astype(np.float32).reshape(1, 13)


# the layer against its functional form with PyTorch's defaults spelled out: the values of
# F.* are the op table's rows (tests/test_ops.py, tests/test_ops_cuda.py)
@pytest.mark.parametrize("layer,fn,rep", [
    (nn.ReLU(), F.relu, "ReLU()"),
    (nn.ReLU(inplace=True), F.relu, "ReLU(inplace=True)"),
    (nn.LeakyReLU(), lambda x: F.leaky_relu(x, 0.01), "LeakyReLU(negative_slope=0.01)"),
    (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2), "LeakyReLU(negative_slope=0.2)"),
    (nn.Tanh(), F.tanh, "Tanh()"),
    (nn.Sigmoid(), F.sigmoid, "Sigmoid()"),
    (nn.GELU(), lambda x: F.gelu(x, "none"), "GELU(approximate='none')"),
    (nn.ELU(), lambda x: F.elu(x, 1.0), "ELU(alpha=1.0)"),
    (nn.ELU(0.5), lambda x: F.elu(x, 0.5), "ELU(alpha=0.5)"),
    (nn.Hardtanh(), lambda x: F.hardtanh(x, -1.0, 1.0), "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (nn.Softplus(), lambda x: F.softplus(x, 1.0, 20.0), "Softplus(beta=1.0, threshold=20.0)"),
    (models.ScaledTanh(), F.scaled_tanh, "ScaledTanh()"),
    (models.ScaledTanh(2.0, 0.5), lambda x: 2.0 * (0.5 * x).tanh(), "ScaledTanh(A=2.0, S=0.5)"),
    (nn.Softmax(dim=1), lambda x: F.softmax(x, 1), "Softmax(dim=1)"),
    (nn.LogSoftmax(dim=1), lambda x: F.log_softmax(x, 1), "LogSoftmax(dim=1)"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_activations(layer, fn, rep):
    assert repr(layer) == rep
    np.testing.assert_allclose(_np(layer(_t(X.copy()))), _np(fn(_t(X.copy()))), rtol=1e-6,
                               atol=1e-7)


def test_activations_backward_and_inplace():
    x = _t(X.copy(), requires_grad=True)
    nn.Tanh()(x).sum().backward()
    np.testing.assert_allclose(_np(x.grad), 1 - np.tanh(X) ** 2, rtol=1e-5, atol=1e-6)
    y = _t(X.copy())
    out = nn.ReLU(inplace=True)(y)
    assert out is y and np.all(_np(y) >= 0)


def test_softmax_implicit_dim_warns():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = nn.Softmax()(_t(X.copy()))
    np.testing.assert_allclose(_np(out).sum(1), [1.0], rtol=1e-6)


# ---- pooling -------------------------------------------------------------------------------
def test_pooling_layers():
    x = RNG.standard_normal((2, 3, 7, 9)).astype(np.float32)
    mp = nn.MaxPool2d(3, stride=2)
    assert repr(mp) == "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)"
    np.testing.assert_allclose(_np(mp(_t(x))), ref_max_pool2d(x, 3, 2), rtol=1e-6)
    ap = nn.AvgPool2d(2)
    assert repr(ap) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    np.testing.assert_allclose(_np(ap(_t(x))), ref_avg_pool2d(x, 2), rtol=1e-5)
    out, idx = nn.MaxPool2d(2, return_indices=True)(_t(x))
    assert out.shape == idx.shape == (2, 3, 3, 4) and idx.dtype == minidl.int64
    aap = nn.AdaptiveAvgPool2d((1, 3))
    assert repr(aap) == "AdaptiveAvgPool2d(output_size=(1, 3))"
    for a, size in ((aap, (1, 3)), (nn.AdaptiveAvgPool2d(1), 1)):
        np.testing.assert_allclose(_np(a(_t(x))), ref_adaptive_avg_pool2d(x, size), rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(ShapeError, match=r"^MaxPool2d\(kernel_size=3, .*\): expected a 3D .* "
                                         r"got shape \[7, 9\]$"):
        mp(minidl.zeros(7, 9))


# ---- normalisation -------------------------------------------------------------------------
def test_local_response_norm_pytorch_and_paper_forms():
    x = (RNG.standard_normal((2, 7, 3, 4)) * 20).astype(np.float32)
    lrn = nn.LocalResponseNorm(5)
    assert repr(lrn) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)"
    np.testing.assert_allclose(_np(lrn(_t(x))), ref_local_response_norm(x, 5, 1e-4, 0.75, 1.0),
                               rtol=1e-5)
    paper = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, paper_alpha=True)
    assert repr(paper) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0, paper_alpha=True)"
    # the paper's alpha is not divided by the window size
    np.testing.assert_allclose(_np(paper(_t(x))), ref_local_response_norm(x, 5, 5e-4, 0.75, 2.0),
                               rtol=1e-5)
    with pytest.raises(ShapeError, match="LocalResponseNorm.*expected input with 3 or more"):
        lrn(minidl.zeros(3, 4))


def _bn_ref(x, axes):
    """Normalised over `axes`, no affine: the op table's batch/layer norm references."""
    if axes[0] == 0:
        return ref_batch_norm_train(x, np.ones(x.shape[1]), np.zeros(x.shape[1]))
    shape = x.shape[axes[0]:]
    return ref_layer_norm(x, shape, np.ones(shape), np.zeros(shape))


def test_batchnorm2d_train_eval_and_running_stats():
    bn = nn.BatchNorm2d(3)
    assert repr(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, " \
                       "track_running_stats=True)"
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    x = (RNG.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32)
    out = bn(_t(x))
    np.testing.assert_allclose(_np(out), _bn_ref(x, (0, 2, 3)), rtol=1e-4, atol=1e-4)
    n = 4 * 25
    np.testing.assert_allclose(_np(bn.running_mean), 0.1 * x.mean((0, 2, 3)), rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(_np(bn.running_var),
                               0.9 + 0.1 * x.var((0, 2, 3)) * n / (n - 1), rtol=1e-4)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    rm, rv = _np(bn.running_mean).copy(), _np(bn.running_var).copy()
    out_eval = bn(_t(x))
    want = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(_np(out_eval), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(_np(bn.running_mean), rm)  # eval does not update
    assert int(bn.num_batches_tracked.item()) == 1
    with pytest.raises(ShapeError, match=r"^BatchNorm2d\(3, .*\): expected 4D input "
                                         r"\[N, 3, H, W\], got shape \[4, 3\]$"):
        bn(minidl.zeros(4, 3))
    with pytest.raises(ShapeError, match="expected input with 3 features in dimension 1"):
        bn(minidl.zeros(2, 4, 2, 2))


def test_batchnorm1d_variants():
    x = RNG.standard_normal((8, 4)).astype(np.float32)
    bn = nn.BatchNorm1d(4, momentum=None)  # cumulative moving average
    bn(_t(x))
    bn(_t(2 * x))
    np.testing.assert_allclose(_np(bn.running_mean), (x.mean(0) + 2 * x.mean(0)) / 2, rtol=1e-4,
                               atol=1e-6)
    x3 = RNG.standard_normal((8, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(_np(nn.BatchNorm1d(4)(_t(x3))), _bn_ref(x3, (0, 2)), rtol=1e-4,
                               atol=1e-4)
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert list(plain.parameters()) == [] and list(plain.state_dict()) == []
    plain.eval()  # no running stats: batch statistics even in eval
    np.testing.assert_allclose(_np(plain(_t(x))), _bn_ref(x, (0,)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(4, .*\): expected 2D \[N, 4\] or 3D"):
        bn(minidl.zeros(2, 4, 3, 3))


def test_layer_norm():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    ln = nn.LayerNorm(4)
    assert repr(ln) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    np.testing.assert_allclose(_np(ln(_t(x))), _bn_ref(x, (2,)), rtol=1e-4, atol=1e-4)
    ln2 = nn.LayerNorm([3, 4], elementwise_affine=False)
    assert list(ln2.parameters()) == []
    np.testing.assert_allclose(_np(ln2(_t(x))), _bn_ref(x, (1, 2)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ShapeError, match=r"LayerNorm.*expected input of shape \[\*, 4\], got"):
        ln(minidl.zeros(4, 3))


# ---- dropout -------------------------------------------------------------------------------
def test_dropout_train_and_eval():
    minidl.manual_seed(0)
    d = nn.Dropout(0.25)
    x = minidl.ones(200, 100)
    y = _np(d(x))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    d.eval()
    assert np.array_equal(_np(d(x)), np.ones((200, 100)))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"
                                         " 1.5"):
        nn.Dropout(1.5)


def test_dropout2d_zeroes_whole_channels():
    minidl.manual_seed(1)
    d = nn.Dropout2d(0.5)
    y = _np(d(minidl.ones(8, 16, 3, 3)))
    per_channel = y.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.25 < (per_channel[..., 0] == 0).mean() < 0.75
    d.eval()
    assert np.all(_np(d(minidl.ones(2, 3, 2, 2))) == 1)


def test_model_train_eval_switches_dropout_and_bn():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(8, 2))
    x = minidl.randn(16, 4)
    minidl.manual_seed(0)
    a = _np(model(x))
    minidl.manual_seed(1)
    b = _np(model(x))
    assert not np.allclose(a, b)  # different dropout masks in training
    model.eval()
    np.testing.assert_array_equal(_np(model(x)), _np(model(x)))


# ---- losses --------------------------------------------------------------------------------
def test_cross_entropy_and_nll():
    logits = RNG.standard_normal((6, 4))
    target = np.array([0, 3, 1, 1, 2, -100])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    lp = ref_log_softmax(logits, 1)
    ce = nn.CrossEntropyLoss()
    assert ce.reduction == "mean" and ce.ignore_index == -100 and ce.label_smoothing == 0.0
    x, t = _t(logits), _t(target)
    wce = nn.CrossEntropyLoss(weight=_t(w))
    assert "weight" in dict(wce.named_buffers())
    for loss, kw in ((ce, {}), (nn.CrossEntropyLoss(reduction="sum"), {"reduction": "sum"}),
                     (wce, {"weight": w}), (nn.CrossEntropyLoss(label_smoothing=0.1),
                                            {"label_smoothing": 0.1})):
        np.testing.assert_allclose(_np(loss(x, t)), ref_cross_entropy(logits, target, **kw),
                                   rtol=1e-10)
    out = _np(nn.NLLLoss(reduction="none")(_t(lp), t))
    np.testing.assert_allclose(out, ref_nll_loss(lp, target, reduction="none"), rtol=1e-10)
    assert out[-1] == 0
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


def test_mse_and_bce_with_logits():
    a, b = RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))
    np.testing.assert_allclose(_np(nn.MSELoss()(_t(a), _t(b))), ref_mse_loss(a, b), rtol=1e-10)
    np.testing.assert_allclose(_np(nn.MSELoss(reduction="none")(_t(a), _t(b))),
                               ref_mse_loss(a, b, "none"), rtol=1e-10)
    y = (RNG.random((3, 5)) > 0.5).astype(np.float64)
    pw = np.array([1.0, 2.0, 3.0, 0.5, 1.0])
    np.testing.assert_allclose(_np(nn.BCEWithLogitsLoss()(_t(a), _t(y))),
                               ref_bce_with_logits(a, y), rtol=1e-10)
    loss = nn.BCEWithLogitsLoss(pos_weight=_t(pw), reduction="sum")
    np.testing.assert_allclose(_np(loss(_t(a), _t(y))), ref_bce_with_logits(a, y, pw, None, "sum"),
                               rtol=1e-10)


def test_legacy_reduction_args():
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"


# ---- LeNet-5 layers ------------------------------------------------------------------------
def test_subsampling():
    s2 = models.Subsampling(6)
    assert sum(p.numel() for p in s2.parameters()) == 12
    assert np.all(np.abs(_np(s2.weight)) <= 0.6) and np.all(np.abs(_np(s2.bias)) <= 0.6)
    x = RNG.standard_normal((2, 6, 28, 28)).astype(np.float32)
    out = s2(_t(x))
    assert out.shape == (2, 6, 14, 14)
    sums = x.reshape(2, 6, 14, 2, 14, 2).sum((3, 5))
    want = sums * _np(s2.weight)[None, :, None, None] + _np(s2.bias)[None, :, None, None]
    np.testing.assert_allclose(_np(out), want, rtol=1e-5, atol=1e-5)
    assert repr(s2) == "Subsampling(6, kernel_size=(2, 2), stride=(2, 2))"
    with pytest.raises(ShapeError, match=r"Subsampling\(6, .*\): expected input \[N, 6, H, W\]"):
        s2(minidl.zeros(2, 5, 4, 4))


def test_subsampling_gradients():
    from minidl.testing.gradcheck import gradcheck

    s = models.Subsampling(2).double()
    x = minidl.randn(1, 2, 4, 4, dtype=minidl.float64, requires_grad=True)
    # w and b are the module's own parameters, perturbed in place by gradcheck
    assert gradcheck(lambda x, w, b: s(x), (x, s.weight, s.bias))


def test_lenet5_c3_table_and_parameter_count():
    table = np.array(models.LENET5_C3_TABLE)
    assert table.shape == (6, 16) and table.sum() == 60
    # the paper's Table I, row 0 (S2 map 0) feeds C3 maps 0, 4, 5, 6, 9, 10, 11, 12, 14, 15
    assert np.flatnonzero(table[0]).tolist() == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert table[:, 15].all() and table.sum(0).tolist() == [3] * 6 + [4] * 9 + [6]
    c3 = models.SparseConv2d(models.LENET5_C3_TABLE, 5)
    assert sum(p.numel() for p in c3.parameters()) == 1516
    assert c3.weight.shape == (60, 5, 5) and c3.bias.shape == (16,)
    assert list(c3.state_dict()) == ["weight", "bias"]  # the gather index is not saved
    assert repr(c3) == "SparseConv2d(6, 16, connections=60, kernel_size=(5, 5), stride=(1, 1))"
    dense = _np(c3.dense_weight())
    assert dense.shape == (16, 6, 5, 5)
    assert np.all((np.abs(dense).sum((2, 3)) > 0) == table.T)
    # PyTorch's per-unit init bound 1/sqrt(fan_in), fan_in = inputs of the map * 25
    fan = table.sum(0) * 25
    assert np.all(np.abs(dense).max((1, 2, 3)) <= 1 / np.sqrt(fan) + 1e-7)
    assert np.all(np.abs(_np(c3.bias)) <= 1 / np.sqrt(fan) + 1e-7)
    with pytest.raises(ValueError, match="output maps \\[1\\] have no input connection"):
        models.SparseConv2d([[True, False], [True, False]], 3)


@needs_conv
def test_sparse_conv_equals_masked_dense_conv_and_gradients_stay_sparse():
    c3 = models.SparseConv2d(models.LENET5_C3_TABLE, 5)
    x = minidl.randn(2, 6, 14, 14)
    out = c3(x)
    assert out.shape == (2, 16, 10, 10)
    ref = F.conv2d(x, c3.dense_weight().detach(), c3.bias.detach())
    np.testing.assert_allclose(_np(out), _np(ref), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert c3.weight.grad.shape == (60, 5, 5)
    # each connection's gradient is the window sum of its own input map only
    xs = _np(x)
    outs, ins = np.nonzero(np.array(models.LENET5_C3_TABLE).T)
    for c in (0, 17, 59):
        i = ins[c]
        want = np.array([[xs[:, i, a:a + 10, b:b + 10].sum() for b in range(5)]
                         for a in range(5)])
        np.testing.assert_allclose(_np(c3.weight.grad)[c], want, rtol=1e-4, atol=1e-3)


# ---- Conv2d --------------------------------------------------------------------------------
def _conv_ref(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                           j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, oc, i, j] = (patch * w[oc]).sum((1, 2, 3))
    return out + (0 if b is None else b[None, :, None, None])


def test_conv2d_constructor_and_errors():
    conv = nn.Conv2d(3, 64, 11, stride=4, padding=2)
    assert conv.kernel_size == (11, 11) and conv.stride == (4, 4) and conv.padding == (2, 2)
    assert conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
    assert repr(conv) == "Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))"
    assert repr(nn.Conv2d(4, 8, 3, dilation=2, groups=2, bias=False)) == (
        "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2), groups=2, bias=False)")
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ShapeError) as e:
        conv(minidl.zeros(1, 1, 224, 224))
    assert str(e.value) == ("Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2)): "
                            "expected input with 3 channels ([N, 3, H, W] or [3, H, W]), got "
                            "shape [1, 1, 224, 224]")


@needs_conv
@pytest.mark.parametrize("kw", [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, groups=2, bias=False),
    dict(in_channels=3, out_channels=2, kernel_size=4, padding="same"),
], ids=str)
def test_conv2d_forward(kw):
    conv = nn.Conv2d(**kw).double()
    x = RNG.standard_normal((2, kw["in_channels"], 9, 8))
    out = _np(conv(_t(x)))
    pad = conv.padding
    xin = x
    if pad == "same":  # even kernel: PyTorch pads 1 before, 2 after
        xin = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2)))
        pad = (0, 0)
    b = None if conv.bias is None else _np(conv.bias)
    want = _conv_ref(xin, _np(conv.weight), b, conv.stride, pad, conv.dilation, conv.groups)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    if kw.get("padding") == "same":
        assert out.shape[2:] == x.shape[2:]
    unbatched = _np(conv(_t(x[0])))
    np.testing.assert_allclose(unbatched, want[0], rtol=1e-10, atol=1e-10)

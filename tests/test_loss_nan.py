"""cross_entropy / nll_loss corners from issue 9: an all-ignored batch (items 3) and -inf logits
(item 4).  PyTorch's values are fixed expectations here, and torch itself is compared when
installed; the CUDA simulator tier checks the device gives the same."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn

nan, inf = math.nan, math.inf


def _loss_and_grad(fn, x, *args, device="cpu", **kw):
    x = minidl.tensor(x, device=device, requires_grad=True)
    args = [minidl.tensor(a, device=device) for a in args]  # targets
    kw = {k: minidl.tensor(v, device=device) if isinstance(v, list) else v for k, v in kw.items()}
    loss = fn(x, *args, **kw)
    loss.sum().backward()
    return np.asarray(loss.detach().cpu().numpy()), x.grad.cpu().numpy()


# ---- item 3: every target ignored ---------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, dict(label_smoothing=0.2), dict(weight=[1.0, 2.0, 3.0])])
def test_all_ignored_mean_is_nan_with_zero_gradients(kw):
    x = [[0.0, 0.0, 1.0], [0.0, 3.0, 1.0]]
    loss, g = _loss_and_grad(F.cross_entropy, x, [-100, -100], **kw)
    assert math.isnan(loss)
    assert (g == 0).all()
    loss, g = _loss_and_grad(F.cross_entropy, x, [-100, -100], reduction="sum", **kw)
    assert loss == 0 and (g == 0).all()


def test_all_ignored_nll_and_nd_targets():
    lp = [[-1.0, -2.0, -0.5], [-0.1, -3.0, -2.0]]
    loss, g = _loss_and_grad(F.nll_loss, lp, [-100, -100])
    assert math.isnan(loss) and (g == 0).all()
    x = np.random.RandomState(0).randn(2, 3, 2, 2)  # [N, C, d1, d2]
    loss, g = _loss_and_grad(F.cross_entropy, x, np.full((2, 2, 2), 7), ignore_index=7)
    assert math.isnan(loss) and (g == 0).all()
    loss, g = _loss_and_grad(F.nll_loss, x, np.full((2, 2, 2), -100))
    assert math.isnan(loss) and (g == 0).all()


def test_all_ignored_batch_leaves_weights_finite_after_a_step():
    minidl.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    loss = nn.CrossEntropyLoss()(model(minidl.randn(5, 4)), minidl.full((5,), -100,
                                                                         dtype=minidl.int64))
    assert math.isnan(loss.item())
    opt.zero_grad()
    loss.backward()
    opt.step()
    for b, p in zip(before, model.parameters()):
        assert np.isfinite(p.grad.numpy()).all() and (p.grad.numpy() == 0).all()
        np.testing.assert_array_equal(p.detach().numpy(), b)


def test_zero_weight_targets_still_nan_like_pytorch():
    # not ignored, but the summed weight is 0: PyTorch gives NaN gradients (0/0), minidl too
    loss, g = _loss_and_grad(F.cross_entropy, [[0.0, 0.0, 1.0]], [0], weight=[0.0, 1.0, 1.0])
    assert math.isnan(loss) and np.isnan(g).all()


# ---- item 4: -inf logits ------------------------------------------------------------------------
def test_minus_inf_logit_in_other_class_is_finite():
    loss, g = _loss_and_grad(F.cross_entropy, [[0.0, -inf, 1.0]], [0])
    assert loss == pytest.approx(1.3132616, rel=1e-6)
    e = math.exp(1.0)
    np.testing.assert_allclose(g, [[1 / (1 + e) - 1, 0.0, e / (1 + e)]], rtol=1e-6)
    loss, g = _loss_and_grad(F.nll_loss, [[0.0, -inf, 1.0]], [0])
    assert loss == 0 and g.tolist() == [[-1.0, 0.0, 0.0]]
    loss, g = _loss_and_grad(F.cross_entropy, [[0.0, -inf, 1.0]], [0], weight=[1.0, 0.0, 3.0])
    assert loss == pytest.approx(1.3132616, rel=1e-6) and np.isfinite(g).all()
    # an ignored row full of -inf does not poison the batch
    loss, g = _loss_and_grad(F.cross_entropy, [[0.0, -inf, 1.0], [-inf, -inf, 0.0]], [0, -100])
    assert loss == pytest.approx(1.3132616, rel=1e-6) and (g[1] == 0).all()
    # N-d: [N, C, d] with a -inf per position
    loss, g = _loss_and_grad(F.cross_entropy, [[[0.0, 0.0], [-inf, 2.0], [0.0, -inf]]], [[0, 1]])
    assert np.isfinite(loss) and np.isfinite(g).all()


def test_minus_inf_with_smoothing_and_probabilities_like_pytorch():
    # PyTorch reads every class when smoothing (inf loss, finite gradient) and multiplies the
    # probability target in (0 * -inf = NaN loss, finite gradient)
    x = [[0.0, -inf, 1.0]]
    loss, g = _loss_and_grad(F.cross_entropy, x, [0], label_smoothing=0.1)
    assert loss == inf and np.isfinite(g).all()
    np.testing.assert_allclose(g, [[-0.6643919, -0.0333333, 0.6977252]], rtol=1e-5)
    loss, g = _loss_and_grad(F.cross_entropy, x, [[1.0, 0.0, 0.0]])
    assert math.isnan(loss) and np.isfinite(g).all()
    loss, g = _loss_and_grad(F.cross_entropy, x, [0], label_smoothing=0.1, weight=[1.0, 0.0, 3.0])
    assert math.isnan(loss) and np.isfinite(g).all()


CASES = [
    ("plain", [[0.0, -inf, 1.0]], [0], {}),
    ("smooth", [[0.0, -inf, 1.0]], [0], dict(label_smoothing=0.1)),
    ("weight", [[0.0, -inf, 1.0]], [0], dict(weight=[1.0, 2.0, 3.0])),
    ("weight0", [[0.0, -inf, 1.0]], [0], dict(weight=[1.0, 0.0, 3.0])),
    ("weight0 smooth", [[0.0, -inf, 1.0]], [0], dict(weight=[1.0, 0.0, 3.0], label_smoothing=0.1)),
    ("prob", [[0.0, -inf, 1.0]], [[1.0, 0.0, 0.0]], {}),
    ("prob smooth", [[0.0, -inf, 1.0]], [[1.0, 0.0, 0.0]], dict(label_smoothing=0.1)),
    ("prob weight", [[0.0, -inf, 1.0]], [[1.0, 0.0, 0.0]], dict(weight=[1.0, 2.0, 3.0])),
    ("target -inf", [[0.0, -inf, 1.0]], [1], {}),
    ("target -inf w0", [[0.0, -inf, 1.0]], [1], dict(weight=[1.0, 0.0, 3.0])),
    ("ignored -inf", [[0.0, -inf, 1.0], [-inf, -inf, 1.0]], [0, -100], {}),
    ("ignored nan", [[0.0, 0.0, 1.0], [0.0, nan, 1.0]], [0, -100], {}),
    ("all ignored", [[0.0, 0.0, 1.0], [0.0, 3.0, 1.0]], [-100, -100], {}),
    ("all ignored smooth", [[0.0, 0.0, 1.0], [0.0, 3.0, 1.0]], [-100, -100],
     dict(label_smoothing=0.2)),
    ("all ignored weight", [[0.0, 0.0, 1.0], [0.0, 3.0, 1.0]], [-100, -100],
     dict(weight=[1.0, 2.0, 3.0])),
    ("weights sum to 0", [[0.0, 0.0, 1.0], [0.0, 3.0, 1.0]], [0, 0], dict(weight=[0.0, 2.0, 3.0])),
    ("nd all ignored", [[[0.0, 0.0], [1.0, 2.0], [0.0, 3.0]]], [[-100, -100]], {}),
    ("nd -inf", [[[0.0, 0.0], [-inf, 2.0], [0.0, -inf]]], [[0, 1]], {}),
    ("unbatched ignored", [0.0, 0.0, 1.0], -100, {}),
    ("unbatched -inf", [0.0, -inf, 1.0], 2, {}),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("name,x,t,kw", CASES, ids=[c[0] for c in CASES])
def test_loss_corners_match_torch(name, x, t, kw, fn, reduction):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    if fn == "nll_loss" and ("label_smoothing" in kw or isinstance(t[0] if isinstance(t, list)
                                                                    else t, list)):
        pytest.skip("nll_loss takes neither smoothing nor probabilities")
    out = []
    for lib, Fn in ((torch, TF), (minidl, F)):
        xx = lib.tensor(x, requires_grad=True)
        k = {a: lib.tensor(v) if isinstance(v, list) else v for a, v in kw.items()}
        loss = getattr(Fn, fn)(xx, lib.tensor(t), reduction=reduction, **k)
        loss.sum().backward()
        out.append((np.asarray(loss.detach().numpy(), np.float64), xx.grad.numpy()))
    for a, b, what in ((out[1][0], out[0][0], "loss"), (out[1][1], out[0][1], "grad")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=f"{name} {fn} {reduction} {what}")


@pytest.mark.cuda
@pytest.mark.parametrize("name,x,t,kw", CASES, ids=[c[0] for c in CASES])
def test_loss_corners_cuda_matches_cpu(name, x, t, kw, cuda_device):
    for reduction in ("mean", "none"):
        res = [_loss_and_grad(F.cross_entropy, x, t, device=d, reduction=reduction, **kw)
               for d in ("cpu", cuda_device)]
        for a, b in zip(res[1], res[0]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True,
                                       err_msg=f"{name} {reduction}")

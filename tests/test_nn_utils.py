"""minidl.nn.utils: gradient clipping by norm and value, parameters <-> vector, counting."""
import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import utils


def _params_with_grads(grads):
    ps = []
    for g in grads:
        p = nn.Parameter(minidl.zeros(*np.shape(g)))
        p.grad = minidl.tensor(np.asarray(g, dtype=np.float32))
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm(norm_type):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    flat = np.concatenate([g.ravel() for g in grads])
    total = (np.abs(flat).max() if norm_type == math.inf
             else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type))
    ps = _params_with_grads(grads)
    out = utils.clip_grad_norm_(ps, max_norm=0.5, norm_type=norm_type)
    assert isinstance(out, minidl.Tensor) and out.ndim == 0
    assert float(out.item()) == pytest.approx(total, rel=1e-5)
    coef = 0.5 / (total + 1e-6)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-5, atol=1e-7)
    # already small: unchanged
    ps = _params_with_grads(grads)
    utils.clip_grad_norm_(ps, max_norm=1e6, norm_type=norm_type)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-6)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(minidl.zeros(2))
    assert float(utils.clip_grad_norm_([p], 1.0).item()) == 0.0  # no grads
    q = _params_with_grads([[3.0, 4.0]])[0]
    assert float(utils.clip_grad_norm_(q, 1.0).item()) == pytest.approx(5.0)  # single tensor
    r = _params_with_grads([[np.inf, 1.0]])[0]
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from "
                                           "`parameters` is non-finite"):
        utils.clip_grad_norm_(r, 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    ps = _params_with_grads([[-3.0, 0.5, 2.0]])
    utils.clip_grad_value_(ps, 1.0)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [-1.0, 0.5, 1.0])


def test_parameters_vector_round_trip():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    vec = utils.parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vec.detach().numpy()[:12],
                                  model[0].weight.detach().numpy().ravel())
    new = minidl.arange(vec.shape[0], dtype=minidl.float32)
    w = model[0].weight
    utils.vector_to_parameters(new, model.parameters())
    assert model[0].weight is w
    np.testing.assert_array_equal(model[2].bias.detach().numpy(), [24.0, 25.0])
    np.testing.assert_array_equal(utils.parameters_to_vector(model.parameters()).detach().numpy(),
                                  np.arange(26))
    with pytest.raises(ValueError, match="expected a 1-D vector of 26 elements"):
        utils.vector_to_parameters(minidl.zeros(5), model.parameters())
    with pytest.raises(TypeError, match="expected minidl.Tensor"):
        utils.vector_to_parameters(np.zeros(26), model.parameters())


def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False))
    assert utils.count_parameters(model) == 12 + 4 + 8 + 8
    model[0].requires_grad_(False)
    assert utils.count_parameters(model) == 16
    assert utils.count_parameters(model, trainable_only=False) == 32

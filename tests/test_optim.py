"""minidl.optim optimizers on CPU: each step matches a plain numpy transcription of PyTorch's
documented algorithm in float64; options, parameter groups, state_dict resume, errors."""
import math

import numpy as np
import pytest

import minidl
from minidl import nn, optim

SHAPES = [(3, 4), (5,)]
N_STEPS = 5


def _grads(seed=0, n=N_STEPS, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(n)]


def _params(seed=1, dtype=np.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _run(make_opt, grads, p0, groups=None):
    """Run the minidl optimizer; returns the parameter values after every step."""
    params = [nn.Parameter(minidl.tensor(p)) for p in p0]
    opt = make_opt(params if groups is None else groups(params))
    out = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = minidl.tensor(g, dtype=p.dtype)
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out, params, opt


# ---- numpy references (PyTorch's documented algorithms) ---------------------------------------
def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    p, b, out = p.copy(), None, []
    for g in grads:
        g = -g if maximize else g.copy()
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
        out.append(p)
    return out


def ref_sgd_paper(p, grads, lrs, momentum, weight_decay):
    p, v, out = p.copy(), np.zeros_like(p), []
    for g, lr in zip(grads, lrs):
        v = momentum * v - weight_decay * lr * p - lr * g
        p = p + v
        out.append(p)
    return out


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False):
    b1, b2 = betas
    p, m, v, vmax, out = p.copy(), 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2 ** t)
        else:
            v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def ref_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    p, v, gavg, b, out = p.copy(), 0.0, 0.0, 0.0, []
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        vt = v
        if centered:
            gavg = alpha * gavg + (1 - alpha) * g
            vt = vt - gavg * gavg
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(vt) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(vt) + eps)
        out.append(p)
    return out


def ref_adagrad(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    p, s, out = p.copy(), np.full_like(p, initial_accumulator_value), []
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        clr = lr / (1 + (t - 1) * lr_decay)
        if weight_decay:
            g = g + weight_decay * p
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def ref_adadelta(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    p, v, u, out = p.copy(), 0.0, 0.0, []
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        dx = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * dx * dx
        p = p - lr * dx
        out.append(p)
    return out


def _check(make_opt, ref, kwargs_ref, rtol=1e-12, atol=1e-14):
    grads, p0 = _grads(), _params()
    got, _, _ = _run(make_opt, grads, p0)
    for k in range(len(p0)):
        want = ref(p0[k], [g[k] for g in grads], **kwargs_ref)
        for step in range(N_STEPS):
            np.testing.assert_allclose(got[step][k], want[step], rtol=rtol, atol=atol,
                                       err_msg=f"param {k}, step {step + 1}")


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, maximize=True),
]


@pytest.mark.parametrize("kw", SGD_CASES, ids=str)
def test_sgd_matches_reference(kw):
    _check(lambda ps: optim.SGD(ps, **kw), ref_sgd, kw)


ADAM_CASES = [
    dict(),
    dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=1e-2, weight_decay=0.1),
    dict(lr=1e-2, amsgrad=True),
    dict(lr=1e-2, amsgrad=True, weight_decay=0.05, maximize=True),
]


@pytest.mark.parametrize("kw", ADAM_CASES, ids=str)
def test_adam_matches_reference(kw):
    _check(lambda ps: optim.Adam(ps, **kw), ref_adam, kw)


@pytest.mark.parametrize("kw", [dict(), dict(lr=1e-2, weight_decay=0.1, amsgrad=True)], ids=str)
def test_adamw_matches_reference(kw):
    ref_kw = dict(kw, decoupled=True)
    ref_kw.setdefault("weight_decay", 1e-2)  # AdamW's default
    _check(lambda ps: optim.AdamW(ps, **kw), ref_adam, ref_kw)


RMSPROP_CASES = [
    dict(),
    dict(lr=1e-3, alpha=0.9, eps=1e-6, weight_decay=0.01),
    dict(momentum=0.9),
    dict(centered=True),
    dict(centered=True, momentum=0.5, weight_decay=0.01, maximize=True),
]


@pytest.mark.parametrize("kw", RMSPROP_CASES, ids=str)
def test_rmsprop_matches_reference(kw):
    _check(lambda ps: optim.RMSprop(ps, **kw), ref_rmsprop, kw)


ADAGRAD_CASES = [
    dict(),
    dict(lr=0.1, lr_decay=0.05, weight_decay=0.01),
    dict(initial_accumulator_value=0.1, eps=1e-8, maximize=True),
]


@pytest.mark.parametrize("kw", ADAGRAD_CASES, ids=str)
def test_adagrad_matches_reference(kw):
    _check(lambda ps: optim.Adagrad(ps, **kw), ref_adagrad, kw)


ADADELTA_CASES = [dict(), dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.01, maximize=True)]


@pytest.mark.parametrize("kw", ADADELTA_CASES, ids=str)
def test_adadelta_matches_reference(kw):
    _check(lambda ps: optim.Adadelta(ps, **kw), ref_adadelta, kw)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: optim.RMSprop(ps, centered=True, momentum=0.9),
    lambda ps: optim.Adagrad(ps, lr_decay=0.1),
    lambda ps: optim.Adadelta(ps),
], ids=["sgd", "adam", "rmsprop", "adagrad", "adadelta"])
def test_float32_close_to_float64(make):
    grads = _grads()
    got32, params32, opt = _run(make, grads, _params(dtype=np.float32))
    got64, _, _ = _run(make, grads, _params())
    assert params32[0].dtype == minidl.float32
    for state in opt.state.values():  # state follows the parameter's dtype
        for v in state.values():
            if isinstance(v, minidl.Tensor):
                assert v.dtype == minidl.float32
    for a, b in zip(got32[-1], got64[-1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ---- the AlexNet paper's SGD ---------------------------------------------------------------
def test_sgd_paper_form_matches_paper_and_torch_with_constant_lr():
    grads, p0 = _grads(), _params()
    kw = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
    paper, _, opt = _run(lambda ps: optim.SGD(ps, paper_form=True, **kw), grads, p0)
    torch_form, _, _ = _run(lambda ps: optim.SGD(ps, **kw), grads, p0)
    want = ref_sgd_paper(p0[0], [g[0] for g in grads], [0.01] * N_STEPS, 0.9, 5e-4)
    for step in range(N_STEPS):
        np.testing.assert_allclose(paper[step][0], want[step], rtol=1e-12, atol=1e-14)
        # with a constant lr the two forms coincide (v = -lr * buf)
        np.testing.assert_allclose(paper[step][0], torch_form[step][0], rtol=1e-10, atol=1e-12)
    assert "velocity" in opt.state[next(iter(opt.state))]


def test_sgd_paper_form_differs_from_torch_after_lr_change():
    grads, p0 = _grads(n=6), _params()
    lrs = [0.01] * 3 + [0.001] * 3

    def run(paper):
        params = [nn.Parameter(minidl.tensor(p)) for p in p0]
        opt = optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4, paper_form=paper)
        for gs, lr in zip(grads, lrs):
            opt.param_groups[0]["lr"] = lr
            for p, g in zip(params, gs):
                p.grad = minidl.tensor(g)
            opt.step()
        return params[0].detach().numpy()

    want = ref_sgd_paper(p0[0], [g[0] for g in grads], lrs, 0.9, 5e-4)[-1]
    np.testing.assert_allclose(run(True), want, rtol=1e-12, atol=1e-14)
    assert np.abs(run(True) - run(False)).max() > 1e-4


def test_sgd_paper_form_rejects_nesterov_and_dampening():
    p = [nn.Parameter(minidl.zeros(2))]
    with pytest.raises(ValueError, match="paper_form"):
        optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, paper_form=True)
    with pytest.raises(ValueError, match="paper_form"):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, paper_form=True)


# ---- groups, skipping, closure, zero_grad ----------------------------------------------------
def test_param_groups_have_their_own_options():
    grads, p0 = _grads(), _params()
    got, _, opt = _run(lambda g: optim.SGD(g, lr=0.1, momentum=0.9), grads, p0,
                       groups=lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.01,
                                                                   "momentum": 0.0}])
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[1]["dampening"] == 0.0  # defaults filled in
    w0 = ref_sgd(p0[0], [g[0] for g in grads], lr=0.1, momentum=0.9)
    w1 = ref_sgd(p0[1], [g[1] for g in grads], lr=0.01)
    np.testing.assert_allclose(got[-1][0], w0[-1], rtol=1e-12)
    np.testing.assert_allclose(got[-1][1], w1[-1], rtol=1e-12)


def test_add_param_group_and_duplicates():
    a, b = nn.Parameter(minidl.zeros(2)), nn.Parameter(minidl.zeros(3))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["params"] == [b]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {a, b}}], lr=0.1)


def test_params_without_grad_are_skipped():
    a, b = nn.Parameter(minidl.ones(2)), nn.Parameter(minidl.ones(2))
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    a.grad = minidl.ones(2)
    opt.step()
    np.testing.assert_array_equal(a.detach().numpy(), [0.5, 0.5])
    np.testing.assert_array_equal(b.detach().numpy(), [1.0, 1.0])
    assert b not in opt.state


def test_step_with_closure_returns_loss():
    w = nn.Parameter(minidl.tensor([1.0, -2.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with minidl.no_grad():  # closure runs with grad enabled regardless
        loss = opt.step(closure)
    assert float(loss.item()) == pytest.approx(5.0)
    np.testing.assert_allclose(w.detach().numpy(), [0.8, -1.6], rtol=1e-6)


def test_zero_grad():
    w = nn.Parameter(minidl.ones(3))
    opt = optim.SGD([w], lr=0.1)
    w.grad = minidl.ones(3)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert w.grad is None


def test_step_bumps_version_counter():
    w = nn.Parameter(minidl.ones(3))
    opt = optim.SGD([w], lr=0.1)
    w.grad = minidl.ones(3)
    v = w._version.value
    opt.step()
    assert w._version.value == v + 1


def test_training_a_quadratic_converges():
    target = np.array([1.0, -2.0, 3.0])
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p, lr=0.1),
                 lambda p: optim.RMSprop(p, lr=0.03), lambda p: optim.Adagrad(p, lr=0.5),
                 lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.0),
                 lambda p: optim.Adadelta(p, lr=10.0)):
        w = nn.Parameter(minidl.zeros(3, dtype=minidl.float64))
        t = minidl.tensor(target)
        opt = make([w])
        for _ in range(300):
            opt.zero_grad()
            loss = ((w - t) * (w - t)).sum()
            loss.backward()
            opt.step()
        np.testing.assert_allclose(w.detach().numpy(), target, atol=0.05)


# ---- state_dict ----------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "sgd_paper": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4,
                                      paper_form=True),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "rmsprop": lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr_decay=0.01),
    "adadelta": lambda ps: optim.Adadelta(ps),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_resumes_exactly(name):
    make = OPTIMIZERS[name]
    grads, p0 = _grads(n=6), _params(dtype=np.float32)

    def feed(params, gs):
        for p, g in zip(params, gs):
            p.grad = minidl.tensor(g, dtype=p.dtype)

    params = [nn.Parameter(minidl.tensor(p)) for p in p0]
    opt = make([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.05}])
    for gs in grads[:3]:
        feed(params, gs)
        opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert set(sd["state"]) <= {0, 1}
    snapshot = [p.detach().numpy().copy() for p in params]

    for gs in grads[3:]:  # the original keeps training: the state dict must not change
        feed(params, gs)
        opt.step()
    final = [p.detach().numpy().copy() for p in params]

    params2 = [nn.Parameter(minidl.tensor(s)) for s in snapshot]
    opt2 = make([{"params": [params2[0]]}, {"params": [params2[1]], "lr": 0.7}])
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.05
    assert opt2.param_groups[0]["params"][0] is params2[0]
    for gs in grads[3:]:
        feed(params2, gs)
        opt2.step()
    for a, b in zip(final, params2):
        np.testing.assert_array_equal(a, b.detach().numpy())


def test_load_state_dict_mismatch_errors():
    a, b = nn.Parameter(minidl.zeros(2)), nn.Parameter(minidl.zeros(3))
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)


def test_load_state_dict_accepts_string_keys_and_numpy_state():
    w = nn.Parameter(minidl.ones(2))
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = minidl.ones(2)
    opt.step()
    sd = opt.state_dict()
    sd = {"state": {str(k): {n: v.numpy() for n, v in s.items()} for k, s in sd["state"].items()},
          "param_groups": sd["param_groups"]}
    w2 = nn.Parameter(minidl.ones(2))
    opt2 = optim.SGD([w2], lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    buf = opt2.state[w2]["momentum_buffer"]
    assert isinstance(buf, minidl.Tensor) and buf.dtype == minidl.float32
    np.testing.assert_array_equal(buf.numpy(), [1.0, 1.0])


def test_repr():
    opt = optim.SGD([nn.Parameter(minidl.zeros(1))], lr=0.1)
    r = repr(opt)
    assert r.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1" in r and r.endswith(")")


# ---- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad,
                                 optim.Adadelta])
def test_errors(cls):
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -0\.1$"):
        cls([nn.Parameter(minidl.zeros(2))], lr=-0.1)
    x = minidl.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="^can't optimize a non-leaf Tensor$"):
        cls([x * 2], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        cls(nn.Parameter(minidl.zeros(2)), lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        cls([1.0], lr=0.1)


def test_option_validation_messages():
    p = [nn.Parameter(minidl.zeros(2))]
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid momentum value: -1"):
        optim.SGD(p, lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid epsilon value: -1"):
        optim.Adam(p, eps=-1)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -0.1"):
        optim.AdamW(p, weight_decay=-0.1)
    with pytest.raises(ValueError, match="Invalid alpha value: -0.5"):
        optim.RMSprop(p, alpha=-0.5)
    with pytest.raises(ValueError, match="Invalid rho value: 1.5"):
        optim.Adadelta(p, rho=1.5)
    with pytest.raises(ValueError, match="Invalid lr_decay value: -1"):
        optim.Adagrad(p, lr_decay=-1)


def test_defaults_match_pytorch():
    p = [nn.Parameter(minidl.zeros(2))]
    assert optim.SGD(p).defaults["lr"] == 1e-3
    d = optim.Adam(p).defaults
    assert (d["lr"], d["betas"], d["eps"], d["weight_decay"], d["amsgrad"]) == \
        (1e-3, (0.9, 0.999), 1e-8, 0.0, False)
    assert optim.AdamW(p).defaults["weight_decay"] == 1e-2
    d = optim.RMSprop(p).defaults
    assert (d["lr"], d["alpha"], d["eps"], d["momentum"], d["centered"]) == \
        (1e-2, 0.99, 1e-8, 0.0, False)
    d = optim.Adagrad(p).defaults
    assert (d["lr"], d["lr_decay"], d["initial_accumulator_value"], d["eps"]) == \
        (1e-2, 0.0, 0.0, 1e-10)
    d = optim.Adadelta(p).defaults
    assert (d["lr"], d["rho"], d["eps"]) == (1.0, 0.9, 1e-6)
    assert math.isclose(optim.SGD(p, lr=0.1).param_groups[0]["lr"], 0.1)

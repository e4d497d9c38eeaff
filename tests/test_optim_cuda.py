"""The fused optimizer kernels: PTX compilation for sm_80/sm_90 (ptx tier) and CUDA-simulator
parity with the CPU primitives and optimizers at awkward sizes (cuda tier).

Run the cuda tests with NUMBA_ENABLE_CUDASIM=1 and the ptx tests without it, in separate
processes; numba.cuda is imported inside the tests only."""
import numpy as np
import pytest

import minidl
from minidl import nn, optim

SIZES = [1, 255, 257]

# (primitive, number of state arrays, kwargs) covering every flag of every kernel
CASES = [
    ("sgd_step", 1, dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                         maximize=False, first_step=False)),
    ("sgd_step", 1, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2, nesterov=False,
                         maximize=True, first_step=True)),
    ("sgd_step", 1, dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-2, nesterov=True,
                         maximize=False, first_step=False)),
    ("sgd_paper_step", 1, dict(lr=0.01, momentum=0.9, weight_decay=5e-4, maximize=False)),
    ("adam_step", 3, dict(step=3, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1,
                          amsgrad=False, maximize=False, decoupled_weight_decay=False)),
    ("adam_step", 3, dict(step=1, lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01,
                          amsgrad=True, maximize=True, decoupled_weight_decay=True)),
    ("rmsprop_step", 3, dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                             centered=False, maximize=False)),
    ("rmsprop_step", 3, dict(lr=1e-2, alpha=0.9, eps=1e-8, weight_decay=0.1, momentum=0.9,
                             centered=True, maximize=True)),
    ("adagrad_step", 1, dict(step=4, lr=0.1, lr_decay=0.01, weight_decay=0.1, eps=1e-10,
                             maximize=False)),
    ("adadelta_step", 2, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.1, maximize=True)),
]


def _arrays(n, n_state, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    # state: positive values (second moments must be >= first moment squared for centered)
    state = [(rng.random(n) + 1.0).astype(np.float32) for _ in range(n_state)]
    if n_state == 3:
        state[1] = (rng.random(n) * 0.5).astype(np.float32)  # grad_avg / exp_avg_sq slot
    return p, g, state


@pytest.mark.cuda
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_primitive_parity_with_cpu(case, n):
    from numba import cuda

    from minidl.backend.cpu import optim as cpu_optim
    from minidl.cuda.backend import optim as cuda_optim

    name, n_state, kw = CASES[case]
    p, g, state = _arrays(n, n_state, seed=case * 10 + n)
    if name == "adam_step":
        state = [state[0], state[1], state[2]]  # exp_avg, exp_avg_sq, max_exp_avg_sq
    d_p, d_g = cuda.to_device(p), cuda.to_device(g)
    d_state = [cuda.to_device(s) for s in state]
    getattr(cpu_optim, name)(p, g, *state, **kw)
    getattr(cuda_optim, name)(d_p, d_g, *d_state, **kw)
    np.testing.assert_allclose(d_p.copy_to_host(), p, rtol=2e-6, atol=1e-6)
    for d, h in zip(d_state, state):
        np.testing.assert_allclose(d.copy_to_host(), h, rtol=2e-6, atol=1e-6)


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4, paper_form=True),
    lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=1e-2),
    lambda ps: optim.RMSprop(ps, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps, lr_decay=0.1, initial_accumulator_value=0.1),
    lambda ps: optim.Adadelta(ps),
]


def _three_steps(make, device, dtype):
    minidl.manual_seed(7)
    params = [nn.Parameter(minidl.randn(*s, device=device, dtype=dtype))
              for s in [(1,), (15, 17), (257,)]]
    opt = make(params)
    for _ in range(3):
        for p in params:
            p.grad = minidl.randn(*p.shape, device=device, dtype=dtype)
        opt.step()
    return params, opt


@pytest.mark.cuda
@pytest.mark.parametrize("k", range(len(OPTIMIZERS)),
                         ids=["sgd", "sgd_paper", "adam", "adamw", "rmsprop", "adagrad",
                              "adadelta"])
def test_optimizer_on_cuda_matches_cpu(k):
    cpu, _ = _three_steps(OPTIMIZERS[k], "cpu", minidl.float32)
    gpu, opt = _three_steps(OPTIMIZERS[k], "cuda", minidl.float32)
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda"
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    for state in opt.state.values():  # state lives on the device with its parameter
        for v in state.values():
            if isinstance(v, minidl.Tensor):
                assert v.device.type == "cuda"


@pytest.mark.cuda
def test_float64_parameters_on_cuda():
    cpu, _ = _three_steps(OPTIMIZERS[2], "cpu", minidl.float64)
    gpu, _ = _three_steps(OPTIMIZERS[2], "cuda", minidl.float64)
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-12)


@pytest.mark.cuda
def test_cpu_state_dict_loads_onto_cuda_parameters():
    cpu, opt = _three_steps(OPTIMIZERS[2], "cpu", minidl.float32)
    sd = opt.state_dict()
    gpu_params = [nn.Parameter(p.detach().to("cuda")) for p in cpu]
    opt2 = OPTIMIZERS[2](gpu_params)
    opt2.load_state_dict(sd)
    for p in gpu_params:
        assert all(v.device.type == "cuda" for v in opt2.state[p].values()
                   if isinstance(v, minidl.Tensor))
    minidl.manual_seed(3)
    grads = [minidl.randn(*p.shape) for p in cpu]
    for p, q, g in zip(cpu, gpu_params, grads):
        p.grad, q.grad = g, g.to("cuda")
    opt.step()
    opt2.step()
    for p, q in zip(cpu, gpu_params):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.ptx
@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
def test_optim_kernels_compile_to_ptx(cc):
    from numba import cuda

    from minidl.cuda import ptx as mptx
    from minidl.cuda.kernels import optim as kernels

    assert set(kernels.PTX_SIGNATURES) == {f"optim.{n}[float32]" for n in
                                           ("sgd", "sgd_paper", "adam", "rmsprop", "adagrad",
                                            "adadelta")}
    have_ptxas = mptx.ptxas_path() is not None
    for name, (pyfunc, sig) in kernels.PTX_SIGNATURES.items():
        code, _ = cuda.compile_ptx(pyfunc, sig, cc=cc)
        assert f".target sm_{cc[0]}{cc[1]}" in code, name
        assert ".f64" not in code, f"{name}: float32 kernel computes in float64"
        if have_ptxas:
            rep = mptx.ptxas(code, cc)
            assert rep["spill_stores"] == 0 and rep["spill_loads"] == 0, (name, rep)
            assert rep["registers"] <= 64, (name, rep)

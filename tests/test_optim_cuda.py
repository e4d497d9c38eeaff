"""The fused optimizer kernels: PTX compilation for sm_80/sm_90 (ptx tier) and CUDA-simulator
parity with the CPU optimizers at awkward sizes, parameters and state, every kernel flag
(cuda tier).

Run the cuda tests with NUMBA_ENABLE_CUDASIM=1 and the ptx tests without it, in separate
processes; numba.cuda is imported inside the tests only."""
import numpy as np
import pytest

import minidl
from minidl import nn, optim

# every flag of every fused kernel, each way at least once; SGD's first step (buffer = gradient)
# and the later ones are both taken in three steps
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_momentum_dampening_maximize": lambda ps: optim.SGD(
        ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-2, maximize=True),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                         weight_decay=1e-3),
    "sgd_paper": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4,
                                      paper_form=True),
    "adam_amsgrad_l2": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.1, amsgrad=True),
    "adamw_maximize": lambda ps: optim.AdamW(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6,
                                             maximize=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-2),
    "rmsprop_centered_momentum": lambda ps: optim.RMSprop(
        ps, lr=1e-2, alpha=0.9, weight_decay=0.1, momentum=0.9, centered=True, maximize=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                        initial_accumulator_value=0.1),
    "adadelta": lambda ps: optim.Adadelta(ps),
    "adadelta_l2_maximize": lambda ps: optim.Adadelta(ps, weight_decay=0.1, maximize=True),
}


def _three_steps(make, device, dtype):
    """Parameters of 1, 255 and 257 elements (around the kernels' blocks), three steps."""
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
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_on_cuda_matches_cpu(name):
    """Parameters and every state tensor after three steps: the CUDA kernels against the CPU's."""
    cpu, opt_c = _three_steps(OPTIMIZERS[name], "cpu", minidl.float32)
    gpu, opt_g = _three_steps(OPTIMIZERS[name], "cuda", minidl.float32)
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda"
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        sc, sg = opt_c.state.get(a, {}), opt_g.state.get(b, {})
        assert sorted(sc) == sorted(sg)
        for k, v in sc.items():  # state lives on the device with its parameter
            if isinstance(v, minidl.Tensor):
                assert sg[k].device.type == "cuda", k
                np.testing.assert_allclose(sg[k].cpu().numpy(), v.numpy(), rtol=1e-5, atol=1e-6,
                                           err_msg=k)


@pytest.mark.cuda
def test_float64_parameters_on_cuda():
    cpu, _ = _three_steps(OPTIMIZERS["adam_amsgrad_l2"], "cpu", minidl.float64)
    gpu, _ = _three_steps(OPTIMIZERS["adam_amsgrad_l2"], "cuda", minidl.float64)
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-12)


@pytest.mark.cuda
def test_cpu_state_dict_loads_onto_cuda_parameters():
    cpu, opt = _three_steps(OPTIMIZERS["adam_amsgrad_l2"], "cpu", minidl.float32)
    sd = opt.state_dict()
    gpu_params = [nn.Parameter(p.detach().to("cuda")) for p in cpu]
    opt2 = OPTIMIZERS["adam_amsgrad_l2"](gpu_params)
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

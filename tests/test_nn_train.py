"""End to end: a small CNN (conv -> relu -> max-pool -> linear) learns a separable synthetic task
to 100% training accuracy on CPU, and takes the same first three SGD steps on CUDA (simulator)
as on CPU."""
import copy

import numpy as np
import pytest

import minidl
from minidl import nn, optim
from minidl.nn import functional as F

needs_conv = pytest.mark.skipif(not hasattr(F, "conv2d"), reason="functional missing")


def _bars(n, size=8, seed=0):
    """Class 0: a horizontal bar, class 1: a vertical bar, at random positions, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.3, (n, 1, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    pos = rng.integers(1, size - 1, n)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], 1:-1] += 1.5
        else:
            x[i, 0, 1:-1, pos[i]] += 1.5
    return minidl.tensor(x), minidl.tensor(y)


def _cnn(size=8):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * (size // 2) ** 2, 2))


@needs_conv
def test_small_cnn_learns_separable_task_to_100_percent():
    minidl.manual_seed(0)
    x, y = _bars(64)
    model = _cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for step in range(200):
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        opt.step()
        acc = float((out.argmax(1) == y).float().mean().item())
        if acc == 1.0 and float(loss.item()) < 0.1:
            break
    model.eval()
    with minidl.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean().item())
    assert acc == 1.0, f"training accuracy {acc} after {step + 1} steps"


@needs_conv
@pytest.mark.cuda
def test_cnn_first_three_steps_match_on_cuda():
    minidl.manual_seed(1)
    x, y = _bars(2, size=6)  # tiny: the simulator runs every CUDA thread in Python
    cpu_model = _cnn(size=6)
    gpu_model = copy.deepcopy(cpu_model).to("cuda")
    xs = {"cpu": x, "cuda": x.to("cuda")}
    ys = {"cpu": y, "cuda": y.to("cuda")}
    models = {"cpu": cpu_model, "cuda": gpu_model}
    opts = {d: optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
            for d, m in models.items()}
    losses = {"cpu": [], "cuda": []}
    for _ in range(3):
        for d in ("cpu", "cuda"):
            opts[d].zero_grad()
            loss = F.cross_entropy(models[d](xs[d]), ys[d])
            loss.backward()
            opts[d].step()
            losses[d].append(float(loss.item()))
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-5)
    for (name, p), q in zip(cpu_model.named_parameters(), gpu_model.parameters()):
        assert q.device.type == "cuda"
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)

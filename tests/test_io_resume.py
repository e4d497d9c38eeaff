"""The resume contract: training 2N steps straight gives bitwise the same parameters as N steps,
save, a new process, load, N more steps (model, optimizer, scheduler, every RNG, epoch and the
DataLoader's position mid-epoch all restored), with 0 and 2 loader workers."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("minidl.optim")

SCRIPT = textwrap.dedent("""
    import random, sys
    import numpy as np
    import minidl
    import minidl.nn as nn
    import minidl.nn.functional as F
    from minidl.data import DataLoader
    from minidl.data import transforms as T
    from minidl.data.datasets import Digits

    mode, ckpt, out, workers, n_steps, device = sys.argv[1:7]
    workers, n_steps = int(workers), int(n_steps)
    minidl.manual_seed(123 if mode == "resume" else 0)  # the checkpoint must override these
    random.seed(123 if mode == "resume" else 0)

    if device == "cpu":
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2),
                              nn.Linear(32, 10))
    else:  # one matmul layer: the simulator runs each GPU thread of the tiled GEMM in Python
        model = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10)).to(device)
    opt = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = minidl.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.7)
    noise = np.random.default_rng(1)  # a user-side numpy Generator
    data = Digits(train=True, transform=T.Compose([T.RandomCrop(8, padding=1), T.ToTensor()]))
    loader = DataLoader(data, batch_size=32, shuffle=True, num_workers=workers)
    epoch, step = 0, 0

    if mode == "resume":
        ck = minidl.load(ckpt, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        loader.load_state_dict(ck["loader"])
        minidl.set_rng_state(ck["rng"]["minidl"])
        noise.bit_generator.state = ck["rng"]["numpy"]
        random.setstate(ck["rng"]["python"])
        epoch, step = ck["epoch"], ck["step"]

    stop = n_steps if mode == "first" else 2 * n_steps
    while step < stop:
        for x, y in loader:
            x = x * 16.0 + float(noise.normal(0, 0.01)) + random.random() * 0.01
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == stop:
                break
        else:
            epoch += 1
            sched.step()
            continue
        break

    if mode == "first":
        minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "loader": loader.state_dict(),
                     "epoch": epoch, "step": step,
                     "rng": {"minidl": minidl.get_rng_state(), "numpy": noise.bit_generator.state,
                             "python": random.getstate()}}, ckpt)
    else:
        np.savez(out, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})
""")


def _run(tmp_path, *args):
    proc = subprocess.run([sys.executable, str(tmp_path / "train.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _straight_vs_resumed(tmp_path, workers, n, device):
    (tmp_path / "train.py").write_text(SCRIPT)
    ck, straight, resumed = tmp_path / "ck.h5", tmp_path / "straight.npz", tmp_path / "res.npz"
    _run(tmp_path, "straight", ck, straight, workers, n, device)
    _run(tmp_path, "first", ck, "-", workers, n, device)
    _run(tmp_path, "resume", ck, resumed, workers, n, device)
    a, b = np.load(straight), np.load(resumed)
    assert sorted(a.files) == sorted(b.files) and len(a.files) == (4 if device == "cpu" else 2)
    return a, b


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_bitwise_identical(tmp_path, workers):
    # 45 batches per epoch: the checkpoint falls mid-epoch 1, after a scheduler step
    a, b = _straight_vs_resumed(tmp_path, workers, 60, "cpu")
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k


@pytest.mark.cuda
def test_resume_on_cuda_matches_straight_run(tmp_path, cuda_device):
    # the checkpoint holds CUDA tensors, the CUDA optimizer's momentum and the device RNG's
    # (seed, offset), so the dropout masks after the resume continue where they stopped
    a, b = _straight_vs_resumed(tmp_path, 0, 2, cuda_device)
    for k in a.files:
        np.testing.assert_allclose(a[k], b[k], rtol=2e-7, atol=1e-7, err_msg=k)

"""minidl.train and the `minidl` CLI: LeNet-5 learns MNIST (small), checkpoints resume exactly,
the CLI writes metrics JSON/CSV, a plot and a checkpoint, data formats are detected."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minidl
from minidl.cli import main
from minidl.data.recipes import conform as _conform, detect_data
from minidl.models.recipes import load_data, make_optimizer
from minidl.data import DataLoader, Subset
from minidl.models import lenet5
from minidl.train import evaluate, fit, train_epoch

ROOT = Path(__file__).resolve().parent.parent


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def test_lenet5_learns_mnist_small(shared_data):
    """One epoch (79 SGD steps of 64) over 5,000 MNIST images: test accuracy far above chance
    (86.3% measured with this seed; every op is deterministic)."""
    root = _need(shared_data / "mnist-small")
    minidl.manual_seed(0)
    train, test, k, _ = load_data("lenet5", root, log=lambda s: None)
    model = lenet5("modern")
    opt = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(train, batch_size=64, shuffle=True)
    t0 = time.perf_counter()
    tr = train_epoch(model, loader, opt, progress=False)
    ev = evaluate(model, DataLoader(test, batch_size=500), progress=False)
    print(f"LeNet-5 modern, {tr['steps']} steps: train acc {tr['accuracy']:.3f}, test acc "
          f"{ev['accuracy']:.3f}, {time.perf_counter() - t0:.1f} s, "
          f"{tr['images_per_s']:.0f} img/s")
    assert tr["steps"] == 79 and ev["samples"] == 1000
    assert ev["accuracy"] > 0.8


def _tiny_run(tmp_path, epochs, resume=None, out="run"):
    minidl.manual_seed(0)
    train, test, _, _ = load_data("lenet5", None, subset=96, log=lambda s: None)
    model = lenet5("paper")
    opt, sched = make_optimizer("lenet5", model)
    hist = fit(model, DataLoader(train, batch_size=32, shuffle=True), opt,
               val_loader=DataLoader(test, batch_size=64), epochs=epochs, scheduler=sched,
               out_dir=tmp_path / out, resume=resume, progress=False, log=lambda s: None)
    return model, opt, hist


def test_fit_resume_continues_exactly(tmp_path):
    straight, opt_a, hist_a = _tiny_run(tmp_path, 3, out="a")
    _tiny_run(tmp_path, 1, out="b")
    ckpt = tmp_path / "b" / "checkpoint.h5"
    assert ckpt.is_file()
    resumed, opt_b, hist_b = _tiny_run(tmp_path, 3, resume=ckpt, out="b")
    assert [r["epoch"] for r in hist_b] == [1, 2, 3]
    for (name, p), q in zip(straight.named_parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
    for ra, rb in zip(hist_a, hist_b):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_accuracy"] == rb["val_accuracy"]
    rows = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert len(rows) == 3


def test_cli_train_smoke_and_resume(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["train", "lenet5", "--epochs", "1", "--subset", "64", "--batch-size", "32",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    for name in ("metrics.json", "metrics.csv", "metrics.png", "checkpoint.h5"):
        assert (out / name).is_file(), name
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((out / "metrics.json").read_text())
    assert len(rows) == 1 and {"train_loss", "val_accuracy", "train_images_per_s"} <= set(rows[0])
    text = capsys.readouterr().out
    assert "built-in UCI digits" in text and "final: test accuracy" in text
    rc = main(["train", "lenet5", "--epochs", "2", "--subset", "64", "--batch-size", "32",
               "--out", str(out), "--resume", str(out / "checkpoint.h5"), "--no-progress"])
    assert rc == 0
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (out / "metrics.csv").read_text().count("\n") == 3


def test_cli_dry_run(capsys):
    assert main(["train", "lenet5", "--variant", "modern", "--dry-run", "2",
                 "--batch-size", "8"]) == 0
    assert "seconds/step" in capsys.readouterr().out


def test_cli_info_without_ptx_in_subprocess():
    # `minidl info` imports numba.cuda: keep it out of this (CPU-tier) process
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    res = subprocess.run([sys.executable, "-m", "minidl.cli", "info", "--no-ptx"], env=env,
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "numpy" in res.stdout and "cuda:" in res.stdout


def test_detect_data(shared_data, tmp_path):
    assert detect_data(_need(shared_data / "mnist-small")) == "mnist"
    assert detect_data(_need(shared_data / "cifar10-subset")) == "cifar10"
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    assert detect_data(tmp_path) == "imagefolder"
    with pytest.raises(ValueError):
        detect_data(tmp_path / "cats")


def test_conform_shapes():
    x = np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32)
    y = _conform(x, 1, 32, 32)
    assert y.shape == (2, 1, 32, 32) and np.array_equal(y[:, :, 2:30, 2:30], x)
    assert _conform(x, 3, 32, 32).shape == (2, 3, 32, 32)
    d = np.ones((1, 1, 8, 8), np.float32)
    np.testing.assert_allclose(_conform(d, 1, 32, 32), 1.0, rtol=1e-6)
    rgb = np.random.default_rng(1).random((1, 3, 32, 32)).astype(np.float32)
    assert _conform(rgb, 1, 32, 32).shape == (1, 1, 32, 32)


def test_load_data_cifar_and_alexnet_pipeline(shared_data):
    root = _need(shared_data / "cifar10-subset")
    train, test, k, desc = load_data("cifar_convnet", root, subset=50, log=lambda s: None)
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and k == 10 and len(test) == 50
    train, test, k, desc = load_data("alexnet", None, subset=4, log=lambda s: None)
    x, y = train[0]
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert test[0][0].shape == (3, 224, 224)
    batch = next(iter(DataLoader(Subset(train, [0, 1]), batch_size=2)))
    assert tuple(batch[0].shape) == (2, 3, 224, 224)


def test_degrades_without_tqdm_and_matplotlib(tmp_path, monkeypatch, capsys):
    import minidl.train as T

    for mod in ("tqdm", "tqdm.auto", "matplotlib", "matplotlib.figure",
                "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)  # makes `import mod` raise ImportError
    monkeypatch.setattr(T, "_notes_shown", set())
    monkeypatch.setattr(T, "_interactive", lambda: True)
    bar = T.progress_bar(range(3), enabled=True)
    assert list(bar) == [0, 1, 2]
    assert T.plot_metrics(tmp_path, [{"epoch": 1, "train_loss": 1.0}]) is None
    err = capsys.readouterr().err
    assert err.count("note: tqdm is not installed") == 1
    assert err.count("note: matplotlib is not installed") == 1


def test_progress_is_one_line_per_epoch_when_not_a_terminal(monkeypatch, capsys):
    import minidl.train as T

    pytest.importorskip("tqdm")
    monkeypatch.setattr(T, "_interactive", lambda: False)
    assert isinstance(T.progress_bar(range(3), enabled=True), T._NoBar)
    monkeypatch.setattr(T, "_interactive", lambda: True)
    assert not isinstance(T.progress_bar(range(3), enabled=True, disable=True), T._NoBar)
    monkeypatch.setattr(T, "_interactive", lambda: False)
    minidl.manual_seed(0)
    train, test, _, _ = load_data("lenet5", None, subset=64, log=lambda s: None)
    model = lenet5("modern")
    fit(model, DataLoader(train, batch_size=32), minidl.optim.SGD(model.parameters(), lr=0.01),
        val_loader=DataLoader(test, batch_size=64), epochs=2)
    cap = capsys.readouterr()
    lines = [ln for ln in cap.out.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 2 and "\r" not in cap.out + cap.err


def test_load_data_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
                    tmp_path / split / cls / f"{i}.png")
    assert detect_data(tmp_path) == "imagefolder"
    train, test, k, desc = load_data("lenet5", tmp_path, log=lambda s: None)
    assert (len(train), len(test), k) == (8, 4, 2)
    assert train[0][0].shape == (1, 32, 32)

"""`minidl train` usage errors (one line `minidl train: error: ...`, exit 2, no traceback) and
Ctrl-C (one line naming the last checkpoint, exit 130)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import minidl
from minidl.cli import main
from minidl.models import get_model
from minidl.train import save_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def _usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as info:
        main(["train", "lenet5", "--no-progress"] + argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minidl train: error: "), captured.err
    assert "Traceback" not in captured.out + captured.err
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--epochs", "-2"], "argument --epochs: must be a positive integer, got -2"),
    (["--epochs", "two"], "argument --epochs: expected a positive integer, got 'two'"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
    (["--batch-size", "-8"], "argument --batch-size: must be a positive integer, got -8"),
    (["--lr", "-0.1"], "argument --lr: must be a finite number >= 0, got -0.1"),
    (["--lr", "nan"], "argument --lr: must be a finite number >= 0, got nan"),
    (["--workers", "-1"], "argument --workers: must be an integer >= 0, got -1"),
    (["--subset", "0"], "argument --subset: must be a positive integer, got 0"),
    (["--dry-run", "-1"], "argument --dry-run: must be an integer >= 0, got -1"),
    (["--data", "/no/such/folder"], "argument --data: no such file or directory: "
                                    "/no/such/folder"),
    (["--resume", "/no/such/ck.h5"], "argument --resume: no such checkpoint file"),
])
def test_bad_arguments_are_one_line_usage_errors(capsys, argv, message):
    assert message in _usage_error(capsys, argv)


def test_epochs_0_with_resume_leaves_the_checkpoint_alone(tmp_path, capsys):
    ck = tmp_path / "ck.h5"
    save_checkpoint(ck, get_model("lenet5", variant="paper"), epoch=1)
    before = ck.read_bytes()
    _usage_error(capsys, ["--epochs", "0", "--resume", str(ck), "--checkpoint", str(ck)])
    assert ck.read_bytes() == before


def test_resume_of_a_non_checkpoint_or_another_models_checkpoint(tmp_path, capsys):
    small = ["--subset", "16", "--batch-size", "8", "--out", str(tmp_path / "out")]
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    msg = _usage_error(capsys, small + ["--resume", str(text)])
    assert "notes.txt: not a minidl checkpoint" in msg
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["w"] = np.zeros(3)
    assert "not a minidl checkpoint" in _usage_error(capsys, small + ["--resume", str(plain)])
    other = tmp_path / "other.h5"
    minidl.save({"weights": [1, 2]}, other)
    assert "not a training checkpoint" in _usage_error(capsys, small + ["--resume", str(other)])
    for model, kwargs in (("cifar_convnet", {}), ("lenet5", {"variant": "modern"})):
        ck = tmp_path / f"{model}.h5"
        save_checkpoint(ck, get_model(model, **kwargs), epoch=1)
        msg = _usage_error(capsys, small + ["--resume", str(ck)])
        assert "is a checkpoint of another model: lenet5-paper has" in msg
    assert not (tmp_path / "out" / "checkpoint.h5").exists()


def _env():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_device_cuda_without_a_gpu():
    # in a subprocess: asking for CUDA imports numba.cuda, which the CPU tier avoids
    res = subprocess.run([sys.executable, "-m", "minidl.cli", "train", "lenet5", "--device",
                          "cuda", "--dry-run", "1", "--batch-size", "2"], env=_env(),
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    if res.returncode == 0:
        pytest.skip("a CUDA GPU is available")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        "minidl train: error: argument --device cuda: no CUDA GPU found (set "
        "NUMBA_ENABLE_CUDASIM=1 to use the simulator)"]


def _train(tmp_path, subset: int, batch: int):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "minidl.cli", "train", "lenet5", "--subset", str(subset),
         "--batch-size", str(batch), "--epochs", "1000", "--no-progress", "--out", str(out)],
        env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out / "checkpoint.h5"


def _interrupt(proc) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_ctrl_c_names_the_last_checkpoint(tmp_path):
    proc, ck = _train(tmp_path, subset=32, batch=16)
    try:
        deadline = time.monotonic() + 240
        while not ck.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        rc, out, err = _interrupt(proc)
    finally:
        proc.kill()
    assert rc == 130, err
    assert "Traceback" not in out + err, err
    last = err.strip().splitlines()[-1]
    epoch = minidl.load(ck)["epoch"]
    assert epoch >= 1 and last == f"interrupted; last checkpoint: {ck} (epoch {epoch})", err


def test_ctrl_c_before_the_first_checkpoint(tmp_path):
    ck_dir = tmp_path / "out"
    ck_dir.mkdir()
    minidl.save({"stale": 1}, ck_dir / "checkpoint.h5")  # an earlier run's file: not this one's
    proc, ck = _train(tmp_path, subset=1024, batch=4)  # 256 steps before the first checkpoint
    try:
        for line in proc.stdout:
            if "parameters, batch" in line:  # printed just before training starts
                break
        rc, out, err = _interrupt(proc)
    finally:
        proc.kill()
    assert rc == 130, err
    assert "Traceback" not in out + err, err
    assert err.strip().splitlines()[-1] == "interrupted; no checkpoint written yet", err
    assert minidl.load(ck) == {"stale": 1}

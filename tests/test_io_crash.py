"""Crash safety of minidl.save: a process SIGKILLed at any moment of saving a large checkpoint
leaves the previous checkpoint loadable and intact, and the next save removes its temp file."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minidl

CHILD = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    import minidl, minidl.io as mio

    path, phase, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = 0

    def hook(p):
        global seen
        if p == phase:
            seen += 1
            if seen == count:
                os.kill(os.getpid(), signal.SIGKILL)

    if phase != "timed":
        mio._phase_hook = hook
    big = {"version": 2,
           "layers": [minidl.from_numpy(np.full((512, 1024), float(i), np.float32))
                      for i in range(16)],
           "epoch": 99}
    print("START", flush=True)
    minidl.save(big, path)
    print("DONE", flush=True)
""")


def _old():
    return {"version": 1, "layers": [minidl.full((4,), 7.0)], "epoch": 1}


def _check_intact(path, allow_new: bool):
    out = minidl.load(path)
    if out["version"] == 1:
        assert out["epoch"] == 1 and out["layers"][0].tolist() == [7.0] * 4
    else:  # the new checkpoint, only acceptable once os.replace happened
        assert allow_new and out["epoch"] == 99 and len(out["layers"]) == 16
        for i, t in enumerate(out["layers"]):
            a = t.numpy()
            assert a.shape == (512, 1024) and (a == i).all()


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# (phase, nth occurrence): mid-write after 1 and 9 of 16 arrays, after the HDF5 file is
# closed, after fsync, and after os.replace (the new file is then the complete new checkpoint)
CASES = [("dataset", 1), ("dataset", 9), ("written", 1), ("synced", 1), ("replaced", 1)]


@pytest.mark.parametrize("phase,count", CASES)
def test_sigkill_during_save_keeps_previous_checkpoint(tmp_path, phase, count):
    path = tmp_path / "ckpt.h5"
    minidl.save(_old(), path)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), str(path), phase, str(count)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "DONE" not in proc.stdout
    left = _temps(tmp_path)
    if phase == "replaced":
        assert left == []
        _check_intact(path, allow_new=True)
        assert minidl.load(path)["version"] == 2
    else:
        assert len(left) == 1 and left[0].startswith("ckpt.h5.tmp-")  # the killed writer's
        _check_intact(path, allow_new=False)
    minidl.save({"version": 3}, path)  # the next successful save cleans up
    assert _temps(tmp_path) == []
    assert minidl.load(path) == {"version": 3}


def test_sigkill_at_random_moments(tmp_path):
    """Kills from outside at increasing delays after the save started."""
    path = tmp_path / "ckpt.h5"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2):
        minidl.save(_old(), path)
        child = subprocess.Popen([sys.executable, str(script), str(path), "timed", "0"],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "START"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()
        _check_intact(path, allow_new=True)
        minidl.save(_old(), path)
        assert _temps(tmp_path) == []


def test_temp_files_of_live_processes_are_kept(tmp_path):
    path = tmp_path / "ckpt.h5"
    # a temp file named after a live process (ourselves' parent) is another writer's: keep it
    live = tmp_path / f"ckpt.h5.tmp-{os.getppid()}-abcd"
    live.write_bytes(b"partial")
    other = tmp_path / "other.h5.tmp-1-abcd"  # another target: not ours to clean
    other.write_bytes(b"partial")
    minidl.save({"a": np.zeros(2)}, path)
    assert live.exists() and other.exists()

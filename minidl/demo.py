"""`python -m minidl.demo`: the README's main job.

Trains a 2-layer MLP with minidl's autograd on a small synthetic classification task, on the CPU
and then on "cuda" (a real GPU if there is one, else numba's CUDA simulator in a subprocess,
since the simulator must be chosen before numba.cuda is first imported).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

import minidl


def train(device: str, steps: int, n: int = 256, hidden: int = 32) -> tuple[float, float, float]:
    """Full-batch gradient descent; returns (first loss, last loss, accuracy)."""
    minidl.manual_seed(0)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((n, 2)).astype(np.float32)
    y_np = (x_np[:, 0] * x_np[:, 1] > 0).astype(np.int64)  # XOR of signs: needs the hidden layer
    x = minidl.tensor(x_np, device=device)
    onehot = minidl.tensor(np.eye(2, dtype=np.float32)[y_np], device=device)
    w1 = (minidl.randn(2, hidden, device=device) * 0.7).requires_grad_()
    b1 = minidl.zeros(hidden, device=device, requires_grad=True)
    w2 = (minidl.randn(hidden, 2, device=device) * 0.2).requires_grad_()
    b2 = minidl.zeros(2, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    first = last = 0.0
    for step in range(steps):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        loss = -(logits.log_softmax(1) * onehot).sum(1).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with minidl.no_grad():
            for p in params:
                p -= 0.5 * p.grad
        last = loss.item()
        first = last if step == 0 else first
    pred = ((x @ w1 + b1).relu() @ w2 + b2).argmax(1).cpu().numpy()
    return first, last, float((pred == y_np).mean())


def report(device: str, steps: int) -> None:
    t0 = time.perf_counter()
    first, last, acc = train(device, steps)
    kind = device
    if device == "cuda":
        kind = "cuda (simulator)" if minidl.cuda.is_simulator() else "cuda"
    print(f"{kind:>17}: loss {first:.3f} -> {last:.3f} in {steps} steps, training accuracy "
          f"{acc:.1%} ({time.perf_counter() - t0:.1f} s)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--cuda-only":
        report("cuda", int(sys.argv[2]))
        return
    print("minidl demo: a 2-layer MLP learns XOR-of-signs with reverse-mode autodiff")
    report("cpu", 300)
    env = dict(os.environ)
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        try:
            import numba.cuda as nbcuda  # noqa: F401  (real GPU check happens in the child too)
            has_gpu = nbcuda.is_available()
        except Exception:
            has_gpu = False
        if not has_gpu:
            env["NUMBA_ENABLE_CUDASIM"] = "1"
    steps = 300 if env.get("NUMBA_ENABLE_CUDASIM") != "1" else 40
    subprocess.run([sys.executable, "-m", "minidl.demo", "--cuda-only", str(steps)], env=env,
                   check=True)


if __name__ == "__main__":
    main()

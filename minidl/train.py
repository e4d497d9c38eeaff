"""The shared training loop: `train_epoch`, `evaluate`, `fit`, checkpoints and metric logs.

`fit` runs epochs of `train_epoch` + `evaluate`, steps the lr scheduler (ReduceLROnPlateau gets
the validation accuracy or loss, as its mode says), and after every epoch
  - saves a checkpoint with `minidl.save` (atomic): model, optimizer, scheduler, minidl's RNG state
    (which drives shuffling, augmentation and dropout), the epoch and the metric history, so
    `fit(..., resume=path)` continues exactly as if the run had never stopped;
  - writes `metrics.json` and `metrics.csv` (one row per epoch) and `metrics.png` (train/val loss
    and accuracy) in `out_dir`.
Progress bars use tqdm and plots matplotlib (the `examples` extra); without them the loop still
runs and says so in one line.

Metrics: loss (mean over samples), accuracy (top-1), images/s (samples over wall time, data
loading included).  What does not live here: models (minidl.models), the CLI (minidl.cli).

Under minidl.distributed (mpiexec ... with a process group): every rank runs the loop on its
shard (DistributedSampler, whose set_epoch `fit` calls), loss/accuracy sums are reduced over the
ranks, rank 0 alone shows progress, logs, writes the checkpoint and the metrics, and every rank
resumes from the same checkpoint.  A DistributedDataParallel model is saved and loaded without
its "module." prefix, so a checkpoint written by N ranks loads into a plain model and vice versa.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .autograd import no_grad
from .random import get_rng_state, set_rng_state

__all__ = ["train_epoch", "evaluate", "fit", "save_checkpoint", "load_checkpoint",
           "write_metrics", "plot_metrics", "progress_bar"]

_notes_shown: set[str] = set()


def _note(msg: str) -> None:
    """Print a one-line note once per process (to stderr, out of the way of results)."""
    if msg not in _notes_shown:
        _notes_shown.add(msg)
        print(f"note: {msg}", file=sys.stderr)


class _NoBar:
    """Stand-in for tqdm when it is missing or disabled."""

    def __init__(self, iterable=None, **_):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass

    @staticmethod
    def write(s, file=None):
        print(s, file=file)


def _interactive() -> bool:
    """Both stdout and stderr (where tqdm draws) are terminals: CI logs and `| tee` get no bars."""
    return all(getattr(f, "isatty", lambda: False)() for f in (sys.stdout, sys.stderr))


def progress_bar(iterable=None, enabled: bool = True, **kwargs):
    """tqdm(iterable, **kwargs) when tqdm is installed, `enabled` and the output is a terminal,
    else a silent stand-in (so a log gets fit's one line per epoch, not redrawn bars)."""
    if enabled and _interactive():
        try:
            from tqdm.auto import tqdm
        except ImportError:
            _note("tqdm is not installed, so no progress bars (pip install 'minidl[examples]')")
        else:
            return tqdm(iterable, dynamic_ncols=True, **kwargs)
    return _NoBar(iterable)


def _default_loss():
    from .nn import functional as F
    return F.cross_entropy


def _to(t, device):
    # non_blocking: a pinned batch (DataLoader(pin_memory=True)) uploads on the copy stream
    return t if device is None or str(t.device) == str(device) else t.to(device, non_blocking=True)


def _on_device(loader: Iterable, device, max_steps: int | None = None):
    """The first `max_steps` (x, y) batches of `loader` (all: None), moved to `device`.

    On a CUDA device batch k+1 is uploaded before batch k is handed out, i.e. before step k's
    kernels are queued: from pinned memory (DataLoader(pin_memory=True)) its copy runs on the
    copy stream while step k computes, and the compute stream waits for the copy only when batch
    k+1 is handed out (minidl.cuda.pinned.deferred_uploads).  Batches are fetched and augmented
    under their own per-batch RNG (DataLoader), so reading one ahead changes no result."""
    batches = iter(loader) if max_steps is None else itertools.islice(loader, max(0, max_steps))
    if device is None or not str(device).startswith("cuda"):
        for x, y in batches:
            yield _to(x, device), _to(y, device)
        return
    from .cuda.pinned import deferred_uploads

    def upload(batch):
        if batch is None:
            return None
        x, y = batch
        with deferred_uploads() as uploads:
            return (_to(x, device), _to(y, device)), uploads

    ahead = upload(next(batches, None))
    while ahead is not None:
        batch, uploads = ahead
        ahead = upload(next(batches, None))  # batch k+1's copy, queued before step k
        uploads.wait()
        yield batch


def _accumulate(acc, loss, logits, target, n: int):
    """(loss * n, correct) summed on the logits' device: no host read inside a step."""
    with no_grad():
        batch = (loss.detach() * n, (logits.detach().argmax(1) == target).sum())
    return batch if acc is None else (acc[0] + batch[0], acc[1] + batch[1])


def _read(acc) -> tuple[float, int]:
    """The accumulated (loss sum, correct count) on the host: a synchronisation point."""
    return (0.0, 0) if acc is None else (float(acc[0].item()), int(acc[1].item()))


def _check_finite(sums: tuple[float, int], steps: int) -> tuple[float, int]:
    if not math.isfinite(sums[0]):
        raise FloatingPointError(f"train_epoch: loss became {sums[0]} by step {steps} "
                                 "(lower the learning rate?)")
    return sums


def _dist() -> tuple[int, int]:
    """(rank, world size) of minidl.distributed's process group; (0, 1) without one."""
    from . import distributed as dist
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def _sum_over_ranks(*values: float) -> tuple:
    """The sums over all ranks of `values` (the values themselves in a single process)."""
    if _dist()[1] == 1:
        return values
    from . import distributed as dist
    from .creation import tensor
    t = tensor(np.array(values, np.float64))
    dist.all_reduce(t)
    return tuple(t.tolist())


def _unwrap(model):
    """The wrapped module of a DistributedDataParallel (checkpoints hold no "module." prefix)."""
    from .distributed import DistributedDataParallel
    return model.module if isinstance(model, DistributedDataParallel) else model



def train_epoch(model, loader: Iterable, optimizer, loss_fn: Callable | None = None,
                device=None, *, max_steps: int | None = None, progress: bool = True,
                desc: str = "train", sync_every: int = 10) -> dict:
    """One pass over `loader` (or its first `max_steps` batches) in training mode.

    Each batch (x [N, ...], y [N] int64) is moved to `device` (a CUDA device: uploaded one batch
    ahead, so a pinned loader's copy overlaps the step before), and loss_fn(model(x), y) (default
    cross_entropy, mean over the batch) is minimised by one optimizer step.  Loss and accuracy
    are summed on the device and read (a host sync) every `sync_every` steps and at the end.
    Returns {"loss", "accuracy", "images_per_s", "seconds", "steps", "samples"}."""
    loss_fn = loss_fn or _default_loss()
    model.train()
    progress = progress and _dist()[0] == 0
    total = len(loader) if hasattr(loader, "__len__") else None
    if max_steps is not None:
        total = max_steps if total is None else min(total, max_steps)
    bar = progress_bar(total=total, enabled=progress, desc=desc, leave=False, unit="batch")
    loss_sum = 0.0
    correct = samples = steps = 0
    acc = None
    t0 = time.perf_counter()
    try:
        for x, y in _on_device(loader, device, max_steps):
            logits = model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = int(y.shape[0])
            acc = _accumulate(acc, loss, logits, y, n)
            samples += n
            steps += 1
            bar.update(1)
            if steps % max(1, sync_every) == 0:
                loss_sum, correct = _check_finite(_read(acc), steps)
                bar.set_postfix(loss=f"{loss_sum / samples:.4f}", acc=f"{correct / samples:.3f}")
        loss_sum, correct = _check_finite(_read(acc), steps)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    loss_sum, correct, samples = _sum_over_ranks(loss_sum, correct, samples)
    samples = int(samples)
    return {"loss": loss_sum / max(samples, 1), "accuracy": correct / max(samples, 1),
            "images_per_s": samples / seconds if seconds > 0 else 0.0, "seconds": seconds,
            "steps": steps, "samples": samples}


def evaluate(model, loader: Iterable, loss_fn: Callable | None = None, device=None, *,
             progress: bool = True, desc: str = "eval") -> dict:
    """Loss and accuracy over `loader` in eval mode without building a graph (under a process
    group: over the union of the ranks' loaders, each rank passing its own shard).
    Returns {"loss", "accuracy", "images_per_s", "seconds", "samples"}."""
    loss_fn = loss_fn or _default_loss()
    model.eval()
    progress = progress and _dist()[0] == 0
    total = len(loader) if hasattr(loader, "__len__") else None
    bar = progress_bar(total=total, enabled=progress, desc=desc, leave=False, unit="batch")
    loss_sum = 0.0
    correct = samples = 0
    acc = None
    t0 = time.perf_counter()
    try:
        with no_grad():
            for x, y in _on_device(loader, device):
                logits = model(x)
                n = int(y.shape[0])
                acc = _accumulate(acc, loss_fn(logits, y), logits, y, n)
                samples += n
                bar.update(1)
        loss_sum, correct = _read(acc)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    loss_sum, correct, samples = _sum_over_ranks(loss_sum, correct, samples)
    samples = int(samples)
    return {"loss": loss_sum / max(samples, 1), "accuracy": correct / max(samples, 1),
            "images_per_s": samples / seconds if seconds > 0 else 0.0, "seconds": seconds,
            "samples": samples}


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch: int = 0,
                    history: list | None = None, extra: dict | None = None) -> None:
    """Atomically write {"epoch", "model", "optimizer", "scheduler", "rng", "history", "extra"}
    to `path` (HDF5 via minidl.save).  `epoch` = number of completed epochs."""
    from .io import save

    model = _unwrap(model)
    state = {
        "format": "minidl.train/1",
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": get_rng_state(),
        "history": list(history or []),
        "extra": dict(extra or {}),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save(state, path)


def load_checkpoint(path, model, optimizer=None, scheduler=None, map_location=None,
                    restore_rng: bool = True) -> dict:
    """Restore what `save_checkpoint` wrote into model / optimizer / scheduler (and minidl's RNG
    state); returns the whole checkpoint dict (its "epoch" and "history" say where to go on)."""
    from .io import load

    state = load(path, map_location=map_location)
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng and state.get("rng") is not None:
        set_rng_state(state["rng"])
    return state


# ---------------------------------------------------------------- metric logs


def _plain(v):
    """JSON-able copy of a metric value (numpy scalars -> Python)."""
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def write_metrics(out_dir, history: list[dict]) -> tuple[Path, Path]:
    """Write `metrics.json` (a list of per-epoch dicts) and `metrics.csv`; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_plain(dict(r)) for r in history]
    jpath, cpath = out / "metrics.json", out / "metrics.csv"
    tmp = jpath.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, indent=1) + "\n")
    tmp.replace(jpath)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    tmp = cpath.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    tmp.replace(cpath)
    return jpath, cpath


def plot_metrics(out_dir, history: list[dict], title: str = "") -> Path | None:
    """`metrics.png`: train/val loss (left) and accuracy (right) per epoch; None (with a one-line
    note) when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        _note("matplotlib is not installed, so no plots (pip install 'minidl[examples]')")
        return None
    if not history:
        return None
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    for i, (key, label) in enumerate((("loss", "loss"), ("accuracy", "accuracy"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for split, style in (("train", "-o"), ("val", "-s")):
            vals = [r.get(f"{split}_{key}") for r in history]
            if any(v is not None for v in vals):
                ax.plot(epochs, [np.nan if v is None else v for v in vals], style,
                        label=split, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(out_dir) / "metrics.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# ---------------------------------------------------------------- fit


def _is_plateau(scheduler) -> bool:
    from .optim.lr_scheduler import ReduceLROnPlateau
    return isinstance(scheduler, ReduceLROnPlateau)


def fit(model, train_loader, optimizer, *, val_loader=None, epochs: int = 1, scheduler=None,
        loss_fn: Callable | None = None, device=None, out_dir=None, checkpoint=None,
        resume=None, progress: bool = True, log: Callable[[str], None] | None = None,
        max_steps_per_epoch: int | None = None, title: str = "") -> list[dict]:
    """Train for `epochs` epochs (counting those already done when resuming).

    After each epoch: evaluate on `val_loader` (if any), step `scheduler` (ReduceLROnPlateau with
    the validation accuracy in mode "max" or loss in mode "min", the training ones without a
    val_loader; other schedulers with no argument), save `checkpoint` (default
    `out_dir/checkpoint.h5` when out_dir is given), write metrics JSON/CSV/PNG to `out_dir`.
    `resume`: a checkpoint path to continue from (same model/optimizer/scheduler layout).
    Returns the history: one dict per epoch with epoch, lr, train_loss, train_accuracy,
    train_images_per_s, [val_loss, val_accuracy, val_images_per_s], epoch_seconds."""
    if checkpoint is None and out_dir is not None:
        checkpoint = Path(out_dir) / "checkpoint.h5"
    rank, world = _dist()
    if rank != 0:  # the other ranks train and evaluate; rank 0 reports and writes files
        progress, out_dir, checkpoint, log = False, None, None, _silent
    history: list[dict] = []
    start = 0
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer, scheduler,
                                map_location=str(device) if device is not None else None)
        start = int(state["epoch"])
        history = [dict(r) for r in state.get("history") or []]
        _emit(log, f"resumed from {resume} after epoch {start}")
    set_epoch = getattr(getattr(train_loader, "sampler", None), "set_epoch", None)
    ebar = progress_bar(range(start, epochs), enabled=progress, desc="epochs", unit="epoch",
                        initial=start, total=epochs)
    for epoch in ebar:
        t0 = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        if set_epoch is not None:  # DistributedSampler: a new permutation each epoch
            set_epoch(epoch)
        tr = train_epoch(model, train_loader, optimizer, loss_fn, device,
                         max_steps=max_steps_per_epoch, progress=progress,
                         desc=f"epoch {epoch + 1}/{epochs}")
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": tr["loss"],
               "train_accuracy": tr["accuracy"], "train_images_per_s": tr["images_per_s"]}
        if val_loader is not None:
            va = evaluate(model, val_loader, loss_fn, device, progress=progress, desc="eval")
            row.update(val_loss=va["loss"], val_accuracy=va["accuracy"],
                       val_images_per_s=va["images_per_s"])
        if scheduler is not None:
            if _is_plateau(scheduler):
                # mode "max" watches accuracy, "min" the loss (validation if any, else training)
                key = "accuracy" if scheduler.mode == "max" else "loss"
                scheduler.step(row.get(f"val_{key}", row[f"train_{key}"]))
            else:
                scheduler.step()
        row["epoch_seconds"] = time.perf_counter() - t0
        history.append(row)
        msg = (f"epoch {epoch + 1}/{epochs}: train loss {row['train_loss']:.4f} "
               f"acc {row['train_accuracy']:.2%}")
        if "val_loss" in row:
            msg += f" | val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.2%}"
        msg += (f" | lr {lr:.3g} | {row['train_images_per_s']:.0f} img/s | "
                f"{row['epoch_seconds']:.1f} s")
        _emit(log, msg, ebar)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch + 1, history)
        if out_dir is not None:
            write_metrics(out_dir, history)
            plot_metrics(out_dir, history, title)
    if hasattr(ebar, "close"):
        ebar.close()
    if world > 1:  # the checkpoint is on disk for every rank once fit returns
        from . import distributed as dist
        dist.barrier()
    return history


def _silent(msg: str) -> None:
    pass


def _emit(log, msg: str, bar=None) -> None:
    if log is not None:
        log(msg)
    elif bar is not None and hasattr(bar, "write"):
        bar.write(msg)
    else:
        print(msg)

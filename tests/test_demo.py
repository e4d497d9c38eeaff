"""The demo's pieces (`python -m minidl.demo`): the 1-NN baseline, the recipe's parts, one short
run of main().  The full run (30 epochs) is measured in the README, not here."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import demo
from minidl.data import transforms as T


def test_nearest_neighbour_accuracy_small():
    xtr = np.array([[0.0, 0.0], [10.0, 10.0]])
    ytr = np.array([0, 1])
    xte = np.array([[1.0, 0.0], [9.0, 9.0], [6.0, 6.0], [4.0, 4.0]])
    assert demo.nearest_neighbour_accuracy(xtr, ytr, xte, np.array([0, 1, 1, 1])) == 0.75


def test_digits_baseline_is_the_known_95_56():
    # 344 of the 360 test digits (the number the issue and README quote)
    assert round(demo.digits_baseline() * 360) == 344


def test_build_modern_parts():
    minidl.manual_seed(0)
    p = demo.build("modern", epochs=4, log=lambda s: None)
    assert (len(p["train"]), len(p["test"])) == (1437, 360)
    # the schedule: one-cycle over the epochs, starting at max_lr / 25
    assert p["optimizer"].param_groups[0]["lr"] == pytest.approx(demo.MAX_LR / 25)
    assert p["optimizer"].param_groups[0]["nesterov"]
    assert p["loss_fn"].keywords == {"label_smoothing": demo.LABEL_SMOOTHING}
    # augmentation: training samples are random shifts (padding = background, before the
    # normalisation), test samples are fixed
    draws = [p["train"][0][0] for _ in range(6)]
    x0 = draws[0]
    assert x0.shape == (1, 32, 32) and x0.dtype == np.float32
    assert any(not np.array_equal(x0, d) for d in draws[1:])
    shift = p["train"].transform.transforms[0]
    assert isinstance(shift, T.RandomCrop) and shift.padding == 2
    norm = p["train"].transform.transforms[1]
    background = (0.0 - norm.mean) / norm.std
    assert np.isclose(x0.min(), background.min(), atol=1e-5)
    np.testing.assert_array_equal(p["test"][0][0], p["test"][0][0])
    # one step on one batch trains
    x, y = next(iter(p["train_loader"]))
    loss = p["loss_fn"](p["model"](x), y)
    p["optimizer"].zero_grad()
    loss.backward()
    p["optimizer"].step()
    p["scheduler"].step()
    assert p["optimizer"].param_groups[0]["lr"] > demo.MAX_LR / 25


def test_build_paper_variant_keeps_the_paper_recipe():
    p = demo.build("paper", epochs=1, log=lambda s: None)
    assert p["model"].variant == "paper" and p["train"].transform is None
    assert p["optimizer"].param_groups[0]["lr"] == pytest.approx(0.002)


def test_main_one_epoch_prints_accuracy_and_baseline(tmp_path, capsys):
    acc = demo.main(["--epochs", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"test accuracy: {acc:.2%} ({round(acc * 360)}/360) after 1 epochs" in out
    assert "s of CPU time" in out
    assert "1-nearest-neighbour on the raw 8x8 pixels, same split: 95.56%" in out
    assert (tmp_path / "metrics.json").is_file()

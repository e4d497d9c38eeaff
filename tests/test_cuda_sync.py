"""No host synchronisation inside a training step (simulator tier): target range checks run on
the device and are reported at the next sync; a steady-state step makes no driver allocation and
no device -> host copy."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl.cuda import memory
from minidl.errors import ShapeError
from minidl.nn import functional as F

pytestmark = pytest.mark.cuda


def test_bad_target_is_reported_at_the_next_sync(cuda_device):
    from minidl.cuda import checks

    x = minidl.zeros(4, 5, device="cuda", requires_grad=True)
    bad = minidl.tensor([1, 7, -1, 9], device="cuda")
    before = memory.transfer_counts["d2h"]
    loss = F.cross_entropy(x, bad)  # no read of the target here
    assert memory.transfer_counts["d2h"] == before and checks.pending()
    loss2 = F.nll_loss(x, minidl.tensor([0, 1, 2, 3], device="cuda"))  # a good one after it
    with pytest.raises(ShapeError, match=r"^Target 7 is out of bounds\."):
        loss2.item()
    assert not checks.pending()
    assert loss.item() == pytest.approx(np.log(5))  # reported once, then cleared


def test_ignore_index_and_good_targets_pass(cuda_device):
    x = minidl.zeros(3, 4, device="cuda")
    t = minidl.tensor([0, -100, 3], device="cuda")
    assert F.cross_entropy(x, t).item() == pytest.approx(np.log(4))


def test_eager_checks_raise_at_the_call(cuda_device, monkeypatch):
    monkeypatch.setenv("MINIDL_EAGER_CHECKS", "1")
    with pytest.raises(ShapeError, match=r"^Target -2 is out of bounds\."):
        F.nll_loss(minidl.zeros(2, 3, device="cuda"), minidl.tensor([-2, 5], device="cuda"))

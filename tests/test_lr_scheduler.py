"""minidl.optim.lr_scheduler: learning-rate sequences over 30 epochs vs the documented formulas,
ReduceLROnPlateau's patience/threshold/cooldown, state_dict resume, the step-order warning."""
import math
import warnings
from bisect import bisect_right

import pytest

import minidl
from minidl import nn, optim
from minidl.optim import lr_scheduler as S

EPOCHS = 30


def _opt(lr=0.1, cls=optim.SGD, **kw):
    return cls([nn.Parameter(minidl.zeros(2))], lr=lr, **kw)


def _lrs(opt, sched, epochs=EPOCHS):
    """lr used in epochs 0..epochs-1, stepping in the recommended order."""
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr()[0] == opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return out


def _close(a, b):
    assert len(a) == len(b)
    for e, (x, y) in enumerate(zip(a, b)):
        assert x == pytest.approx(y, rel=1e-10, abs=1e-15), f"epoch {e}: {x} != {y}"


def test_step_lr():
    opt = _opt()
    _close(_lrs(opt, S.StepLR(opt, step_size=7, gamma=0.5)),
           [0.1 * 0.5 ** (e // 7) for e in range(EPOCHS)])


def test_multistep_lr_with_repeated_milestone():
    opt = _opt()
    ms = [5, 12, 12, 20]
    _close(_lrs(opt, S.MultiStepLR(opt, milestones=ms, gamma=0.1)),
           [0.1 * 0.1 ** bisect_right(ms, e) for e in range(EPOCHS)])


def test_exponential_lr():
    opt = _opt()
    _close(_lrs(opt, S.ExponentialLR(opt, gamma=0.9)), [0.1 * 0.9 ** e for e in range(EPOCHS)])


@pytest.mark.parametrize("eta_min", [0.0, 0.001])
def test_cosine_annealing_lr_past_t_max(eta_min):
    opt = _opt()
    T = 10
    want = [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * e / T)) / 2
            for e in range(EPOCHS)]
    _close(_lrs(opt, S.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)), want)


def test_lambda_lr_per_group():
    a, b = nn.Parameter(minidl.zeros(1)), nn.Parameter(minidl.zeros(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = S.LambdaLR(opt, [lambda e: 0.95 ** e, lambda e: 1.0 / (e + 1)])
    got = []
    for _ in range(EPOCHS):
        got.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    _close([g[0] for g in got], [0.1 * 0.95 ** e for e in range(EPOCHS)])
    _close([g[1] for g in got], [1.0 / (e + 1) for e in range(EPOCHS)])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        S.LambdaLR(opt, [lambda e: 1.0])


def _one_cycle_ref(step, total, max_lr, pct=0.3, div=25.0, final_div=1e4, anneal="cos",
                   three_phase=False, lo=None, hi=None):
    """The documented 1cycle schedule (lr, or momentum when lo/hi are given)."""
    initial = max_lr / div
    min_lr = initial / final_div
    if lo is not None:  # momentum: hi -> lo -> hi
        pts = [(pct * total - 1, hi, lo), (total - 1, lo, hi)]
        if three_phase:
            pts = [(pct * total - 1, hi, lo), (2 * pct * total - 2, lo, hi), (total - 1, hi, hi)]
    else:
        pts = [(pct * total - 1, initial, max_lr), (total - 1, max_lr, min_lr)]
        if three_phase:
            pts = [(pct * total - 1, initial, max_lr), (2 * pct * total - 2, max_lr, initial),
                   (total - 1, initial, min_lr)]
    start = 0.0
    for i, (end, a, b) in enumerate(pts):
        if step <= end or i == len(pts) - 1:
            t = (step - start) / (end - start)
            if anneal == "cos":
                return b + (a - b) / 2 * (1 + math.cos(math.pi * t))
            return a + (b - a) * t
        start = end


@pytest.mark.parametrize("anneal,three_phase", [("cos", False), ("linear", False),
                                                ("cos", True)])
def test_one_cycle_lr_and_momentum(anneal, three_phase):
    opt = _opt(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=EPOCHS, anneal_strategy=anneal,
                         three_phase=three_phase)
    lrs, moms = [], []
    for _ in range(EPOCHS):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        if len(lrs) < EPOCHS:
            sched.step()
    _close(lrs, [_one_cycle_ref(e, EPOCHS, 1.0, anneal=anneal, three_phase=three_phase)
                 for e in range(EPOCHS)])
    _close(moms, [_one_cycle_ref(e, EPOCHS, 1.0, anneal=anneal, three_phase=three_phase,
                                 lo=0.85, hi=0.95) for e in range(EPOCHS)])
    assert lrs[0] == pytest.approx(1.0 / 25) and max(lrs) == pytest.approx(1.0)
    sched.step()  # step 30 == total_steps is still allowed
    with pytest.raises(ValueError, match="Tried to step 31 times. The specified number of total "
                                         "steps is 30"):
        sched.step()


def test_one_cycle_cycles_adam_beta1_and_validates():
    opt = _opt(cls=optim.Adam)
    S.OneCycleLR(opt, max_lr=0.01, epochs=3, steps_per_epoch=10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.OneCycleLR(_opt(cls=optim.Adagrad), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        S.OneCycleLR(_opt(), max_lr=0.1)
    with pytest.raises(ValueError, match="Expected float between 0 and 1 pct_start"):
        S.OneCycleLR(_opt(), max_lr=0.1, total_steps=10, pct_start=1.5)


# ---- ReduceLROnPlateau -------------------------------------------------------------------------
def _plateau(metrics, **kw):
    opt = _opt(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [out[-1]]
    return out


def test_reduce_on_plateau_patience_threshold_cooldown():
    # min mode, rel threshold 0.1: "better" means < 0.9 * best.  Worked by hand:
    #  e1 10 best; e2-e4 no gain -> 3 bad > patience 2 at e4: lr 0.5, cooldown 1;
    #  e5 9.0 (not < 9.0) is in cooldown so it does not count; e6 8.9 < 9.0 new best;
    #  e7-e9 no gain -> lr 0.25 at e9; e10 8.0 < 8.01 new best (cooldown); e11-e13 no gain
    #  -> 0.125 at e13; e14 is in cooldown, e15-e17 no gain -> min_lr 0.1 at e17 (0.0625
    #  clipped); the next reduction (e21) would go 0.1 -> 0.1, a change below eps: lr stays.
    metrics = [10, 9.5, 9.2, 9.1, 9.0, 8.9, 8.95, 8.9, 8.9, 8.0, 7.9, 7.9, 7.9, 7.9, 7.9, 7.9]
    metrics += [7.9] * (EPOCHS - len(metrics))
    want = [1, 1, 1, .5, .5, .5, .5, .5, .25, .25, .25, .25, .125, .125, .125, .125, .1]
    want += [0.1] * (EPOCHS - len(want))
    assert _plateau(metrics, mode="min", factor=0.5, patience=2, threshold=0.1, cooldown=1,
                    min_lr=0.1) == want


def test_reduce_on_plateau_max_mode_abs_threshold():
    # max mode, abs threshold 0.5: better means > best + 0.5; patience 1, no cooldown
    # e1 best; e2 bad; e3 new best (1.6 > 1.5); e4 bad; e5 best; e6, e7 bad -> cut at e7;
    # e8 2.8 > 2.7 is a new best, so no second cut
    metrics = [1.0, 1.4, 1.6, 1.7, 2.2, 2.3, 2.4, 2.8]
    want = [1, 1, 1, 1, 1, 1, 0.1, 0.1]
    assert _plateau(metrics, mode="max", factor=0.1, patience=1, threshold=0.5,
                    threshold_mode="abs") == pytest.approx(want)


def test_reduce_on_plateau_validation_and_state():
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode sideways is unknown!"):
        S.ReduceLROnPlateau(_opt(), mode="sideways")
    with pytest.raises(ValueError, match="threshold mode x is unknown!"):
        S.ReduceLROnPlateau(_opt(), threshold_mode="x")
    opt = _opt(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(1.0)
    sched.step(2.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["best"] == 1.0
    opt2 = _opt(lr=0.1)
    s2 = S.ReduceLROnPlateau(opt2, patience=0)
    s2.load_state_dict(sd)
    s2.step(3.0)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.01)


# ---- state, warnings ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda o: S.StepLR(o, 3, 0.5),
    lambda o: S.CosineAnnealingLR(o, 8, 0.001),
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=EPOCHS),
    lambda o: S.MultiStepLR(o, [4, 9], 0.3),
], ids=["step", "cosine", "onecycle", "multistep"])
def test_scheduler_state_dict_resume(make):
    opt = _opt(momentum=0.9)
    sched = make(opt)
    ref = _lrs(opt, sched, 20)
    opt_a = _opt(momentum=0.9)
    sched_a = make(opt_a)
    _lrs(opt_a, sched_a, 10)
    osd, ssd = opt_a.state_dict(), sched_a.state_dict()
    assert "optimizer" not in ssd
    opt_b = _opt(momentum=0.9)
    sched_b = make(opt_b)
    opt_b.load_state_dict(osd)
    sched_b.load_state_dict(ssd)
    _close(_lrs(opt_b, sched_b, 10), ref[10:])


def test_lambda_lr_state_dict_skips_functions():
    opt = _opt()
    sd = S.LambdaLR(opt, lambda e: 0.5 ** e).state_dict()
    assert sd["lr_lambdas"] == [None] and "optimizer" not in sd


def test_warning_when_scheduler_steps_before_optimizer():
    opt = _opt()
    sched = S.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before "
                                         r"`optimizer.step\(\)`"):
        sched.step()


def test_no_warning_in_the_right_order():
    opt = _opt()
    sched = S.ExponentialLR(opt, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.1 * 0.5 ** 3)]


def test_resuming_requires_initial_lr():
    with pytest.raises(KeyError, match=r"'initial_lr' is not specified in param_groups\[0\]"):
        S.StepLR(_opt(), 3, last_epoch=5)


def test_chained_schedulers_compose():
    opt = _opt()
    s1 = S.ExponentialLR(opt, 0.9)
    s2 = S.StepLR(opt, 3, 0.5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s1.step()
        s2.step()
    _close(lrs, [0.1 * 0.9 ** e * 0.5 ** (e // 3) for e in range(10)])


def test_optimizer_with_scheduler_still_deepcopies():
    import copy

    opt = _opt(momentum=0.9)
    S.StepLR(opt, 2)  # installs its step wrapper on the optimizer instance
    opt2 = copy.deepcopy(opt)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["initial_lr"] == 0.1

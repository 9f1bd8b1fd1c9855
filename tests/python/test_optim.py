"""attn.optim from Python: optimizer trajectories, schedules and clipping against PyTorch's
(tests/fixtures/optim, made by tools/fixtures/optim.py), called with torch.optim's keyword names;
param groups, the live param_groups view, state_dict round trips."""
import gc
import math

import numpy as np
import pytest

import attn
from conftest import FIXTURES, assert_close, fixture

OPTIMIZER_CASES = ["sgd_plain", "sgd_momentum", "sgd_nesterov", "sgd_maximize", "adam_default", "adam_wd_amsgrad",
                   "adamw_default", "adamw_amsgrad", "sgd_momentum_f64", "adam_amsgrad_f64", "adamw_f64"]


def optimizer_kwargs(meta):
    kw = {}
    for k, v in meta.items():
        if k in ("optimizer", "dtype", "generator"):
            continue
        if k in ("nesterov", "amsgrad", "maximize"):
            kw[k] = v == "1"
        elif k not in ("beta1", "beta2"):
            kw[k] = float(v)
    if "beta1" in meta:
        kw["betas"] = (float(meta["beta1"]), float(meta["beta2"]))
    return kw


@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_optimizer_trajectories_match_pytorch(case):
    fx = fixture("optim", case)
    meta = attn.load_metadata(FIXTURES / "optim" / f"{case}.safetensors")
    params = [fx["init.p0"].clone().requires_grad_(), fx["init.p1"].clone().requires_grad_()]
    opt = getattr(attn.optim, meta["optimizer"])(params, **optimizer_kwargs(meta))
    # float32: a few roundings per step over 5 steps; float64: a few ulp.
    tol = dict(rtol=1e-12, atol=1e-12) if meta["dtype"] == "float64" else dict(rtol=2e-6, atol=2e-7)
    for k in range(5):
        opt.zero_grad()
        for j, p in enumerate(params):
            if f"grad.{k}.p{j}" in fx:
                p.grad = fx[f"grad.{k}.p{j}"].clone()
        opt.step()
        for j, p in enumerate(params):
            assert_close(p, fx[f"param.{k}.p{j}"], msg=f"step {k} p{j}", **tol)


SCHEDULERS = {
    "sched_steplr": lambda o: attn.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "sched_cosine": lambda o: attn.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "sched_linear_warmup": lambda o: attn.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=6),
    "sched_linear_decay": lambda o: attn.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=8),
    "sched_lambda": lambda o: attn.optim.lr_scheduler.LambdaLR(o, lambda epoch: 0.95 ** epoch),
    "sched_noam": lambda o: attn.optim.lr_scheduler.NoamLR(o, d_model=16, warmup_steps=10, factor=2.0),
}


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_schedules_match_pytorch(case):
    lrs = fixture("optim", case)["lr"].numpy()
    base = [1.0, 1.0] if case == "sched_noam" else [0.1, 0.05]
    p = [attn.zeros(1, requires_grad=True), attn.zeros(1, requires_grad=True)]
    opt = attn.optim.SGD([{"params": [p[0]], "lr": base[0]}, {"params": [p[1]], "lr": base[1]}], lr=base[0])
    sched = SCHEDULERS[case](opt)
    got = [sched.get_last_lr()]
    for _ in range(len(lrs) - 1):
        opt.step()
        sched.step()
        got.append(sched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == got[-1]
    # Recursive float64 updates in the same order as PyTorch: equal to the last bits.
    np.testing.assert_allclose(np.array(got), lrs, rtol=1e-13, atol=0)
    assert sched.last_epoch == len(lrs) - 1


@pytest.mark.parametrize("case, max_norm, norm_type", [("clip_l2", 1.0, 2.0), ("clip_l2_noop", 100.0, 2.0), ("clip_l1", 2.5, 1.0),
                                                       ("clip_inf", 0.5, "inf"), ("clip_l3", 1.5, 3.0),
                                                       ("clip_l2_f64", 1.0, 2.0)])
def test_clip_grad_norm_matches_pytorch(case, max_norm, norm_type):
    fx = fixture("optim", case)
    params = []
    for j in range(3):
        g = fx[f"grad.{j}"]
        p = attn.zeros(*g.shape, dtype=g.dtype, requires_grad=True)
        p.grad = g.clone()
        params.append(p)
    total = attn.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type if norm_type != "inf" else math.inf)
    assert isinstance(total, attn.Tensor) and total.shape == ()
    assert_close(total.reshape(1), fx["total_norm"], rtol=1e-6)
    for j, p in enumerate(params):
        assert_close(p.grad, fx[f"clipped.{j}"], rtol=1e-6, atol=1e-7)


def test_clip_grad_value_and_norm_type_names():
    p = attn.zeros(4, requires_grad=True)
    p.grad = attn.tensor([-3.0, -0.5, 0.5, 3.0])
    attn.nn.utils.clip_grad_value_([p], 1.0)
    assert p.grad.tolist() == [-1.0, -0.5, 0.5, 1.0]
    assert attn.nn.utils.clip_grad_norm_(p, 10.0, norm_type="inf").item() == 1.0
    with pytest.raises(ValueError, match="norm_type"):
        attn.nn.utils.clip_grad_norm_(p, 1.0, norm_type="fro")


def test_param_groups_view_and_options():
    a, b = attn.zeros(2, requires_grad=True), attn.zeros(3, requires_grad=True)
    opt = attn.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.1 and g1["lr"] == 0.5 and g1["momentum"] == 0.9 and g0["momentum"] == 0.0
    assert len(g1["params"]) == 1 and g1["params"][0].shape == (3,)
    g0["lr"] = 0.25  # writes through to the C++ optimizer
    a.grad = attn.ones(2)
    opt.step()
    assert a.tolist() == [-0.25, -0.25]
    with pytest.raises(KeyError, match="unknown option 'betas'"):
        attn.optim.SGD([{"params": [a], "betas": (0.9, 0.99)}], lr=0.1)
    adam = attn.optim.AdamW([a], lr=1e-3)
    assert adam.param_groups[0]["weight_decay"] == 1e-2 and adam.param_groups[0]["betas"] == (0.9, 0.999)
    with pytest.raises(attn.AttnError, match="learning rate -1"):
        attn.optim.SGD([a], lr=-1.0)


def test_zero_grad_and_skipping():
    a = attn.ones(2, requires_grad=True)
    opt = attn.optim.SGD([a], lr=1.0)
    opt.step()  # no gradient: skipped
    assert a.tolist() == [1.0, 1.0]
    a.grad = attn.ones(2)
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_optimizer_state_dict_resumes_exactly(tmp_path):
    def run(opt, p, steps, start):
        for k in range(start, start + steps):
            p.grad = attn.full((3,), 0.1 * (k + 1))
            opt.step()

    p1 = attn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    o1 = attn.optim.Adam([p1], lr=0.1, amsgrad=True)
    run(o1, p1, 6, 0)

    p2 = attn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    o2 = attn.optim.Adam([p2], lr=0.1, amsgrad=True)
    run(o2, p2, 3, 0)
    sd = {k: v.clone() for k, v in o2.state_dict().items()}
    assert "state.0.exp_avg" in sd and "param_groups.0.lr" in sd
    attn.save_file(sd, tmp_path / "opt.safetensors")
    # a fresh optimizer over the same parameter values, restored from disk
    p3 = p2.detach().clone().requires_grad_()
    o3 = attn.optim.Adam([p3], lr=0.1, amsgrad=True)
    o3.load_state_dict(attn.load_file(tmp_path / "opt.safetensors"))
    run(o3, p3, 3, 3)
    np.testing.assert_array_equal(p3.detach().numpy(), p1.detach().numpy())
    with pytest.raises(attn.AttnError):
        attn.optim.SGD([p3], lr=0.1).load_state_dict(sd)  # Adam state into SGD


def test_scheduler_keeps_optimizer_alive():
    p = attn.zeros(1, requires_grad=True)
    sched = attn.optim.lr_scheduler.StepLR(attn.optim.SGD([p], lr=1.0), step_size=1, gamma=0.5)
    gc.collect()  # the optimizer has no other reference: the scheduler must hold it
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.25]
    assert attn.optim.lr_scheduler.NoamLR.rate(10, 16, 10, 2.0) == pytest.approx(2.0 * 16**-0.5 * 10**-0.5)


def test_scheduler_state_dict_round_trip():
    p = attn.zeros(1, requires_grad=True)
    sched = attn.optim.lr_scheduler.StepLR(attn.optim.SGD([p], lr=1.0), step_size=1, gamma=0.5)
    sched.step()
    sched.step()
    sd = sched.state_dict()
    opt2 = attn.optim.SGD([p], lr=0.25)
    s2 = attn.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    s2.load_state_dict(sd)
    s2.step()
    assert s2.get_last_lr() == [0.125] and s2.last_epoch == 3

"""lab.optim: each optimizer against the lecture's equation, torch.optim, and its own fast path."""

from __future__ import annotations

import contextlib
import io
import math
import platform
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import optim as O
from lab.optim import _fused

# float64 round-off: each step adds a few ulp relative to the size of the numbers; over
# at most 30 steps 1e-12 relative (plus 1e-12 absolute for values near 0) is generous
# yet 1e4 times tighter than any of the differences the tests below tell apart.
TIGHT = dict(rtol=1e-12, atol=1e-12)
F64 = torch.float64


# ---------------------------------------------------------------------------------------
# Plain transcriptions of the lecture's equations (numpy, float64, whole arrays).
# ---------------------------------------------------------------------------------------


def lecture_sgd(phi, grads, lrs, **_):
    for g, lr in zip(grads, lrs):
        phi = phi - lr * g
    return phi


def lecture_momentum(phi, grads, lrs, N, **_):
    v = np.zeros_like(phi)
    for g, lr in zip(grads, lrs):
        v = (1 - 1 / N) * v + lr * g
        phi = phi - v
    return phi


def lecture_averaged_momentum(phi, grads, lrs, N, **_):
    mu = np.zeros_like(phi)
    for g, lr in zip(grads, lrs):
        mu = (1 - 1 / N) * mu + g / N
        phi = phi - lr * mu
    return phi


def lecture_rmsprop(phi, grads, lrs, N_s, eps, **_):
    s = np.zeros_like(phi)
    for g, lr in zip(grads, lrs):
        s = (1 - 1 / N_s) * s + g**2 / N_s
        phi = phi - lr / np.sqrt(s + eps) * g
    return phi


def lecture_adam(phi, grads, lrs, N_g, N_s, eps, bias_correction="min", **_):
    mu, s = np.zeros_like(phi), np.zeros_like(phi)
    m, v = np.zeros_like(phi), np.zeros_like(phi)
    b1, b2 = 1 - 1 / N_g, 1 - 1 / N_s
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        if bias_correction == "adam":  # Kingma and Ba, Algorithm 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            mu, s = m / (1 - b1**t), v / (1 - b2**t)
        else:
            Ng, Ns = (
                (min(t, N_g), min(t, N_s)) if bias_correction == "min" else (N_g, N_s)
            )
            mu = (1 - 1 / Ng) * mu + g / Ng
            s = (1 - 1 / Ns) * s + g**2 / Ns
        phi = phi - lr / (np.sqrt(s) + eps) * mu
    return phi


def lecture_snr(
    phi,
    grads,
    lrs,
    batch_size,
    lambda_eta,
    lambda_B,
    K,
    eps,
    eta_max=None,
    second_moment="batch",
    grad_sqs=None,
    **_,
):
    """The 'complete algorithm' slides, with the documented choices marked CHOICE."""
    B = batch_size
    eta_max = lambda_eta * lambda_B / B if eta_max is None else eta_max
    g_t, s_t = np.zeros_like(phi), np.zeros_like(phi)
    B_star = np.full_like(phi, K)  # B*(0) = K since 0 <= K
    scale = B if second_moment == "batch" else 1  # CHOICE: per-example variance
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(B_star > 0, B / B_star, np.inf)
        w = np.minimum(w, 1.0)  # CHOICE: weight capped at 1
        sq = g**2 if grad_sqs is None else grad_sqs[t - 1]
        g_t = (1 - w) * g_t + w * g
        s_t = (1 - w) * s_t + w * sq
        sigma2 = scale * np.maximum(s_t - g_t**2, 0)  # CHOICE: round-off negatives -> 0
        B_star = np.full_like(phi, K) if t <= K else lambda_B * sigma2 / (g_t**2 + eps)
        if t <= K:
            eta = np.zeros_like(phi)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                eta = np.where(
                    sigma2 > 0,
                    lambda_eta * g_t**2 / sigma2,
                    np.where(g_t**2 > 0, np.inf, 0.0),
                )
            eta = np.minimum(eta, eta_max)  # CHOICE: eta capped
        phi = phi - lr * eta * g
    return phi


CASES = {
    "SGD": (O.SGD, lecture_sgd, dict(lr=0.1)),
    "Momentum": (O.Momentum, lecture_momentum, dict(lr=0.05, N=7)),
    "AveragedMomentum": (
        O.AveragedMomentum,
        lecture_averaged_momentum,
        dict(lr=0.3, N=7),
    ),
    "RMSProp": (O.RMSProp, lecture_rmsprop, dict(lr=0.01, N_s=20, eps=1e-6)),
    "Adam-min": (O.Adam, lecture_adam, dict(lr=0.01, N_g=5, N_s=30, eps=1e-8)),
    "Adam-adam": (
        O.Adam,
        lecture_adam,
        dict(lr=0.01, N_g=5, N_s=30, eps=1e-8, bias_correction="adam"),
    ),
    "Adam-none": (
        O.Adam,
        lecture_adam,
        dict(lr=0.01, N_g=5, N_s=30, eps=1e-8, bias_correction="none"),
    ),
    "SNR": (
        O.SNR,
        lecture_snr,
        dict(batch_size=4, lambda_eta=0.05, lambda_B=16.0, K=3, eps=1e-8),
    ),
}
IMPLS = {
    name: ("reference", "foreach") + (("fused",) if cls._has_fused_cpu else ())
    for name, (cls, _, _) in CASES.items()
}


def runnable(cls, impl):
    """Whether ``impl`` can step on CPU here: "fused" needs lab's C++ kernels, except
    for Adam, which falls back to torch's fused kernel."""
    return impl != "fused" or cls is O.Adam or _fused.ops() is not None


def make_param(shape, kind, seed=0):
    """A float64 leaf: contiguous, or a non-contiguous transposed view of a leaf."""
    g = torch.Generator().manual_seed(seed)
    if kind == "transposed" and len(shape) == 2:
        base = torch.randn(shape[::-1], generator=g, dtype=F64)
        return base.t().requires_grad_()
    return torch.randn(shape, generator=g, dtype=F64).requires_grad_()


def grad_like(p, g, mean=0.5):
    # Gradients of the same layout as p (non-contiguous for a transposed p).
    return (mean + torch.randn(p.shape, generator=g, dtype=F64)).as_strided(
        p.shape, p.stride()
    )


def grad_sequence(p, T, seed, mean=0.5):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(T):
        x = torch.empty_like(p)
        x.copy_(mean + torch.randn(p.shape, generator=g, dtype=F64))
        out.append(x)
    return out


def run(opt_cls, params, grads_per_step, impl="auto", lrs=None, **kw):
    opt = opt_cls(params, impl=impl, **kw)
    for t, grads in enumerate(grads_per_step):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[t]
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    return opt


# ---------------------------------------------------------------------------------------
# The lecture's equations.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
@given(
    shape=st.sampled_from([(), (5,), (3, 4)]),
    kind=st.sampled_from(["plain", "transposed"]),
    T=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    impl=st.sampled_from(["reference", "foreach", "auto"]),
)
@settings(max_examples=15)
def test_every_optimizer_is_the_lectures_equation(name, shape, kind, T, seed, impl):
    cls, lecture, kw = CASES[name]
    p = make_param(shape, kind, seed)
    phi0 = p.detach().numpy().copy()
    grads = grad_sequence(p, T, seed)
    lrs = [kw.get("lr", 1.0)] * T
    run(cls, [p], [[g] for g in grads], impl=impl, **kw)
    want = lecture(phi0, [g.numpy() for g in grads], lrs, **kw)
    np.testing.assert_allclose(p.detach().numpy(), want, **TIGHT)


@given(
    N=st.floats(1, 50),
    lr=st.floats(0, 1),
    T=st.integers(1, 20),
    seed=st.integers(0, 999),
)
def test_momentum_equals_torch_sgd_with_momentum_one_minus_one_over_N(N, lr, T, seed):
    a, b = make_param((4,), "plain", seed), make_param((4,), "plain", seed)
    ours, theirs = (
        O.Momentum([a], lr=lr, N=N),
        torch.optim.SGD([b], lr=lr, momentum=1 - 1 / N),
    )
    for g in grad_sequence(a, T, seed):
        a.grad, b.grad = g, g.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(a, b, **TIGHT)


def test_momentum_and_torch_sgd_part_ways_when_the_learning_rate_changes():
    # Here v accumulates eta_s g_s; torch rescales its whole buffer by the current eta.
    lrs = [0.1] * 5 + [0.01] * 5
    a, b = make_param((3,), "plain"), make_param((3,), "plain")
    phi0 = a.detach().numpy().copy()
    ours = O.Momentum([a], lr=lrs[0], N=5)
    theirs = torch.optim.SGD([b], lr=lrs[0], momentum=0.8)
    sched_ours = torch.optim.lr_scheduler.StepLR(ours, step_size=5, gamma=0.1)
    sched_theirs = torch.optim.lr_scheduler.StepLR(theirs, step_size=5, gamma=0.1)
    grads = grad_sequence(a, 10, 3)
    for g in grads:
        a.grad, b.grad = g, g.clone()
        ours.step()
        theirs.step()
        sched_ours.step()
        sched_theirs.step()
    want = lecture_momentum(phi0, [g.numpy() for g in grads], lrs, N=5)
    np.testing.assert_allclose(a.detach().numpy(), want, **TIGHT)
    assert (a - b).abs().max() > 1e-3


@given(
    N=st.floats(1, 50),
    lr=st.floats(0, 2),
    T=st.integers(1, 20),
    seed=st.integers(0, 999),
)
def test_averaged_momentum_is_momentum_with_lr_over_N_and_torch_sgd(N, lr, T, seed):
    ps = [make_param((4,), "plain", seed) for _ in range(3)]
    opts = [
        O.AveragedMomentum([ps[0]], lr=lr, N=N),
        O.Momentum([ps[1]], lr=lr / N, N=N),
        torch.optim.SGD([ps[2]], lr=lr / N, momentum=1 - 1 / N),
    ]
    for g in grad_sequence(ps[0], T, seed):
        for p, opt in zip(ps, opts):
            p.grad = g.clone()
            opt.step()
    torch.testing.assert_close(ps[0], ps[1], **TIGHT)
    torch.testing.assert_close(ps[0], ps[2], **TIGHT)


def test_torch_dampening_is_not_the_averaged_form():
    # torch's first momentum step copies g undamped; the running average takes g/N.
    N, lr = 10, 1.0
    a, b = (
        torch.zeros(1, dtype=F64, requires_grad=True),
        torch.zeros(1, dtype=F64, requires_grad=True),
    )
    ours = O.AveragedMomentum([a], lr=lr, N=N)
    damped = torch.optim.SGD([b], lr=lr, momentum=1 - 1 / N, dampening=1 / N)
    a.grad, b.grad = torch.ones(1, dtype=F64), torch.ones(1, dtype=F64)
    ours.step()
    damped.step()
    assert a.item() == pytest.approx(-1 / N) and b.item() == pytest.approx(-1.0)


@given(
    N_s=st.floats(1, 200),
    lr=st.floats(0, 1),
    T=st.integers(1, 20),
    seed=st.integers(0, 999),
)
def test_rmsprop_eps0_equals_torch_rmsprop(N_s, lr, T, seed):
    a, b = make_param((4,), "plain", seed), make_param((4,), "plain", seed)
    ours = O.RMSProp([a], lr=lr, N_s=N_s, eps=0.0)
    theirs = torch.optim.RMSprop([b], lr=lr, alpha=1 - 1 / N_s, eps=0.0)
    for g in grad_sequence(a, T, seed):
        a.grad, b.grad = g, g.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(a, b, **TIGHT)


@pytest.mark.parametrize("impl", ["reference", "foreach", "fused"])
@given(
    N_g=st.floats(1, 50),
    N_s=st.floats(1, 2000),
    lr=st.floats(0, 0.1),
    eps=st.sampled_from([1e-8, 1e-3]),
    T=st.integers(1, 20),
    seed=st.integers(0, 999),
)
@settings(max_examples=20)
def test_adam_with_adam_correction_equals_torch_adam(impl, N_g, N_s, lr, eps, T, seed):
    a, b = make_param((4,), "plain", seed), make_param((4,), "plain", seed)
    ours = O.Adam(
        [a], lr=lr, N_g=N_g, N_s=N_s, eps=eps, bias_correction="adam", impl=impl
    )
    theirs = torch.optim.Adam([b], lr=lr, betas=(1 - 1 / N_g, 1 - 1 / N_s), eps=eps)
    for g in grad_sequence(a, T, seed):
        a.grad, b.grad = g, g.clone()
        ours.step()
        theirs.step()
    # Dividing by 1 - beta2**t (down to 1/N_s) amplifies round-off by up to N_s.
    torch.testing.assert_close(a, b, rtol=1e-12 * N_s, atol=1e-12 * N_s)


# ---------------------------------------------------------------------------------------
# Fast paths, state, checks.
# ---------------------------------------------------------------------------------------

MIXED_SHAPES = [
    ((3, 4), "plain"),
    ((), "plain"),
    ((4, 3), "transposed"),
    ((7,), "plain"),
]


@pytest.mark.parametrize("name", CASES)
def test_fast_paths_equal_reference_every_step(name):
    cls, _, kw = CASES[name]
    for impl in IMPLS[name][1:] + ("auto",):
        if not runnable(cls, impl):
            continue
        runs = {}
        for which in ("reference", impl):
            params = [make_param(s, k, i) for i, (s, k) in enumerate(MIXED_SHAPES)]
            runs[which] = (params, cls(params, impl=which, **kw))
        g = torch.Generator().manual_seed(0)
        for _ in range(12):
            grads = [grad_like(p, g) for p in runs["reference"][0]]
            for params, opt in runs.values():
                for p, gr in zip(params, grads):
                    p.grad = gr.clone()
                opt.step()
            (pr, opt_r), (pf, opt_f) = runs["reference"], runs[impl]
            for a, b in zip(pr, pf):
                torch.testing.assert_close(b, a, **TIGHT)
                for key, value in opt_r.state[a].items():
                    if isinstance(value, torch.Tensor):
                        torch.testing.assert_close(opt_f.state[b][key], value, **TIGHT)
                    else:
                        assert opt_f.state[b][key] == value


def test_fused_adam_raises_when_no_fused_kernel_applies(no_compiler):
    # Without lab's C++ step only torch's fused kernel is left, and it needs eps > 0.
    p = make_param((3,), "plain")
    p.grad = torch.ones_like(p)
    with pytest.raises(ValueError, match="impl='fused'"):
        O.Adam([p], eps=0.0, impl="fused").step()
    O.Adam([p], eps=0.0, impl="auto").step()  # falls back to foreach


@pytest.mark.parametrize("name", CASES)
def test_resume_from_saved_state_is_bitwise_identical(name):
    cls, _, kw = CASES[name]

    def model():
        return [make_param(s, k, i) for i, (s, k) in enumerate(MIXED_SHAPES)]

    def grads(step, params):
        g = torch.Generator().manual_seed(step)
        return [grad_like(p, g) for p in params]

    straight = model()
    opt = cls([{"params": straight[:2]}, {"params": straight[2:], "lr": 0.02}], **kw)
    for t in range(10):
        for p, g in zip(straight, grads(t, straight)):
            p.grad = g
        opt.step()

    first = model()
    opt = cls([{"params": first[:2]}, {"params": first[2:], "lr": 0.02}], **kw)
    for t in range(5):
        for p, g in zip(first, grads(t, first)):
            p.grad = g
        opt.step()
    buffer = io.BytesIO()
    torch.save({"model": [p.detach() for p in first], "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = [make_param(s, k, i) for i, (s, k) in enumerate(MIXED_SHAPES)]
    with torch.no_grad():
        for p, q in zip(resumed, saved["model"]):
            p.copy_(q)
    opt = cls([{"params": resumed[:2]}, {"params": resumed[2:], "lr": 0.02}], **kw)
    opt.load_state_dict(saved["opt"])
    for t in range(5, 10):
        for p, g in zip(resumed, grads(t, resumed)):
            p.grad = g
        opt.step()
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", CASES)
def test_lr_scheduler_drives_the_learning_rate(name):
    cls, lecture, kw = CASES[name]
    p = make_param((4,), "plain")
    phi0 = p.detach().numpy().copy()
    opt = cls([p], **kw)
    base = opt.param_groups[0]["lr"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + t))
    grads = grad_sequence(p, 8, 1)
    for g in grads:
        p.grad = g
        opt.step()
        sched.step()
    lrs = [base / (1 + t) for t in range(8)]
    want = lecture(phi0, [g.numpy() for g in grads], lrs, **kw)
    np.testing.assert_allclose(p.detach().numpy(), want, **TIGHT)


def test_step_hooks_and_the_profiler_label_work_as_in_torch():
    # lab's step wrapper skips torch's profiler label when no profiler runs (it costs
    # about 20 us a step); the hooks, global and per optimizer, run as in torch.
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    p = torch.tensor([2.0], dtype=F64, requires_grad=True)
    p.grad = torch.tensor([1.0], dtype=F64)
    opt = O.SGD([p], lr=0.1)
    calls = []

    def replace_closure(o, args, kwargs):
        calls.append("pre")
        return (o,), {"closure": lambda: torch.tensor(7.0)}

    handles = [
        register_optimizer_step_pre_hook(lambda o, a, k: calls.append("global pre")),
        opt.register_step_pre_hook(replace_closure),
        opt.register_step_post_hook(lambda o, a, k: calls.append(("post", k.keys()))),
        register_optimizer_step_post_hook(lambda o, a, k: calls.append("global post")),
    ]
    try:
        assert opt.step().item() == 7.0  # the pre-hook's closure ran
        assert calls == [
            "global pre",
            "pre",
            ("post", {"closure": 0}.keys()),
            "global post",
        ]
        assert p.item() == pytest.approx(1.9)
        bad = opt.register_step_pre_hook(lambda o, a, k: "not a tuple")
        with pytest.raises(RuntimeError, match="must return None or a tuple"):
            opt.step()
        bad.remove()
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]
        ) as prof:
            opt.step()
        names = {event.name for event in prof.events()}
        assert "Optimizer.step#SGD.step" in names
    finally:
        for handle in handles:
            handle.remove()


def test_step_calls_closure_and_returns_loss():
    p = torch.tensor([2.0], dtype=F64, requires_grad=True)
    opt = O.Adam([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(4.0)
    # First 'min' step: mu = g, s = g^2, so the step is lr * g / (|g| + eps) ~ lr.
    assert p.item() == pytest.approx(1.9, abs=1e-8)


@pytest.mark.parametrize("name", CASES)
def test_parameters_without_grad_are_skipped(name):
    cls, _, kw = CASES[name]
    a, b = make_param((3,), "plain", 0), make_param((3,), "plain", 1)
    before = b.detach().clone()
    opt = cls([a, b], **kw)
    for _ in range(5):
        a.grad = torch.ones_like(a)
        opt.step()
    assert torch.equal(b, before) and len(opt.state[b]) == 0


@pytest.mark.parametrize("name", CASES)
def test_sparse_gradients_are_rejected(name):
    cls, _, kw = CASES[name]
    p = make_param((3,), "plain")
    p.grad = torch.ones(3, dtype=F64).to_sparse()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        cls([p], **kw).step()


def snapshot(params, opt):
    """Copies of the parameters and their state (tensors cloned, step counts as is)."""
    return [
        (
            p.detach().clone(),
            {
                k: (v.clone() if isinstance(v, torch.Tensor) else v)
                for k, v in opt.state[p].items()
            },
        )
        for p in params
    ]


def assert_unchanged(params, opt, before):
    for p, (p0, s0) in zip(params, before):
        assert torch.equal(p, p0)
        for k, v in s0.items():
            assert (
                torch.equal(opt.state[p][k], v)
                if isinstance(v, torch.Tensor)
                else opt.state[p][k] == v
            )


def assert_frozen(params, opt, before, masks, twin_params, twin_opt):
    """check_finite=True: the coordinates in ``masks`` kept their parameter and state, and
    every other coordinate equals a twin run whose gradient was finite there."""
    for p, (p0, s0), m, q in zip(params, before, masks, twin_params):
        assert torch.equal(p[m], p0[m]) and torch.equal(p[~m], q[~m])
        for k, v in s0.items():
            if isinstance(v, torch.Tensor):
                assert torch.equal(opt.state[p][k][m], v[m])
                assert torch.equal(opt.state[p][k][~m], twin_opt.state[q][k][~m])
            else:
                assert opt.state[p][k] == twin_opt.state[q][k] == v + 1


FROZEN = "kept their parameter and state; every other coordinate took this step"
UNCHANGED = "no parameter or state was changed"


def five_steps(cls, kw):
    a, b = make_param((3,), "plain", 0), make_param((4,), "plain", 1)
    opt = cls([a, b], **kw)
    for _ in range(5):
        a.grad, b.grad = torch.ones_like(a), torch.full_like(b, 0.5)
        opt.step()
    return [a, b], opt


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_gradient_strict_raises_and_changes_nothing(name, bad):
    cls, _, kw = CASES[name]
    params, opt = five_steps(cls, dict(kw, check_finite="strict"))
    before = snapshot(params, opt)
    params[1].grad = params[1].grad.clone()
    params[1].grad[2] = bad
    with pytest.raises(
        FloatingPointError,
        match=f"parameter 1 in group 0 has 1 non-finite.*{UNCHANGED}",
    ):
        opt.step()
    assert_unchanged(params, opt, before)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_gradient_freezes_its_coordinates_and_raises(name, bad):
    cls, _, kw = CASES[name]
    for impl in filter(lambda impl: runnable(cls, impl), IMPLS[name]):
        params, opt = five_steps(cls, dict(kw, impl=impl))
        twin, twin_opt = five_steps(cls, dict(kw, impl=impl))
        before = snapshot(params, opt)
        for ps, value in ((params, bad), (twin, 0.25)):
            ps[1].grad = ps[1].grad.clone()
            ps[1].grad[2] = value
        with pytest.raises(
            FloatingPointError,
            match=f"parameter 1 in group 0 has 1 non-finite.*{FROZEN}",
        ):
            opt.step()
        twin_opt.step()
        masks = [torch.zeros(3, dtype=torch.bool), torch.arange(4) == 2]
        assert_frozen(params, opt, before, masks, twin, twin_opt)
        # The next step goes on from there as usual.
        for ps in (params, twin):
            ps[0].grad, ps[1].grad = torch.ones_like(ps[0]), torch.full_like(ps[1], 0.5)
        opt.step()
        twin_opt.step()
        assert all(torch.isfinite(p).all() for p in params)


def test_check_finite_values_are_checked():
    p = make_param((3,), "plain")
    for value in (1, "yes", None):
        with pytest.raises(
            ValueError, match="check_finite must be True, False or 'strict'"
        ):
            O.SGD([p], lr=0.1, check_finite=value)
        with pytest.raises(
            ValueError, match="check_finite must be True, False or 'strict'"
        ):
            O.SGD([p], lr=0.1).add_param_group(
                {"params": [make_param((2,), "plain")], "check_finite": value}
            )


def test_a_huge_but_finite_gradient_is_not_called_non_finite():
    # Its 1-norm overflows float32, so the fast check fails and the exact one clears it.
    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.full((4,), 3e38)
    O.SGD([p], lr=1e-40).step()
    assert torch.isfinite(p).all()


@pytest.mark.parametrize("name", CASES)
def test_float32_and_bfloat16_parameters(name):
    cls, lecture, kw = CASES[name]
    runs = {}
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        p = torch.linspace(-1, 1, 6, dtype=dtype).requires_grad_()
        opt = cls([p], **kw)
        g = torch.Generator().manual_seed(0)
        for _ in range(6):
            p.grad = (0.5 + torch.randn(6, generator=g, dtype=F64)).to(dtype)
            opt.step()
        assert p.dtype == dtype
        for key in opt._state_names:
            assert opt.state[p][key].dtype == (
                torch.float32 if dtype == torch.bfloat16 else dtype
            )
        runs[dtype] = p.detach().to(F64)
    # float32 round-off, and bfloat16's 8-bit mantissa (2^-8 relative per rounding).
    torch.testing.assert_close(
        runs[torch.float32], runs[torch.float64], rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        runs[torch.bfloat16], runs[torch.float64], rtol=0.05, atol=0.05
    )


def test_bfloat16_state_survives_state_dict_in_float32():
    p = torch.linspace(-1, 1, 6, dtype=torch.bfloat16).requires_grad_()
    opt = O.Adam([p], lr=0.01)
    p.grad = torch.full_like(p, 1 / 3)
    opt.step()
    q = p.detach().clone().requires_grad_()
    opt2 = O.Adam([q], lr=0.01)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[q]["mu"].dtype == torch.float32
    assert torch.equal(opt2.state[q]["mu"], opt.state[p]["mu"])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: O.SGD(p, lr=-0.1), "lr must be >= 0"),
        (lambda p: O.Momentum(p, lr=0.1, N=0.5), r"N must be in \[1.0, inf\], got 0.5"),
        (lambda p: O.AveragedMomentum(p, lr=math.nan, N=2), "lr must be finite"),
        (lambda p: O.RMSProp(p, lr=0.1, N_s=10, eps=-1), "eps must be >= 0"),
        (lambda p: O.RMSProp(p, lr=0.1, N_s=0), r"N_s must be in \[1.0, inf\]"),
        (lambda p: O.Adam(p, N_g=0.9), r"N_g must be in \[1.0, inf\]"),
        (lambda p: O.Adam(p, N_s=-3), r"N_s must be in \[1.0, inf\]"),
        (
            lambda p: O.Adam(p, bias_correction="kingma"),
            "bias_correction must be one of",
        ),
        (lambda p: O.Adam(p, impl="compiled"), "impl must be one of"),
        (
            lambda p: O.SNR(p, batch_size=0, lambda_eta=0.1),
            "batch_size must be an integer >= 1",
        ),
        (lambda p: O.SNR(p, batch_size=2, lambda_eta=0), "lambda_eta must be > 0"),
        (
            lambda p: O.SNR(p, batch_size=2, lambda_eta=1, lambda_B=-1),
            "lambda_B must be > 0",
        ),
        (
            lambda p: O.SNR(p, batch_size=2, lambda_eta=1, K=-1),
            "K must be an integer >= 0",
        ),
        (
            lambda p: O.SNR(p, batch_size=2, lambda_eta=1, K=2.5),
            "K must be an integer >= 0",
        ),
        (lambda p: O.SNR(p, batch_size=2, lambda_eta=1, eps=0), "eps must be > 0"),
        (
            lambda p: O.SNR(p, batch_size=2, lambda_eta=1, second_moment="x"),
            "second_moment",
        ),
        (lambda p: O.SGD([{"params": p, "lr": -1}], lr=0.1), "lr must be >= 0"),
        (
            lambda p: O.SGD([{"params": p, "impl": "fast"}], lr=0.1),
            "impl must be one of",
        ),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call([make_param((2,), "plain")])


# ---------------------------------------------------------------------------------------
# SNR: the cases the slide leaves open.
# ---------------------------------------------------------------------------------------

SNR_KW = dict(batch_size=4, lambda_eta=0.05, lambda_B=16.0, K=3, eps=1e-8)


def test_snr_warm_up_does_not_move_and_reports_B_star_K():
    p = make_param((5,), "plain")
    before = p.detach().clone()
    opt = O.SNR([p], **SNR_KW)
    assert torch.equal(opt.B_star(p), torch.full_like(p, 3.0))
    for g in grad_sequence(p, 3, 0):
        p.grad = g
        opt.step()
        assert torch.equal(p, before) and torch.equal(opt.eta(p), torch.zeros_like(p))
        assert torch.equal(opt.B_star(p), torch.full_like(p, 3.0))


def test_snr_eta_is_the_learning_rate_it_used():
    p = make_param((5,), "plain")
    opt = O.SNR([p], **SNR_KW)
    for g in grad_sequence(p, 10, 0, mean=2.0):
        before = p.detach().clone()
        p.grad = g
        opt.step()
        torch.testing.assert_close(before - p.detach(), opt.eta(p) * g, **TIGHT)
    assert (opt.eta(p) > 0).all()


def test_snr_weight_above_one_is_capped():
    # Noise-free gradients: sigma~ = 0 after warm-up, so B* = 0 < B and B/B* = inf.
    g_tilde, s_tilde = torch.tensor([2.0], dtype=F64), torch.tensor([4.0], dtype=F64)
    w = O.snr_weight(g_tilde, s_tilde, 10, batch_size=4, lambda_B=16, K=3, eps=1e-8)
    assert w.item() == 1.0
    assert (
        O.snr_weight(g_tilde, s_tilde, 1, batch_size=8, lambda_B=16, K=3, eps=1e-8)
        == 1.0
    )
    p = torch.zeros(3, dtype=F64, requires_grad=True)
    opt = O.SNR([p], **SNR_KW)
    for t in range(8):
        p.grad = torch.full_like(p, 1.0 + t)
        opt.step()
    # With weight 1 the average is the newest gradient.
    assert torch.equal(opt.state[p]["g_tilde"], torch.full_like(p, 8.0))


def test_snr_negative_variance_from_round_off_is_zero_and_eta_stays_finite():
    g_tilde = torch.tensor([0.1, 3.0], dtype=F64)
    s_tilde = g_tilde**2 * (1 - 1e-15)  # s~ - g~^2 < 0 by round-off only
    var = O.snr_variance(g_tilde, s_tilde, 4)
    assert torch.equal(var, torch.zeros(2, dtype=F64))
    eta = O.snr_learning_rate(
        g_tilde, s_tilde, 10, batch_size=4, lambda_eta=0.05, K=3, eta_max=0.2
    )
    assert torch.equal(eta, torch.full((2,), 0.2, dtype=F64))
    B_star = O.snr_batch_size_star(
        g_tilde, s_tilde, 10, batch_size=4, lambda_B=16, K=3, eps=1e-8
    )
    assert torch.equal(B_star, torch.zeros(2, dtype=F64))


def test_snr_eta_is_capped_as_sigma_goes_to_zero():
    p = torch.zeros(2, dtype=F64, requires_grad=True)
    opt = O.SNR([p], **SNR_KW)
    cap = SNR_KW["lambda_eta"] * SNR_KW["lambda_B"] / SNR_KW["batch_size"]
    for _ in range(10):
        p.grad = torch.tensor(
            [1.0, 0.0], dtype=F64
        )  # no noise at all; a dead coordinate
        opt.step()
    assert opt.eta(p).tolist() == [cap, 0.0]
    assert torch.isfinite(p).all() and p[1].item() == 0.0
    assert p[0].item() == pytest.approx(-cap * (10 - SNR_KW["K"]), rel=1e-14)


def test_snr_zero_K_starts_at_once():
    p = torch.zeros(3, dtype=F64, requires_grad=True)
    opt = O.SNR([p], batch_size=1, lambda_eta=0.1, K=0)
    p.grad = torch.ones_like(p)
    opt.step()
    assert (p < 0).all()


def _per_example_problem(B, T, sigma, mean, seed):
    """Per-example gradients mean + sigma z: batch means and batch means of squares."""
    g = torch.Generator().manual_seed(seed)
    ex = mean + sigma * torch.randn(T, B, 3, generator=g, dtype=F64)
    return ex.mean(1), (ex**2).mean(1)


@pytest.mark.parametrize("B", [1, 16])
def test_snr_second_moment_modes_both_estimate_per_example_variance(B):
    # Whole-run means stand in for the running averages g~ and s~ they approximate.
    T, sigma, mean = 4000, 2.0, 0.3
    grads, grad_sqs = _per_example_problem(B, T, sigma, mean, seed=B)
    g_tilde = grads.mean(0)
    batch = O.snr_variance(g_tilde, (grads**2).mean(0), B, "batch")
    examples = O.snr_variance(g_tilde, grad_sqs.mean(0), B, "examples")
    # A sample variance from T (batch) or T*B (examples) normals has relative standard
    # error sqrt(2/T) at most; allow 5 of them.
    tol = 5 * math.sqrt(2 / T)
    for est in (batch, examples):
        assert torch.all((est / sigma**2 - 1).abs() < tol), est
    # Without the factor B the batch mode would estimate sigma^2 / B instead.
    if B > 1:
        assert torch.all(batch / B / sigma**2 < 0.5)


def test_snr_second_moment_modes_agree_for_batch_size_one():
    grads, grad_sqs = _per_example_problem(1, 15, 1.0, 0.5, seed=4)
    result = {}
    for mode in ("batch", "examples"):
        p = torch.zeros(3, dtype=F64, requires_grad=True)
        opt = O.SNR([p], batch_size=1, lambda_eta=0.05, K=3, second_moment=mode)
        for g, sq in zip(grads, grad_sqs):
            p.grad, p.grad_sq = g, sq
            opt.step()
        result[mode] = p.detach()
    torch.testing.assert_close(result["batch"], result["examples"], **TIGHT)


def test_snr_examples_mode_needs_grad_sq():
    p = make_param((3,), "plain")
    p.grad = torch.ones_like(p)
    with pytest.raises(ValueError, match="p.grad_sq"):
        O.SNR([p], batch_size=2, lambda_eta=0.1, second_moment="examples").step()


def test_snr_examples_mode_matches_transcription():
    B, T = 8, 12
    grads, grad_sqs = _per_example_problem(B, T, 1.0, 0.5, seed=0)
    p = torch.zeros(3, dtype=F64, requires_grad=True)
    kw = dict(SNR_KW, batch_size=B, second_moment="examples")
    for impl in ("reference", "foreach"):
        with torch.no_grad():
            p.zero_()
        opt = O.SNR([p], impl=impl, **kw)
        for g, sq in zip(grads, grad_sqs):
            p.grad, p.grad_sq = g, sq
            opt.step()
        want = lecture_snr(
            np.zeros(3), grads.numpy(), [1.0] * T, grad_sqs=grad_sqs.numpy(), **kw
        )
        np.testing.assert_allclose(p.detach().numpy(), want, **TIGHT)


# ---------------------------------------------------------------------------------------
# SNR's fast path: cache-sized blocks (slices of large tensors, gathered small ones).
# ---------------------------------------------------------------------------------------

# With 16-element blocks: (5, 7) is three slices (16, 16, 3), (6, 5) transposed is too
# large for one block but not contiguous (gathered alone), the rest gather into blocks.
BLOCK_SHAPES = [
    ((5, 7), "plain"),
    ((3,), "plain"),
    ((6, 5), "transposed"),
    ((), "plain"),
    ((2, 2), "plain"),
    ((16,), "plain"),
    ((4, 3), "plain"),
]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(O.SNR, "_block", 16)


@pytest.fixture(scope="session")
def fused_ops():
    """lab's C++ kernels; the first test to ask builds them (seconds, once per machine)."""
    ops = _fused.ops()
    if ops is None:
        pytest.skip(
            "lab.optim._fused could not be built here (no C++ compiler or ninja)"
        )
    return ops


def needs(impl, request):
    """Skip an impl="fused" case where the C++ kernels cannot be built."""
    if impl == "fused":
        request.getfixturevalue("fused_ops")


@pytest.mark.parametrize("second_moment", ["batch", "examples"])
@pytest.mark.parametrize("K, lr", [(3, 1.0), (0, 0.3), (1, 2.0)])
def test_snr_blocks_equal_reference_every_step(small_blocks, second_moment, K, lr):
    kw = dict(SNR_KW, K=K, lr=lr, second_moment=second_moment)
    runs = {}
    for impl in ("reference", "foreach"):
        params = [make_param(s, k, i) for i, (s, k) in enumerate(BLOCK_SHAPES)]
        runs[impl] = (params, O.SNR(params, impl=impl, **kw))
    g = torch.Generator().manual_seed(1)
    for _ in range(12):
        # Gradients with a noisy and a nearly noise-free part, so that both caps (w = 1,
        # eta = eta_max) and the uncapped values all occur.
        grads = [
            grad_like(p, g) * (1 + 5 * torch.rand(p.shape, generator=g, dtype=F64))
            for p in runs["reference"][0]
        ]
        sqs = [
            gr**2 * (1 + torch.rand(gr.shape, generator=g, dtype=F64)) for gr in grads
        ]
        for params, opt in runs.values():
            for p, gr, sq in zip(params, grads, sqs):
                p.grad, p.grad_sq = gr.clone(), sq.clone()
            opt.step()
        (pr, opt_r), (pf, opt_f) = runs["reference"], runs["foreach"]
        for a, b in zip(pr, pf):
            torch.testing.assert_close(b, a, **TIGHT)
            for key in ("g_tilde", "s_tilde"):
                torch.testing.assert_close(
                    opt_f.state[b][key], opt_r.state[a][key], **TIGHT
                )


@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_snr_fast_paths_keep_the_caps_exact(small_blocks, impl, request):
    # 40 coordinates (three slices): noise-free ones (w = 1, eta = eta_max), dead ones
    # (g = 0 stays put) and noisy ones.
    needs(impl, request)
    p = torch.zeros(40, dtype=F64, requires_grad=True)
    opt = O.SNR([p], impl=impl, **SNR_KW)
    cap = SNR_KW["lambda_eta"] * SNR_KW["lambda_B"] / SNR_KW["batch_size"]
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        grad = torch.zeros(40, dtype=F64)
        grad[:15] = 1.0
        grad[30:] = torch.randn(10, generator=g, dtype=F64)
        p.grad = grad
        opt.step()
    assert torch.equal(opt.state[p]["g_tilde"][:15], torch.ones(15, dtype=F64))
    assert torch.equal(opt.state[p]["g_tilde"][15:30], torch.zeros(15, dtype=F64))
    assert torch.equal(p[15:30], torch.zeros(15, dtype=F64))
    torch.testing.assert_close(
        p[:15], torch.full((15,), -cap * 7, dtype=F64), rtol=1e-14, atol=0
    )
    assert torch.equal(opt.eta(p)[:15], torch.full((15,), cap, dtype=F64))


@pytest.mark.parametrize("impl", ["foreach", "fused"])
@pytest.mark.parametrize("where", [0, 39])
@pytest.mark.parametrize("mode", ["strict", True])
def test_snr_fast_paths_non_finite_gradient_in_any_block(
    small_blocks, impl, where, mode, request
):
    needs(impl, request)

    def six_steps():
        params = [
            torch.linspace(-1, 1, 40, dtype=F64).requires_grad_(),
            make_param((3,), "plain"),
        ]
        opt = O.SNR(params, impl=impl, check_finite=mode, **SNR_KW)
        for t in range(6):
            for p in params:
                p.grad = 0.5 + 0.1 * t * torch.ones_like(p)
            opt.step()
        for p in params:
            p.grad = p.grad.clone()
        return params, opt

    params, opt = six_steps()
    twin, twin_opt = six_steps()
    before = snapshot(params, opt)
    params[0].grad[where] = math.nan
    twin[0].grad[where] = 0.3
    with pytest.raises(
        FloatingPointError, match="parameter 0 in group 0 has 1 non-finite"
    ):
        opt.step()
    if mode == "strict":
        assert_unchanged(params, opt, before)
    else:
        twin_opt.step()
        masks = [torch.arange(40) == where, torch.zeros(3, dtype=torch.bool)]
        assert_frozen(params, opt, before, masks, twin, twin_opt)


# ---------------------------------------------------------------------------------------
# The fused C++ steps (lab.optim._fused): the reference's arithmetic in one pass over memory.
# ---------------------------------------------------------------------------------------

# torch's AVX2/AVX-512 kernels round once per op and lerp with one FMA, as the C++ Adam
# step does, so Adam's averages are equal bit for bit there; its parameter may differ in
# the last bit, where torch's sqrt (MKL) is not correctly rounded and the C++ one is.
# SNR's C++ step rearranges the equations to fewer operations: bit for bit during
# warm-up, round-off after. Elsewhere: round-off, compounded over 12 steps.
BITWISE = platform.machine().lower() in (
    "x86_64",
    "amd64",
) and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
ROUND_OFF = {torch.float64: TIGHT, torch.float32: dict(rtol=1e-5, atol=1e-5)}
# One ulp of Adam's denominator per step changes the parameter by ulp * lr * |mu|/denom
# (about 2^-24 * lr in float32); over 12 steps well under 1e-6.
ADAM_ROUND_OFF = {torch.float64: TIGHT, torch.float32: dict(rtol=1e-6, atol=1e-6)}

# Several 16384-element blocks with ragged ends (and enough work for two threads),
# small tensors, a 0-d one, and a non-contiguous one (stepped through a contiguous copy).
FUSED_SHAPES = [
    ((201, 200), "plain"),
    ((3, 4), "plain"),
    ((4, 3), "transposed"),
    ((), "plain"),
    ((16385,), "plain"),
]


@pytest.fixture
def no_compiler(monkeypatch):
    """lab.optim._fused as on a machine without a C++ compiler (or ninja)."""

    def fail():
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(_fused, "_load", fail)
    _fused.ops.cache_clear()
    yield
    _fused.ops.cache_clear()


def fused_params(dtype, seed=0):
    return [
        make_param(s, k, seed + i).detach().to(dtype).requires_grad_()
        for i, (s, k) in enumerate(FUSED_SHAPES)
    ]


def fused_grads(params, masks, g):
    """Noisy gradients, except noise-free (constant) and dead (zero) coordinates."""
    out = []
    for p, (constant, dead) in zip(params, masks):
        gr = (0.5 + torch.randn(p.shape, generator=g, dtype=F64)) * (
            1 + 5 * torch.rand(p.shape, generator=g, dtype=F64)
        )
        gr = torch.where(constant, 0.7, torch.where(dead, 0.0, gr))
        out.append(torch.empty_like(p).copy_(gr))  # p's layout and dtype
    return out


def assert_steps_equal(
    runs,
    state_names,
    dtype,
    bitwise_state,
    bitwise_params,
    param_round_off=None,
    state_round_off=None,
):
    (pr, opt_r), (pf, opt_f) = runs
    for a, b in zip(pr, pf):
        if bitwise_params:
            assert torch.equal(b, a)
        else:
            torch.testing.assert_close(
                b, a, **(param_round_off or ADAM_ROUND_OFF[dtype])
            )
        for key in state_names:
            if bitwise_state:
                assert torch.equal(opt_f.state[b][key], opt_r.state[a][key])
            else:
                torch.testing.assert_close(
                    opt_f.state[b][key],
                    opt_r.state[a][key],
                    **(state_round_off or ROUND_OFF[dtype]),
                )
        assert opt_f.state[b]["step"] == opt_r.state[a]["step"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("second_moment", ["batch", "examples"])
@pytest.mark.parametrize(
    "K, lr, eta_max", [(3, 1.0, None), (0, 0.3, None), (1, 2.0, 0.1)]
)
def test_fused_snr_equals_reference_every_step(
    fused_ops, dtype, second_moment, K, lr, eta_max
):
    # Bit for bit during warm-up (the same lerps). After it the C++ step rearranges the
    # equations, so in float64 the two agree to 1e-12; in float32 the fused step must be
    # as close to a float64 run of the reference as the float32 reference is (v = s~ - g~^2
    # cancels, so both carry round-off far above one ulp at a few coordinates: both stay
    # within 1e-4 of the largest value, neither closer than the other everywhere).
    kw = dict(SNR_KW, K=K, lr=lr, eta_max=eta_max, second_moment=second_moment)
    g = torch.Generator().manual_seed(K)
    runs = []
    for impl, dt in (("reference", dtype), ("fused", dtype), ("reference", F64)):
        params = [p.detach().to(dt).requires_grad_() for p in fused_params(dtype)]
        runs.append((params, O.SNR(params, impl=impl, **kw)))
    masks = [
        (torch.rand(p.shape, generator=g) < 0.2, torch.rand(p.shape, generator=g) < 0.1)
        for p in runs[0][0]
    ]
    names = ("g_tilde", "s_tilde")
    for _ in range(12):
        grads = fused_grads(runs[0][0], masks, g)
        sqs = [
            gr * gr * (1 + torch.rand(gr.shape, generator=g, dtype=F64)).to(dtype)
            for gr in grads
        ]
        for params, opt in runs:
            for p, gr, sq in zip(params, grads, sqs):
                p.grad, p.grad_sq = gr.to(p.dtype), sq.to(p.dtype)
            opt.step()
        warm_up = runs[1][1].state[runs[1][0][0]]["step"] <= K
        if (BITWISE and warm_up) or dtype == F64:
            assert_steps_equal(
                runs[:2],
                names,
                dtype,
                BITWISE and warm_up,
                BITWISE and warm_up,
                TIGHT,
                TIGHT,
            )
            continue
        (pr, opt_r), (pf, opt_f), (pt, opt_t) = runs
        for a, b, truth in zip(pr, pf, pt):
            pairs = [(a, b, truth)] + [
                (opt_r.state[a][k], opt_f.state[b][k], opt_t.state[truth][k])
                for k in names
            ]
            for ref, fused, exact in pairs:
                err_ref = (ref.double() - exact).abs().max()
                err_fused = (fused.double() - exact).abs().max()
                bound = 1e-4 * exact.abs().max()  # measured: at most 3.5e-5 for either
                assert err_ref <= bound and err_fused <= bound, (
                    err_fused,
                    err_ref,
                    bound,
                )
    # The caps were reached: eta_max at the noise-free coordinates.
    p, opt = runs[1][0][0], runs[1][1]
    cap = opt._eta_max(opt.param_groups[0])
    assert (opt.eta(p) == cap).any() and (opt.eta(p) < cap).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias_correction", ["min", "adam", "none"])
@pytest.mark.parametrize("eps", [1e-8, 0.0])
def test_fused_adam_equals_reference_every_step(fused_ops, dtype, bias_correction, eps):
    kw = dict(lr=0.01, N_g=5, N_s=30, eps=eps, bias_correction=bias_correction)
    g = torch.Generator().manual_seed(0)
    runs = []
    for impl in ("reference", "fused"):
        params = fused_params(dtype)
        runs.append((params, O.Adam(params, impl=impl, **kw)))
    masks = [
        (torch.rand(p.shape, generator=g) < 0.2, torch.rand(p.shape, generator=g) < 0.1)
        for p in runs[0][0]
    ]
    for _ in range(12):
        grads = fused_grads(runs[0][0], masks, g)
        for params, opt in runs:
            for p, gr in zip(params, grads):
                p.grad = gr.clone()
            opt.step()
        assert_steps_equal(runs, ("mu", "s"), dtype, BITWISE, False)
    # Dead coordinates (all gradients 0, eps = 0) stay put instead of turning NaN.
    assert all(torch.isfinite(p).all() for p in runs[1][0])


SIMPLE_STATE = {
    "SGD": (),
    "Momentum": ("v",),
    "AveragedMomentum": ("mu",),
    "RMSProp": ("s",),
}
STEP_OPS = {
    "SGD": "sgd_step",
    "Momentum": "momentum_step",
    "AveragedMomentum": "averaged_momentum_step",
    "RMSProp": "rmsprop_step",
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", SIMPLE_STATE)
def test_fused_simple_steps_equal_reference_every_step(fused_ops, dtype, name):
    # Op for op the reference: bit for bit where torch rounds once per op (RMSProp's
    # parameter up to its sqrt's last bit, as Adam's), with a changing learning rate.
    cls, _, kw = CASES[name]
    g = torch.Generator().manual_seed(0)
    runs = []
    for impl in ("reference", "fused"):
        params = fused_params(dtype)
        opt = cls(params, impl=impl, **kw)
        runs.append(
            (params, opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9))
        )
    masks = [
        (torch.rand(p.shape, generator=g) < 0.2, torch.rand(p.shape, generator=g) < 0.1)
        for p in runs[0][0]
    ]
    for _ in range(12):
        grads = fused_grads(runs[0][0], masks, g)
        for params, opt, schedule in runs:
            for p, gr in zip(params, grads):
                p.grad = gr.clone()
            opt.step()
            schedule.step()
        assert_steps_equal(
            [r[:2] for r in runs],
            SIMPLE_STATE[name],
            dtype,
            BITWISE,
            BITWISE and name != "RMSProp",
        )


def test_fused_simple_steps_need_the_kernel(no_compiler):
    p = make_param((3,), "plain")
    p.grad = torch.ones_like(p)
    for name in SIMPLE_STATE:
        cls, _, kw = CASES[name]
        with (
            pytest.warns(RuntimeWarning) if name == "SGD" else contextlib.nullcontext()
        ):
            with pytest.raises(
                RuntimeError, match="impl='fused': lab's C\\+\\+ step could not"
            ):
                cls([p], impl="fused", **kw).step()
        cls([p], **kw).step()  # auto: foreach


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_all_finite_is_exact(fused_ops, dtype):
    info = torch.finfo(dtype)
    x = torch.zeros(40_000, dtype=dtype)
    finite = [
        info.max,
        -info.max,
        info.tiny,
        -0.0,
        torch.nextafter(
            torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype)
        ).item(),
    ]
    for value in finite:
        y = x.clone()
        y[::7] = value
        assert fused_ops.all_finite([x, y])
    for value in (math.nan, -math.nan, math.inf, -math.inf):
        for where in (0, 16383, 16384, 39_999):
            y = x.clone()
            y[where] = value
            assert not fused_ops.all_finite([x, y])
    assert fused_ops.all_finite([])


@pytest.mark.parametrize(
    "name, where",
    [
        (name, where)
        for name in ("Adam-min", "SNR")
        for where in ((0, 0, 0), (0, 0, -1), (1, 0, 5))
    ]
    + [("SNR", (0, 1, "grad_sq"))],
)
@pytest.mark.parametrize("mode", ["strict", True])
def test_fused_non_finite_gradient(fused_ops, name, where, mode):
    # A NaN anywhere (first or last element of a multi-block tensor, a later group whose
    # step would come second, SNR's grad_sq): "strict" stops the step before any group
    # moves; True freezes that one coordinate and steps every other.
    cls, _, kw = CASES[name]
    gi, pi, index = where
    kw = dict(kw, second_moment="examples") if index == "grad_sq" else kw

    def six_steps():
        groups = [
            [make_param((201, 200), "plain", 0), make_param((7,), "plain", 1)],
            [make_param((16385,), "plain", 2)],
        ]
        opt = cls(
            [{"params": groups[0]}, {"params": groups[1], "lr": 0.02}],
            impl="fused",
            check_finite=mode,
            **kw,
        )
        params = groups[0] + groups[1]
        for t in range(6):
            for p in params:
                p.grad = 0.5 + 0.1 * t * torch.ones_like(p)
                p.grad_sq = p.grad**2 * 1.5
            opt.step()
        for p in params:
            p.grad, p.grad_sq = p.grad.clone(), p.grad_sq.clone()
        return groups, params, opt

    groups, params, opt = six_steps()
    twin_groups, twin, twin_opt = six_steps()
    before = snapshot(params, opt)
    flat = 3 if index == "grad_sq" else index
    for gs, value in ((groups, math.nan), (twin_groups, 0.3)):
        target = gs[gi][pi]
        (target.grad_sq if index == "grad_sq" else target.grad).view(-1)[flat] = value
    with pytest.raises(
        FloatingPointError, match=f"parameter {pi} in group {gi} has 1 non-finite"
    ):
        opt.step()
    if mode == "strict":
        assert_unchanged(params, opt, before)
        return
    twin_opt.step()
    masks = [torch.zeros(p.shape, dtype=torch.bool) for p in params]
    masks[[p is groups[gi][pi] for p in params].index(True)].view(-1)[flat] = True
    assert_frozen(params, opt, before, masks, twin, twin_opt)


def test_auto_takes_the_fused_step_for_contiguous_cpu_tensors(fused_ops, monkeypatch):
    calls = []

    class Spy:
        def __getattr__(self, name):
            op = getattr(fused_ops, name)
            return lambda *args: calls.append((name, len(args[0]))) or op(*args)

    monkeypatch.setattr(_fused, "ops", lambda: Spy())
    cases = [(O.Adam, {}, "adam_step"), (O.SNR, SNR_KW, "snr_step")] + [
        (CASES[name][0], CASES[name][2], STEP_OPS[name]) for name in SIMPLE_STATE
    ]
    for cls, kw, step_op in cases:
        calls.clear()
        params = [make_param((5,), "plain", 0), make_param((3, 2), "transposed", 1)]
        for p in params:
            p.grad = torch.ones_like(p)
        cls(params, **kw).step()
        # One call steps every parameter, checking each gradient as it reads it.
        assert calls == [(step_op, 2)]
        calls.clear()
        cls(params, check_finite="strict", **kw).step()
        # One call reads every gradient before anything is written (whether each is
        # finite, and the largest magnitude, which bounds the step), one steps.
        assert calls == [("abs_max", 2), (step_op, 2)]
        calls.clear()
        cls(params, impl="foreach", **kw).step()
        assert calls == []


def test_without_a_compiler_auto_falls_back_with_one_warning(no_compiler):
    with pytest.warns(
        RuntimeWarning, match="could not build the fused CPU kernels"
    ) as record:
        for name in ("Adam-min", "SNR"):
            cls, _, kw = CASES[name]
            runs = []
            for impl in ("reference", "auto"):
                params = [make_param(s, k, i) for i, (s, k) in enumerate(MIXED_SHAPES)]
                runs.append((params, cls(params, impl=impl, **kw)))
            g = torch.Generator().manual_seed(0)
            for _ in range(6):
                grads = [grad_like(p, g) for p in runs[0][0]]
                for params, opt in runs:
                    for p, gr in zip(params, grads):
                        p.grad = gr.clone()
                    opt.step()
            for a, b in zip(runs[0][0], runs[1][0]):
                torch.testing.assert_close(b, a, **TIGHT)
    assert sum("could not build" in str(w.message) for w in record) == 1
    p = make_param((3,), "plain")
    p.grad = torch.ones_like(p)
    with pytest.raises(RuntimeError, match="could not be built"):
        O.SNR([p], impl="fused", **SNR_KW).step()
    O.Adam([p], impl="fused").step()  # torch's fused kernel


def test_lab_fused_0_skips_the_build_silently_and_steps_with_foreach(monkeypatch):
    # LAB_FUSED=0: no compiler is run (a build would fail here) and no warning is given.
    def fail():
        raise AssertionError("the C++ step was built although LAB_FUSED=0")

    monkeypatch.setenv("LAB_FUSED", "0")
    monkeypatch.setattr(_fused, "_load", fail)
    _fused.ops.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _fused.ops() is None
            params = [make_param((5,), "plain"), make_param((3, 2), "transposed", 1)]
            ref = [p.detach().clone().requires_grad_() for p in params]
            for ps, impl in ((params, "auto"), (ref, "reference")):
                for q in ps:
                    q.grad = torch.ones_like(q)
                O.SNR(ps, impl=impl, **SNR_KW).step()
            for a, b in zip(params, ref):
                torch.testing.assert_close(a, b, **TIGHT)
    finally:
        _fused.ops.cache_clear()


# ---------------------------------------------------------------------------------------
# CUDA.
# ---------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_equals_cpu(name, dtype):
    cls, _, kw = CASES[name]
    result = {}
    for device in ("cpu", "cuda"):
        params = [
            make_param(s, k, i).detach().to(device, dtype).requires_grad_()
            for i, (s, k) in enumerate(MIXED_SHAPES)
        ]
        opt = cls(params, **kw)
        g = torch.Generator().manual_seed(0)
        for _ in range(10):
            for p in params:
                p.grad = (0.5 + torch.randn(p.shape, generator=g, dtype=F64)).to(
                    device, dtype
                )
            opt.step()
        result[device] = [p.detach().cpu() for p in params]
    tol = TIGHT if dtype == F64 else dict(rtol=1e-5, atol=1e-5)
    for a, b in zip(result["cpu"], result["cuda"]):
        torch.testing.assert_close(b, a, **tol)

"""lab.optim's contract under hostile input: every step all or nothing.

Hyperparameters are checked at every step, in ``add_param_group`` and in
``load_state_dict`` before anything changes; a finite gradient whose step overflows is
treated like a non-finite one, the same way on every ``impl``; the public update
functions check their hyperparameters like the classes.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import optim as O
from lab.optim import _fused

F32 = torch.float32
FROZEN = "kept their parameter and state; every other coordinate took this step"
UNCHANGED = "no parameter or state was changed"
SNR_KW = dict(batch_size=4, lambda_eta=0.05, K=2)
# lr large enough that 100 x 3e38 overflows float32 in the step of the three
# optimizers without a square.
CLASSES = {
    "SGD": (O.SGD, dict(lr=100.0)),
    "Momentum": (O.Momentum, dict(lr=100.0, N=10)),
    "AveragedMomentum": (O.AveragedMomentum, dict(lr=100.0, N=10)),
    "RMSProp": (O.RMSProp, dict(lr=0.01, N_s=20)),
    "Adam": (O.Adam, dict(lr=0.01)),
    "SNR": (O.SNR, SNR_KW),
}
IMPLS = ["reference", "foreach", "fused", "auto"]


def needs(cls, impl):
    """Skip impl="fused" where lab's C++ kernels cannot be built (Adam falls back to
    torch's fused kernel)."""
    if impl == "fused" and cls is not O.Adam and _fused.ops() is None:
        pytest.skip("lab.optim._fused could not be built here")


def model(dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(4, generator=g, dtype=dtype).requires_grad_(),
        torch.randn(3, 2, generator=g, dtype=dtype).requires_grad_(),
    ]


def stepped(name, impl, dtype=torch.float64, steps=3, **extra):
    """A model and its optimizer after a few ordinary steps."""
    cls, kw = CLASSES[name]
    params = model(dtype)
    opt = cls(params, impl=impl, **dict(kw, **extra))
    for t in range(steps):
        for p in params:
            p.grad = torch.full_like(p, 0.5 + 0.1 * t)
        opt.step()
    return params, opt


def snapshot(params, opt):
    return (
        [p.detach().clone() for p in params],
        copy.deepcopy(opt.state_dict()),
        copy.deepcopy(
            [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        ),
    )


def assert_same(before, params, opt):
    ps, sd, groups = before
    for p, q in zip(params, ps):
        assert torch.equal(p, q)
    now = opt.state_dict()
    assert now["state"].keys() == sd["state"].keys()
    for i, entry in sd["state"].items():
        assert now["state"][i].keys() == entry.keys()
        for k, v in entry.items():
            w = now["state"][i][k]
            assert torch.equal(w, v) if isinstance(v, torch.Tensor) else w == v
    assert [
        {k: v for k, v in g.items() if k != "params"} for g in opt.param_groups
    ] == groups


# ---------------------------------------------------------------------------------------
# Hyperparameters: checked at every step, before anything changes.
# ---------------------------------------------------------------------------------------

BAD_LR = [math.nan, math.inf, -1.0, 1e308, "0.1", None, True]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("bad", BAD_LR, ids=repr)
def test_lr_changed_after_construction_raises_naming_group_and_range(name, impl, bad):
    needs(CLASSES[name][0], impl)
    params, opt = stepped(name, impl)
    opt.add_param_group(
        {"params": [torch.zeros(2, dtype=torch.float64, requires_grad=True)]}
    )
    opt.param_groups[1]["params"][0].grad = torch.ones(2, dtype=torch.float64)
    before = snapshot(params, opt)
    opt.param_groups[1]["lr"] = bad
    with pytest.raises(ValueError, match=r"param group 1: lr must be .*<= 1e\+06"):
        opt.step()
    opt.param_groups[1]["lr"] = before[2][1]["lr"]
    assert_same(before, params, opt)


SNR_BAD = [
    ("batch_size", 1e308, "batch_size must be an integer >= 1 and <= 2147483647"),
    ("batch_size", True, "batch_size must be an integer"),
    ("batch_size", 2.5, "batch_size must be an integer"),
    ("lambda_B", 1e308, r"lambda_B must be > 0 and <= 1e\+12"),
    ("lambda_eta", 1e308, r"lambda_eta must be > 0 and <= 1e\+12"),
    ("lambda_eta", 1e-300, r"lambda_eta must be >= 1e-12"),
    ("eps", 1e308, r"eps must be > 0 and <= 1e\+06"),
    ("eps", 1e-45, r"eps must be >= 1e-30"),
    ("K", 1e308, "K must be an integer >= 0 and <= 1000000000"),
    ("eta_max", 1e308, r"eta_max must be > 0 and <= 1e\+12"),
    ("lr", 1e308, r"lr must be >= 0 and <= 1e\+06"),
    ("second_moment", "both", "second_moment must be one of"),
]


@pytest.mark.parametrize("key, value, match", SNR_BAD)
def test_snr_hyperparameters_are_bounded_at_construction_and_every_step(
    key, value, match
):
    with pytest.raises(ValueError, match=match):
        O.SNR(model(), **dict(SNR_KW, **{key: value}))
    params, opt = stepped("SNR", "auto")
    before = snapshot(params, opt)
    opt.param_groups[0][key] = value
    with pytest.raises(ValueError, match=f"SNR param group 0: {match}"):
        opt.step()
    opt.param_groups[0][key] = before[2][0][key]
    assert_same(before, params, opt)


@pytest.mark.parametrize(
    "name, key, value",
    [
        ("Momentum", "N", 0.5),
        ("Momentum", "N", math.nan),
        ("RMSProp", "eps", -1.0),
        ("RMSProp", "N_s", math.inf),
        ("Adam", "bias_correction", "kingma"),
        ("Adam", "N_g", None),
        ("Adam", "impl", "compiled"),
        ("Adam", "check_finite", "bogus"),
        ("SGD", "check_finite", 1),
    ],
)
def test_other_hyperparameters_changed_after_construction_raise(name, key, value):
    params, opt = stepped(name, "auto")
    before = snapshot(params, opt)
    opt.param_groups[0][key] = value
    with pytest.raises(ValueError, match=f"{name} param group 0: {key}"):
        opt.step()
    opt.param_groups[0][key] = before[2][0][key]
    assert_same(before, params, opt)


def test_foreach_adam_with_huge_lr_raises_before_mu_and_step_change():
    # The issue's case: torch's "value cannot be converted to type float without
    # overflow" came after mu and step were updated.
    params, opt = stepped("Adam", "foreach", dtype=F32)
    before = snapshot(params, opt)
    opt.param_groups[0]["lr"] = 1e308
    with pytest.raises(ValueError, match="lr must be"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.01
    assert_same(before, params, opt)


@pytest.mark.parametrize("name", CLASSES)
def test_add_param_group_out_of_range_adds_nothing(name):
    params, opt = stepped(name, "auto")
    b = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="add_param_group: lr must be >= 0"):
        opt.add_param_group({"params": [b], "lr": -1})
    assert len(opt.param_groups) == 1
    b.grad = torch.ones_like(b)
    opt.step()
    assert torch.equal(b, torch.ones(3, dtype=torch.float64))


# ---------------------------------------------------------------------------------------
# load_state_dict: everything checked first, nothing changed when a check fails.
# ---------------------------------------------------------------------------------------


def _saved(name="Adam"):
    return copy.deepcopy(stepped(name, "auto")[1].state_dict())


def _edit_state(fn):
    def edit(sd):
        fn(sd["state"][0])
        return sd

    return edit


def _edit_group(key, value):
    def edit(sd):
        sd["param_groups"][0][key] = value
        return sd

    return edit


LOAD_CASES = {
    "SGD's state": (lambda sd: _saved("SGD"), "hyperparameters"),
    "SNR's state": (lambda sd: _saved("SNR"), "hyperparameters"),
    "a key missing": (_edit_state(lambda s: s.pop("mu")), "keys"),
    "an extra key": (_edit_state(lambda s: s.update(v=s["mu"])), "keys"),
    "wrong shape": (_edit_state(lambda s: s.update(mu=torch.zeros(5))), "shape"),
    "int tensor": (
        _edit_state(lambda s: s.update(mu=torch.zeros(4, dtype=torch.int64))),
        "float",
    ),
    "NaN in state": (_edit_state(lambda s: s["mu"].fill_(math.nan)), "inf or NaN"),
    "negative s": (_edit_state(lambda s: s["s"].fill_(-1.0)), "negative"),
    "step -1": (_edit_state(lambda s: s.update(step=-1)), "step must be an integer"),
    "step True": (
        _edit_state(lambda s: s.update(step=True)),
        "step must be an integer",
    ),
    "lr nan": (_edit_group("lr", math.nan), "lr must be finite"),
    "lr 1e308": (_edit_group("lr", 1e308), "lr must be"),
    "check_finite bogus": (
        _edit_group("check_finite", "bogus"),
        "check_finite must be",
    ),
    "missing group key": (
        lambda sd: (sd["param_groups"][0].pop("N_g"), sd)[1],
        "hyperparameters",
    ),
    "two groups": (
        lambda sd: dict(sd, param_groups=sd["param_groups"] * 2),
        "param groups",
    ),
    "unknown parameter": (
        lambda sd: (sd["state"].update({7: sd["state"][0]}), sd)[1],
        "no param group",
    ),
    "not a dict": (lambda sd: [sd], "needs a dict"),
}


@pytest.mark.parametrize("case", LOAD_CASES)
def test_load_state_dict_checks_everything_first_and_changes_nothing(case):
    edit, match = LOAD_CASES[case]
    params, opt = stepped("Adam", "auto", steps=2)
    before = snapshot(params, opt)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(edit(_saved("Adam")))
    assert_same(before, params, opt)
    # The optimizer still steps as before.
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()


@pytest.mark.parametrize("name", CLASSES)
def test_state_survives_state_dict_and_load_exactly(name):
    params, opt = stepped(name, "auto", steps=4)
    twin = [p.detach().clone().requires_grad_() for p in params]
    cls, kw = CLASSES[name]
    opt2 = cls(twin, **kw)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for o, ps in ((opt, params), (opt2, twin)):
        for p in ps:
            p.grad = torch.full_like(p, -0.3)
        o.step()
    for a, b in zip(params, twin):
        assert torch.equal(a, b)
        for k, v in opt.state[a].items():
            w = opt2.state[b][k]
            assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w


# ---------------------------------------------------------------------------------------
# A finite gradient whose step overflows: treated like a non-finite one, on every impl.
# ---------------------------------------------------------------------------------------

HUGE = [3e38, -1.0, 2.0, 1e30]
# Where the step overflows float32: 100 x 3e38 for the three without a square; the
# squares of 3e38 and 1e30 for RMSProp, Adam and SNR.
OVERFLOWS = {
    "SGD": [True, False, False, False],
    "Momentum": [True, False, False, False],
    "AveragedMomentum": [True, False, False, False],
    "RMSProp": [True, False, False, True],
    "Adam": [True, False, False, True],
    "SNR": [True, False, False, True],
}


def _huge_step(name, impl, mode):
    params, opt = stepped(name, impl, dtype=F32, check_finite=mode)
    params[0].grad = torch.tensor(HUGE, dtype=F32)
    params[1].grad = torch.full_like(params[1], 0.5)
    return params, opt


def _finite_state(params, opt):
    return all(torch.isfinite(p).all() for p in params) and all(
        torch.isfinite(v).all()
        for p in params
        for v in opt.state[p].values()
        if isinstance(v, torch.Tensor)
    )


@pytest.mark.parametrize("name", CLASSES)
def test_overflowing_finite_gradient_is_kept_alike_on_every_impl(name):
    cls = CLASSES[name][0]
    mask = torch.tensor(OVERFLOWS[name])
    results = {}
    for impl in IMPLS:
        if impl == "fused" and cls is not O.Adam and _fused.ops() is None:
            continue
        params, opt = _huge_step(name, impl, True)
        before = snapshot(params, opt)
        with pytest.raises(
            FloatingPointError,
            match=f"parameter 0 in group 0 has {int(mask.sum())} non-finite.*{FROZEN}",
        ):
            opt.step()
        assert _finite_state(params, opt)
        # The overflowing coordinates kept parameter and state; the others moved.
        p0 = before[0][0]
        assert torch.equal(params[0][mask], p0[mask])
        assert not torch.equal(params[0][~mask], p0[~mask]) or name == "SNR"
        for k, v in opt.state[params[0]].items():
            if isinstance(v, torch.Tensor):
                old = before[1]["state"][0][k]
                assert torch.equal(v[mask], old[mask])
        results[impl] = (
            [p.detach().clone() for p in params],
            {
                k: v.clone()
                for k, v in opt.state[params[0]].items()
                if isinstance(v, torch.Tensor)
            },
        )
    # The same numbers on every impl (up to float32 round-off between the foreach and
    # the reference arithmetic: 1e-6 relative, a few ulp).
    ref_params, ref_state = results["reference"]
    for ps, state in results.values():
        for a, b in zip(ps, ref_params):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
        for k in state:
            torch.testing.assert_close(state[k], ref_state[k], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", CLASSES)
def test_overflowing_finite_gradient_strict_changes_nothing(name, impl):
    needs(CLASSES[name][0], impl)
    params, opt = _huge_step(name, impl, "strict")
    before = snapshot(params, opt)
    with pytest.raises(
        FloatingPointError, match=f"parameter 0 in group 0 .*{UNCHANGED}"
    ):
        opt.step()
    assert_same(before, params, opt)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", CLASSES)
def test_overflowing_step_from_huge_lr_is_kept(name, impl):
    # lr at its bound and a gradient of 1e34: the step itself overflows float32.
    needs(CLASSES[name][0], impl)
    params, opt = stepped(name, impl, dtype=F32)
    opt.param_groups[0]["lr"] = 1e6
    if name == "SNR":
        opt.param_groups[0]["eta_max"] = 1e12
    for p in params:
        p.grad = torch.full_like(p, 1e34)
    with pytest.raises(FloatingPointError, match=FROZEN):
        opt.step()
    assert _finite_state(params, opt)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", CLASSES)
def test_a_parameter_already_inf_is_left_alone_on_every_impl(name, impl):
    # The rule is "a finite parameter made non-finite": one that already was is no
    # error on any impl (a non-finite gradient still is).
    needs(CLASSES[name][0], impl)
    params, opt = stepped(name, impl)
    with torch.no_grad():
        params[0][1] = math.inf
    for p in params:
        p.grad = torch.full_like(p, 0.25)
    opt.step()
    assert params[0][1] == math.inf
    assert all(
        torch.isfinite(v).all()
        for v in opt.state[params[0]].values()
        if isinstance(v, torch.Tensor)
    )


# Every case of the rule in one tensor, spread over two of the C++ step's blocks (16384
# elements each; a third has none): the C++ loop tests only the new values and settles a
# block where it kept anything (SNR's runs a block unchecked where its bounds allow), so
# each case must come out as the reference's rule gives it.
MIXED = {
    100: ("param", math.inf),  # already inf: steps (stays inf), its state moves
    101: ("param", -math.inf),
    102: ("param", math.nan),
    103: ("grad", math.nan),  # non-finite gradient: kept
    104: ("grad", math.inf),
    105: ("grad", 3e38),  # finite, but the step or a square overflows: kept
    16500: ("param", math.inf),  # an inf parameter with a non-finite gradient: kept
    16501: ("grad", -math.inf),
    20000: ("param", math.nan),  # alone in its block with finite gradients
}


@pytest.mark.parametrize("mode", [True, False])
@pytest.mark.parametrize("name", CLASSES)
def test_every_case_of_the_rule_in_one_tensor_alike_on_every_impl(name, mode):
    cls, kw = CLASSES[name]
    results = {}
    for impl in IMPLS:
        if impl == "fused" and cls is not O.Adam and _fused.ops() is None:
            continue
        g = torch.Generator().manual_seed(1)
        p = torch.randn(40_000, generator=g).requires_grad_()
        opt = cls([p], impl=impl, check_finite=mode, **kw)
        for _ in range(3):
            p.grad = torch.randn(p.shape, generator=g) * 0.1 + 0.5
            opt.step()
        grad = torch.randn(p.shape, generator=g) * 0.1 + 0.5
        with torch.no_grad():
            for i, (where, value) in MIXED.items():
                (p if where == "param" else grad)[i] = value
        p.grad = grad
        try:
            opt.step()
            message = None
        except FloatingPointError as error:
            message = str(error).split(" entries")[0]
        state = {k: v.clone() for k, v in opt.state[p].items() if torch.is_tensor(v)}
        results[impl] = (p.detach().clone(), state, message)
    p_ref, state_ref, message_ref = results["reference"]
    if mode:
        assert message_ref is not None
    for impl, (q, state, message) in results.items():
        assert message == message_ref, impl
        # Equal up to the float32 round-off of the foreach and C++ arithmetic, with inf
        # and NaN in the same places (unchecked, only non-finite in the same places: SNR's
        # C++ loop rearranges the equations, so an inf may come out as NaN).
        for a, b in [(q, p_ref)] + [(state[k], state_ref[k]) for k in state]:
            if not mode:
                assert torch.equal(torch.isfinite(a), torch.isfinite(b)), impl
                a, b = a.nan_to_num(0, 0, 0), b.nan_to_num(0, 0, 0)
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", CLASSES)
@given(
    exponent=st.integers(-40, 38),
    lr_exponent=st.integers(-6, 6),
    impl=st.sampled_from(["reference", "foreach", "auto"]),
    mode=st.sampled_from([True, "strict"]),
)
@settings(max_examples=25, deadline=None)
def test_no_step_leaves_a_non_finite_value_behind(
    name, exponent, lr_exponent, impl, mode
):
    # Gradients of every float32 magnitude and rates over the whole range: a step either
    # completes with finite values or raises FloatingPointError, and the values stay
    # finite either way.
    params, opt = stepped(name, impl, dtype=F32, check_finite=mode)
    opt.param_groups[0]["lr"] = 10.0**lr_exponent
    g = torch.Generator().manual_seed(exponent + 100)
    for _ in range(3):
        for p in params:
            p.grad = (torch.randn(p.shape, generator=g) * 10.0**exponent).to(F32)
        try:
            opt.step()
        except FloatingPointError:
            pass
        assert _finite_state(params, opt)


# ---------------------------------------------------------------------------------------
# Exceptions inside a step.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSES)
def test_an_exception_inside_a_step_puts_the_step_counts_back(name, monkeypatch):
    params, opt = stepped(name, "foreach")
    fresh = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt.add_param_group({"params": [fresh]})
    before = snapshot(params, opt)
    for p in params + [fresh]:
        p.grad = torch.ones_like(p)

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(type(opt), "_foreach", fail)
    monkeypatch.setattr(type(opt), "_fast", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        opt.step()
    assert_same(before, params, opt)
    assert len(opt.state[fresh]) == 0


def test_fused_impl_that_cannot_run_raises_before_any_group_steps(monkeypatch):
    # Group 0 could step; group 1 asks for the C++ step, which is missing: nothing moves.
    monkeypatch.setattr(_fused, "ops", lambda: None)
    params, opt = stepped("SGD", "auto")
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt.add_param_group({"params": [b], "impl": "fused"})
    before = snapshot(params, opt)
    for p in params + [b]:
        p.grad = torch.ones_like(p)
    with pytest.raises(RuntimeError, match="impl='fused'"):
        opt.step()
    assert_same(before, params, opt)


# ---------------------------------------------------------------------------------------
# The public update functions check their hyperparameters like the classes.
# ---------------------------------------------------------------------------------------

t3 = torch.ones(3)
UPDATE_CASES = [
    (lambda: O.sgd_update(t3.clone(), t3, lr=math.nan), "lr must be finite"),
    (lambda: O.sgd_update(t3.clone(), t3, lr=-1), "lr must be >= 0"),
    (
        lambda: O.momentum_update(t3.clone(), t3, t3.clone(), lr=0.1, N=0),
        "N must be in",
    ),
    (
        lambda: O.averaged_momentum_update(t3.clone(), t3, t3.clone(), lr=0.1, N=None),
        "N must be",
    ),
    (
        lambda: O.rmsprop_update(t3.clone(), t3, t3.clone(), lr=0.1, N_s=10, eps=-1),
        "eps must be",
    ),
    (
        lambda: O.adam_update(
            t3.clone(), t3, t3.clone(), t3.clone(), lr=0.1, w_g=2, w_s=0.1, eps=0
        ),
        "w_g must be",
    ),
    (lambda: O.snr_variance(t3, t3, batch_size=0), "batch_size must be an integer"),
    (lambda: O.snr_variance(t3, t3, 4, second_moment="x"), "second_moment must be"),
    (
        lambda: O.snr_batch_size_star(
            t3, t3, 5, batch_size=4, lambda_B=1e308, K=2, eps=1e-8
        ),
        "lambda_B must be",
    ),
    (
        lambda: O.snr_weight(t3, t3, 5, batch_size=4, lambda_B=16, K=2, eps=0),
        "eps must be > 0",
    ),
    (
        lambda: O.snr_learning_rate(
            t3, t3, -1, batch_size=4, lambda_eta=0.1, K=2, eta_max=1
        ),
        "t must be an integer",
    ),
    (
        lambda: O.snr_update(
            t3.clone(),
            t3,
            t3.clone(),
            t3.clone(),
            1,
            batch_size=4,
            lambda_eta=0.1,
            lambda_B=16,
            K=2,
            eps=1e-8,
            eta_max=math.nan,
        ),
        "eta_max must be finite",
    ),
]


@pytest.mark.parametrize("call, match", UPDATE_CASES)
def test_update_functions_check_their_hyperparameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()

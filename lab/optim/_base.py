"""What every optimizer of :mod:`lab.optim` shares: param groups, lazy state, the
non-finite check, and the dispatch to the reference, foreach and C++ steps.

A subclass names its state tensors and defines five small methods:

- ``_validate(group)``: check and normalise a group's hyperparameters (``_checks``);
- ``_next_bounds(group, G, SQ, M, lim)``: from bounds on the gradients' magnitude and on
  the state's, the state's bounds after a step, or None where the step's arithmetic
  might leave the finite range (see "All or nothing" below);
- ``_reference(group, p, g, state, grad_sq)``: one parameter, the function of
  :mod:`lab.optim.updates`;
- ``_foreach(group, ps, gs, sqs, states, step)``: a list of parameters, :mod:`._foreach`;
- ``_fused(ops, group, ps, gs, sqs, states, step, freeze)``: a list of float32/float64
  CPU parameters, the named C++ op of :mod:`._fused`; returns the count of non-finite
  gradient entries per tensor.

All or nothing. Every step first checks every group's hyperparameters, then every
gradient it will read; every error lab raises comes before the first write (and an
exception from torch itself puts the step counts back). A coordinate whose gradient is
inf or NaN, or whose step would make a state value inf or NaN, or a finite parameter
inf or NaN, is treated alike on every ``impl`` (kept, or the whole step undone under
``check_finite="strict"``). The C++ steps test each new value as they write it (SNR's,
bound by arithmetic, tests instead each gradient against the largest one the state's
bounds below allow). The
Python steps (reference, foreach) cannot afford another read of the parameters and the
state, so they keep, per group, device and dtype, an upper bound on the state's
magnitudes, updated from the gradients' (read by the finiteness check anyway) and the
hyperparameters: where the bounds show that no intermediate value can reach a
sixteenth of the dtype's largest number and no step can reach a sixteenth of half an ulp
of it (so that adding it to any finite parameter stays finite), the step runs as it is;
elsewhere it runs the same step on copies taken before, keeps the bad
coordinates and reads the state afresh (``eps=0`` in Adam, or gradients of about
:math:`10^{18}` in float32, take that path).
"""

from __future__ import annotations

import functools
import math
import operator

import torch
from torch.optim.optimizer import (
    _global_optimizer_post_hooks,
    _global_optimizer_pre_hooks,
)

from lab._checks import checked_in_group
from lab.optim import _foreach, _fused

IMPLS = ("auto", "reference", "foreach", "fused")
LOW_PRECISION = (torch.float16, torch.bfloat16)
SUPPORTED = (torch.float32, torch.float64) + LOW_PRECISION


def _check_impl(impl) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


def _check_mode(check_finite) -> None:
    if not (
        isinstance(check_finite, bool)
        or (isinstance(check_finite, str) and check_finite == "strict")
    ):
        raise ValueError(
            f"check_finite must be True, False or 'strict', got {check_finite!r}"
        )


_MISSING = object()  # a hyperparameter deleted from a group: checked (and refused)

# Bounds on the magnitudes a Python step may meet: 1 + SLACK covers a step's round-off.
SLACK = 2.0**-16


class Limits:
    """For parameters of ``dtype``: ``peak``, the largest magnitude allowed for any
    intermediate or state value (a sixteenth of the state dtype's largest number),
    ``step``, the largest change of a parameter (a sixteenth of its dtype's largest
    number times its epsilon: below half an ulp there, so a finite parameter stays
    finite), and ``tiny``, the state dtype's smallest normal number."""

    _cache: dict = {}

    def __init__(self, dtype: torch.dtype):
        state = torch.float32 if dtype in LOW_PRECISION else dtype
        p, s = torch.finfo(dtype), torch.finfo(state)
        self.peak = s.max / 16
        self.step = min(p.max * p.eps / 16, self.peak)
        self.tiny = s.tiny

    @classmethod
    def of(cls, dtype: torch.dtype) -> Limits:
        if dtype not in cls._cache:
            cls._cache[dtype] = cls(dtype)
        return cls._cache[dtype]


class LabOptimizer(torch.optim.Optimizer):
    """The machinery behind every optimizer of :mod:`lab.optim` (see its docstring for
    ``impl`` and ``check_finite``)."""

    _state_names: tuple[str, ...] = ()
    # State tensors that are averages of squares: a loaded state must be >= 0 there.
    _nonnegative_state: tuple[str, ...] = ()
    _impls = IMPLS
    _has_fused_cpu = True  # every optimizer has a C++ step in lab.optim._fused
    # Whether the C++ step takes the state's bounds (``_fused(..., known)``, returning the
    # counts and the bounds after the step): SNR's, whose loop is bound by arithmetic.
    _fused_bounds = False
    # Whether one step's weights depend on the state's step count (Adam's, SNR's), so
    # that parameters are stepped together only when their counts agree.
    _bucket_by_step = False

    def __init__(self, params, defaults: dict, impl: str, check_finite: bool | str):
        _check_impl(impl)
        _check_mode(check_finite)
        defaults = dict(defaults, impl=impl, check_finite=check_finite)
        self._validate(defaults)
        # (group index, device, dtype) -> {state name: bound on its magnitude}
        self._bounds: dict = {}
        # The hyperparameters' names (torch may add its own to self.defaults later), and
        # group index -> the values _check_groups last checked.
        self._hyper_keys = tuple(defaults)
        self._checked_values: dict = {}
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        raise NotImplementedError

    def _checked(self, group: dict, where: str) -> dict:
        """A checked, normalised copy of ``group``; a ``ValueError`` names ``where``."""
        out = dict(group)

        def check():
            _check_impl(out["impl"])
            _check_mode(out["check_finite"])
            self._validate(out)

        checked_in_group(f"{type(self).__name__} {where}", check)
        return out

    def _check_groups(self) -> None:
        """Every group's hyperparameters, checked before a step changes anything (a
        scheduler, or a user, may have set them since). The check normalises each
        value to a float, int, str, bool or None, none of which can change in place, so
        a group whose values are still the very objects it checked last time (the
        common step: one identity test per value) is not checked again."""
        keys = self._hyper_keys
        last = self._checked_values
        for gi, group in enumerate(self.param_groups):
            values = [group.get(k, _MISSING) for k in keys]
            seen = last.get(gi)
            if seen is not None and all(map(operator.is_, values, seen)):
                continue
            group.update(self._checked(group, f"param group {gi}"))
            last[gi] = [group.get(k, _MISSING) for k in keys]

    def add_param_group(self, param_group: dict) -> None:
        """Add a group; its hyperparameters (and the defaults it takes) are checked
        first, and nothing is added when they are out of range."""
        if isinstance(param_group, dict):
            trial = dict(self.defaults, **param_group)
            checked = self._checked(trial, "add_param_group")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for key in self.defaults:
            group[key] = checked[key]

    # State -------------------------------------------------------------------------
    @staticmethod
    def _state_dtype(p: torch.Tensor) -> torch.dtype:
        return torch.float32 if p.dtype in LOW_PRECISION else p.dtype

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = 0
            for name in self._state_names:
                state[name] = torch.zeros_like(
                    p, dtype=self._state_dtype(p), memory_format=torch.preserve_format
                )
        return state

    def _check_state_dict(self, state_dict) -> None:
        """Everything :meth:`load_state_dict` needs, checked before it changes anything."""
        name = type(self).__name__
        if not (
            isinstance(state_dict, dict)
            and isinstance(state_dict.get("state"), dict)
            and isinstance(state_dict.get("param_groups"), list)
        ):
            raise ValueError(
                f"{name}.load_state_dict needs a dict with 'state' (a dict) and "
                "'param_groups' (a list), as state_dict() returns"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state has {len(saved_groups)} param groups, "
                f"this optimizer {len(self.param_groups)}"
            )
        keys = set(self.defaults)
        params = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), list):
                raise ValueError(
                    f"{name}.load_state_dict: param group {gi} must be a dict with a "
                    "'params' list"
                )
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {gi} holds "
                    f"{len(saved['params'])} parameters in the state, "
                    f"{len(group['params'])} here"
                )
            got = set(saved) - {"params", "param_names"}
            if got != keys:
                raise ValueError(
                    f"{name}.load_state_dict: param group {gi} has the hyperparameters "
                    f"{sorted(got)}, a {name} has {sorted(keys)} (a state saved by "
                    "another optimizer?)"
                )
            self._checked(saved, f"state_dict param group {gi}")
            params.update(zip(saved["params"], group["params"]))
        names = {"step", *self._state_names}
        for pid, entry in state_dict["state"].items():
            where = f"{name}.load_state_dict: the state of parameter {pid!r}"
            if pid not in params:
                raise ValueError(f"{where} belongs to no param group")
            if not isinstance(entry, dict):
                raise ValueError(f"{where} must be a dict")
            if not entry:
                continue
            if set(entry) != names:
                raise ValueError(
                    f"{where} has the keys {sorted(entry)}, a {name} keeps "
                    f"{sorted(names)} (a state saved by another optimizer?)"
                )
            step = entry["step"]
            if isinstance(step, torch.Tensor) and step.numel() == 1:
                step = step.item()
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise ValueError(f"{where}: step must be an integer >= 0, got {step!r}")
            p = params[pid]
            for key in self._state_names:
                t = entry[key]
                if not isinstance(t, torch.Tensor) or t.dtype not in SUPPORTED:
                    raise ValueError(
                        f"{where}: {key} must be a float16, bfloat16, float32 or "
                        f"float64 tensor, got {type(t).__name__} "
                        f"{getattr(t, 'dtype', '')}".rstrip()
                    )
                if t.shape != p.shape:
                    raise ValueError(
                        f"{where}: {key} has shape {tuple(t.shape)}, the parameter "
                        f"{tuple(p.shape)}"
                    )
                if t.is_sparse or t.layout != torch.strided:
                    raise ValueError(f"{where}: {key} must be a dense tensor")
                if not bool(torch.isfinite(t).all()):
                    raise ValueError(f"{where}: {key} has inf or NaN entries")
                if key in self._nonnegative_state and bool((t < 0).any()):
                    raise ValueError(
                        f"{where}: {key} (an average of squares) has negative entries"
                    )

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state saved by :meth:`state_dict`; a resumed run is bitwise identical.

        Checked first, and nothing changes when a check fails (``ValueError``): the
        number of groups and parameters, the hyperparameters (names as this class's,
        values in range), and each parameter's state (this class's keys, a step count
        >= 0, floating tensors shaped like the parameter, finite; averages of squares
        >= 0). Tensors move to the parameter's device."""
        self._check_state_dict(state_dict)
        super().load_state_dict(state_dict)
        self._bounds.clear()
        # torch casts floating state to the parameter's dtype; half-precision
        # parameters keep float32 state, so restore the saved tensors unrounded.
        saved = state_dict["state"]
        ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        params = [p for g in self.param_groups for p in g["params"]]
        for i, p in zip(ids, params):
            if i in saved and p in self.state:
                for name in self._state_names:
                    if name in saved[i]:
                        self.state[p][name] = saved[i][name].to(
                            device=p.device, dtype=self._state_dtype(p), copy=True
                        )

    # Step --------------------------------------------------------------------------
    @staticmethod
    def profile_hook_step(func):
        """torch's wrapper of ``step`` (``torch.optim.Optimizer.profile_hook_step``: the
        step pre- and post-hooks, global and per optimizer, and the profiler's label),
        skipped where there is nothing for it to do (no hook, no profiler running):
        entering its ``record_function`` costs about 20 µs a step, a tenth of a step on
        a million parameters."""
        wrapped = torch.optim.Optimizer.profile_hook_step(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            self = args[0]
            if (
                torch.autograd._profiler_enabled()
                or _global_optimizer_pre_hooks
                or _global_optimizer_post_hooks
                or self._optimizer_step_pre_hooks
                or self._optimizer_step_post_hooks
            ):
                return wrapped(*args, **kwargs)
            out = func(*args, **kwargs)
            self._optimizer_step_code()
            return out

        return wrapper

    def _grad_sq(self, group, params) -> list | None:
        """The second tensor read per parameter besides its gradient (SNR's
        ``p.grad_sq``), or None."""
        return None

    def _collect(self):
        """Per group: (group, params, grads, grad_sq or None, parameter indices)."""
        work = []
        name = type(self).__name__
        for gi, group in enumerate(self.param_groups):
            params, grads, where = [], [], []
            for pi, p in enumerate(group["params"]):
                g = p.grad
                if g is None:
                    continue
                if g.layout != torch.strided:
                    raise RuntimeError(
                        f"{name} does not support sparse gradients (parameter {pi} of group "
                        f"{gi} has a {g.layout} gradient); use torch.optim.SparseAdam"
                    )
                if p.dtype not in SUPPORTED:
                    raise TypeError(
                        f"{name} supports float16, bfloat16, float32 and float64 parameters; "
                        f"parameter {pi} of group {gi} is {p.dtype}"
                    )
                params.append(p)
                grads.append(g)
                where.append(pi)
            work.append((group, params, grads, self._grad_sq(group, params), where))
        return work

    @staticmethod
    def _ops_for(work):
        """lab.optim._fused's ops (built on first use) if a group of this step may use
        them, else None."""
        for group, params, *_ in work:
            if group["impl"] in ("auto", "fused") and any(
                p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64)
                for p in params
            ):
                return _fused.ops()
        return None

    def _check_fused(self, work, ops) -> None:
        """impl="fused": raise, before any write, where no fused step applies."""
        for group, params, *_ in work:
            if group["impl"] != "fused":
                continue
            for p in params:
                if p.dtype in LOW_PRECISION:
                    continue  # stepped by the reference function, as with "auto"
                if ops is None or p.device.type != "cpu":
                    self._fused_fallback_check(group, p, ops)

    def _fused_fallback_check(self, group, p, ops) -> None:
        """Raise for ``impl="fused"`` where lab's C++ step does not apply to ``p``."""
        self._fused_unavailable([p], ops)

    @staticmethod
    def _grad_bound(tensors, ops) -> float:
        """An upper bound on every |x| (inf if some x is inf or NaN): with the C++ ops on
        CPU the exact maximum, read once; else the largest 2-norm."""
        if not tensors:
            return 0.0
        if ops is not None and tensors[0].device.type == "cpu":
            return ops.abs_max(tensors)
        return _foreach.norm_bound(tensors)

    def _read_bounds(self, gi, device, dtype) -> dict:
        """The state's magnitudes, read: where no bound is kept (after a C++ step, an
        unchecked one, a load)."""
        tensors = {n: [] for n in self._state_names}
        for p in self.param_groups[gi]["params"]:
            state = self.state.get(p)
            if state and p.device == device and p.dtype == dtype:
                for n in self._state_names:
                    tensors[n].append(state[n])
        return {n: _foreach.abs_max(ts) for n, ts in tensors.items()}

    def _verdict(self, gi, group, device, dtype, G, SQ):
        """The state's bounds after a step of group ``gi``'s ``device``/``dtype``
        parameters, or None where its arithmetic might leave the finite range."""
        if not (math.isfinite(G) and (SQ is None or math.isfinite(SQ))):
            return None
        key = (gi, device, dtype)
        M = self._bounds.get(key)
        if M is None:
            M = self._read_bounds(gi, device, dtype)
            if not all(math.isfinite(m) for m in M.values()):
                return None
        lim = Limits.of(dtype)
        new = self._next_bounds(group, G, SQ, M, lim)
        if new is None or not all(m <= lim.peak for m in new.values()):
            return None
        return {n: m * (1 + SLACK) for n, m in new.items()}

    def _next_bounds(self, group, G, SQ, M, lim) -> dict | None:
        raise NotImplementedError

    def _check_strict(self, work, ops) -> dict:
        """check_finite="strict": read every gradient before any step writes, so that a
        non-finite one changes nothing; returns, per (group, device, dtype), the state's
        bounds after the step, or None where the step might not stay finite."""
        plan = {}
        for gi, (group, params, grads, sqs, where) in enumerate(work):
            if group["check_finite"] != "strict" or not params:
                continue
            G = self._grad_bound(grads, ops)
            SQ = None if sqs is None else self._grad_bound(sqs, ops)
            if not (math.isfinite(G) and (SQ is None or math.isfinite(SQ))):
                self._raise_non_finite(gi, where, grads + (sqs or []))
            for device, dtype in {(p.device, p.dtype) for p in params}:
                plan[gi, device, dtype] = self._verdict(gi, group, device, dtype, G, SQ)
        return plan

    def _raise_non_finite(self, gi, where, tensors) -> None:
        for g, pi in zip(tensors, where + where):
            bad = int((~torch.isfinite(g)).sum())
            if bad:
                raise FloatingPointError(
                    f"{type(self).__name__}: the gradient of parameter {pi} in group {gi} "
                    f"has {bad} non-finite entries (of {g.numel()}); no parameter or state "
                    "was changed. Skip this step (torch.amp.GradScaler does), clip the "
                    "gradient, or lower the learning rate."
                )

    def _snapshot(self, work) -> list:
        return [
            (
                p,
                p.detach().clone(),
                {
                    k: (v.clone() if isinstance(v, torch.Tensor) else v)
                    for k, v in self.state[p].items()
                }
                if p in self.state
                else None,
            )
            for _, params, *_ in work
            for p in params
        ]

    def _restore(self, snapshot) -> None:
        for p, p_old, state_old in snapshot:
            p.copy_(p_old)
            if state_old:
                state = self.state[p]
                for k, v in state_old.items():
                    if isinstance(v, torch.Tensor):
                        state[k].copy_(v)
                    else:
                        state[k] = v
            else:
                self.state.pop(p, None)

    def _undo_counts(self, work, groups) -> None:
        """Put back the step counts of ``groups`` (an exception before any write)."""
        for gi in groups:
            for p in work[gi][1]:
                state = self.state.get(p)
                if state:
                    state["step"] -= 1
                    if state["step"] <= 0:
                        del self.state[p]

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the model and returns the loss.

        All or nothing: see :mod:`lab.optim` (``check_finite``) and this module."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._check_groups()
        work = self._collect()
        ops = self._ops_for(work)
        self._check_fused(work, ops)
        plan = self._check_strict(work, ops)
        snapshot = (
            self._snapshot(work) if any(v is None for v in plan.values()) else None
        )
        frozen, started = [], []
        try:
            for gi, (group, params, grads, sqs, where) in enumerate(work):
                if params:
                    started.append(gi)
                    frozen += self._update_group(
                        gi, group, params, grads, sqs, where, ops, plan
                    )
        except BaseException:
            if snapshot is not None:
                self._restore(snapshot)
            else:
                self._undo_counts(work, started)
            raise
        if frozen and snapshot is not None:
            strict = [f for f in frozen if work[f[0]][0]["check_finite"] == "strict"]
            if strict:
                self._restore(snapshot)
                gi, pi, count, numel = strict[0]
                raise FloatingPointError(
                    f"{type(self).__name__}: parameter {pi} in group {gi} has {count} "
                    f"non-finite entries (of {numel}) in the step its finite gradient "
                    "gives (an overflow); no parameter or state was changed. Clip the "
                    "gradient or lower the learning rate."
                )
        if frozen:
            raise FloatingPointError(self._frozen_message(frozen))
        return loss

    def _frozen_message(self, frozen) -> str:
        gi, pi, count, numel = frozen[0]
        more = len(frozen) - 1
        others = f", and {more} more parameters have some too" if more else ""
        return (
            f"{type(self).__name__}: parameter {pi} in group {gi} has {count} non-finite "
            f"entries (of {numel}) in its gradient or in the step it gives{others}. "
            "Those coordinates kept their parameter and state; every other coordinate "
            "took this step. Skip the batch, clip the gradient, or lower the learning "
            "rate (check_finite='strict' checks before changing anything)."
        )

    def _update_group(self, gi, group, params, grads, sqs, where, ops, plan) -> list:
        """Step one group; returns (group, parameter, count, size) for each parameter
        with coordinates kept by the check (see ``_guarded``)."""
        reference = group["impl"] == "reference"
        mode = group["check_finite"]
        fused_impl = ops is not None and group["impl"] in ("auto", "fused")
        sqs = sqs if sqs is not None else [None] * len(params)
        runs = {}
        for p, g, sq, pi in zip(params, grads, sqs, where):
            s = self._state(p)
            s["step"] += 1
            single = reference or p.dtype in LOW_PRECISION
            step = s["step"] if self._bucket_by_step and not single else None
            runs.setdefault((single, p.device, p.dtype, step), []).append(
                (p, g, sq, s, pi)
            )
        frozen = []
        for (single, device, dtype, step), items in runs.items():
            key = (gi, device, dtype)
            fused = fused_impl and not single and device.type == "cpu"
            if mode == "strict":
                bounds = plan[key]  # None: a snapshot was taken, check as True does
                checked = bounds is None
            elif mode:
                bounds, checked = None, True
            else:
                bounds, checked = None, False
            if fused:
                ps, gs, sq_list, ss, pis = (list(x) for x in zip(*items))
                sq_list = sq_list if sq_list[0] is not None else None
                if self._fused_bounds:
                    known = None
                    if checked:
                        known = self._bounds.get(key) or self._read_bounds(*key)
                    counts, after = self._fused(
                        ops, group, ps, gs, sq_list, ss, step, checked, known
                    )
                    if checked:
                        bounds = after
                else:
                    counts = self._fused(ops, group, ps, gs, sq_list, ss, step, checked)
                frozen += [
                    (gi, pi, int(c), p.numel())
                    for p, pi, c in zip(ps, pis, counts)
                    if c
                ]
                if bounds is None:
                    self._bounds.pop(key, None)
                else:
                    self._bounds[key] = bounds
            else:
                frozen += self._guarded(
                    gi, group, key, items, single, step, checked, bounds, ops
                )
        return frozen

    def _run(self, group, items, single, step) -> None:
        if single:
            for p, g, sq, s, _ in items:
                self._reference_step(group, p, g, sq, s)
        else:
            ps, gs, sq_list, ss, _ = (list(x) for x in zip(*items))
            sq_list = sq_list if sq_list[0] is not None else None
            self._fast(group, ps, gs, sq_list, ss, step)

    def _guarded(self, gi, group, key, items, single, step, checked, bounds, ops):
        """Run the Python step (reference or foreach) over ``items`` (p, grad,
        grad_sq, state, index). Unchecked: as it is. Checked: as it is where the
        bounds (see the module's docstring) show it stays finite, else the reference
        step on copies taken before, keeping the coordinates whose gradient, new
        state or new parameter (where it was finite) is inf or NaN."""
        if bounds is not None or not checked:
            self._run(group, items, single, step)
            if bounds is None:
                self._bounds.pop(key, None)
            else:
                self._bounds[key] = bounds
            return []
        grads = [it[1] for it in items]
        sqs = [it[2] for it in items if it[2] is not None]
        G = self._grad_bound(grads, ops)
        SQ = self._grad_bound(sqs, ops) if sqs else None
        bounds = self._verdict(gi, group, key[1], key[2], G, SQ)
        if bounds is not None:
            self._run(group, items, single, step)
            self._bounds[key] = bounds
            return []
        saved = [
            (p.detach().clone(), {n: state[n].clone() for n in self._state_names})
            for p, _, _, state, _ in items
        ]
        self._run(group, items, single, step)
        frozen = []
        for (p, g, sq, state, pi), (p_old, state_old) in zip(items, saved):
            bad = ~torch.isfinite(g)
            if sq is not None:
                bad |= ~torch.isfinite(sq)
            bad |= ~torch.isfinite(p) & torch.isfinite(p_old)
            for n in self._state_names:
                bad |= ~torch.isfinite(state[n])
            if bad.any():
                p.copy_(torch.where(bad, p_old, p))
                for n, old in state_old.items():
                    state[n].copy_(torch.where(bad, old, state[n]))
                frozen.append((gi, pi, int(bad.sum()), p.numel()))
        self._bounds.pop(key, None)
        return frozen

    def _reference_step(self, group, p, g, sq, state) -> None:
        if p.dtype in LOW_PRECISION:  # float32 arithmetic, float32 state
            p32 = p.float()
            self._reference(
                group, p32, g.float(), None if sq is None else sq.float(), state
            )
            p.copy_(p32)
        else:
            self._reference(group, p, g, None if sq is None else sq.to(p.dtype), state)

    def _reference(self, group, p, g, sq, state) -> None:
        raise NotImplementedError

    def _fast(self, group, ps, gs, sqs, states, step) -> None:
        """The foreach step, where the C++ step did not apply."""
        if group["impl"] == "fused":
            self._fused_unavailable(ps, _fused.ops())
        self._foreach(group, ps, gs, sqs, states, step)

    def _foreach(self, group, ps, gs, sqs, states, step) -> None:
        raise NotImplementedError

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze) -> list[int]:
        raise NotImplementedError

    @staticmethod
    def _fused_unavailable(ps, ops) -> None:
        """Raise for ``impl="fused"`` where the C++ step did not apply."""
        if ps[0].device.type != "cpu":
            raise ValueError(
                "impl='fused' needs float32/float64 tensors on CPU; use "
                "impl='auto' to fall back to foreach"
            )
        if ops is None:
            raise RuntimeError(
                "impl='fused': lab's C++ step could not be built (see the "
                "warning); use impl='auto' to fall back to foreach"
            )

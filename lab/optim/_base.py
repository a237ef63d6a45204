"""What every optimizer of :mod:`lab.optim` shares: param groups, lazy state, the
non-finite check, and the dispatch to the reference, foreach and C++ steps.

A subclass names its state tensors and defines four small methods:

- ``_validate(group)``: check and normalise a group's hyperparameters (``_checks``);
- ``_reference(group, p, g, state, grad_sq)``: one parameter, the function of
  :mod:`lab.optim.updates`;
- ``_foreach(group, ps, gs, sqs, states, step)``: a list of parameters, :mod:`._foreach`;
- ``_fused(ops, group, ps, gs, sqs, states, step, freeze)``: a list of float32/float64
  CPU parameters, the named C++ op of :mod:`._fused`; returns the count of non-finite
  gradient entries per tensor.
"""

from __future__ import annotations

import torch

from lab.optim import _foreach, _fused

IMPLS = ("auto", "reference", "foreach", "fused")
LOW_PRECISION = (torch.float16, torch.bfloat16)
SUPPORTED = (torch.float32, torch.float64) + LOW_PRECISION


def _check_impl(impl) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


def _check_mode(check_finite) -> None:
    if not (isinstance(check_finite, bool) or check_finite == "strict"):
        raise ValueError(
            f"check_finite must be True, False or 'strict', got {check_finite!r}"
        )


class LabOptimizer(torch.optim.Optimizer):
    """The machinery behind every optimizer of :mod:`lab.optim` (see its docstring for
    ``impl`` and ``check_finite``)."""

    _state_names: tuple[str, ...] = ()
    _impls = IMPLS
    _has_fused_cpu = True  # every optimizer has a C++ step in lab.optim._fused
    # Whether one step's weights depend on the state's step count (Adam's, SNR's), so
    # that parameters are stepped together only when their counts agree.
    _bucket_by_step = False

    def __init__(self, params, defaults: dict, impl: str, check_finite: bool | str):
        _check_impl(impl)
        _check_mode(check_finite)
        defaults = dict(defaults, impl=impl, check_finite=check_finite)
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        raise NotImplementedError

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        _check_impl(group["impl"])
        _check_mode(group["check_finite"])
        self._validate(group)

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

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state saved by :meth:`state_dict`; a resumed run is bitwise identical."""
        super().load_state_dict(state_dict)
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

    @staticmethod
    def _all_finite(tensors, ops) -> bool:
        # With the C++ ops: all_finite reads each element once, at memory speed.
        return (
            ops.all_finite(tensors) if ops is not None else _foreach.all_finite(tensors)
        )

    def _check_strict(self, work, ops=None) -> None:
        """check_finite="strict": read every gradient before any step writes, so that a
        non-finite one changes nothing."""
        checked = [
            (gi, where, grads + (sqs or []))
            for gi, (group, _, grads, sqs, where) in enumerate(work)
            if group["check_finite"] == "strict"
        ]
        if not checked or self._all_finite(
            [g for _, _, ts in checked for g in ts], ops
        ):
            return
        for gi, where, tensors in checked:
            for g, pi in zip(tensors, where + where):
                bad = int((~torch.isfinite(g)).sum())
                if bad:
                    raise FloatingPointError(
                        f"{type(self).__name__}: the gradient of parameter {pi} in group {gi} "
                        f"has {bad} non-finite entries (of {g.numel()}); no parameter or state "
                        "was changed. Skip this step (torch.amp.GradScaler does), clip the "
                        "gradient, or lower the learning rate."
                    )

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = self._collect()
        ops = self._ops_for(work)
        self._check_strict(work, ops)
        frozen = []
        for gi, (group, params, grads, sqs, where) in enumerate(work):
            if params:
                frozen += self._update_group(gi, group, params, grads, sqs, where, ops)
        if frozen:
            raise FloatingPointError(self._frozen_message(frozen))
        return loss

    def _frozen_message(self, frozen) -> str:
        gi, pi, count, numel = frozen[0]
        more = len(frozen) - 1
        others = (
            f", and the gradients of {more} more parameters have some too"
            if more
            else ""
        )
        return (
            f"{type(self).__name__}: the gradient of parameter {pi} in group {gi} has "
            f"{count} non-finite entries (of {numel}){others}. Those coordinates kept "
            "their parameter and state; every other coordinate took this step. Skip the "
            "batch, clip the gradient, or lower the learning rate (check_finite='strict' "
            "checks before changing anything)."
        )

    def _update_group(self, gi, group, params, grads, sqs, where, ops) -> list:
        """Step one group; returns (group, parameter, count, size) for each parameter
        with non-finite gradient entries that check_finite=True froze."""
        reference = group["impl"] == "reference"
        freeze = group["check_finite"] is True
        sqs = sqs if sqs is not None else [None] * len(params)
        singles, buckets = [], {}
        for p, g, sq, pi in zip(params, grads, sqs, where):
            s = self._state(p)
            s["step"] += 1
            if reference or p.dtype in LOW_PRECISION:
                singles.append((p, g, sq, s, pi))
            else:
                key = (p.device, p.dtype, s["step"] if self._bucket_by_step else None)
                buckets.setdefault(key, []).append((p, g, sq, s, pi))
        frozen = []
        if singles:

            def run():
                for p, g, sq, s, _ in singles:
                    self._reference_step(group, p, g, sq, s)

            frozen += self._guarded(gi, singles, freeze, ops, run)
        for (device, _, step), items in buckets.items():
            ps, gs, sq_list, ss, pis = (list(x) for x in zip(*items))
            sq_list = sq_list if sq_list[0] is not None else None
            if (
                ops is not None
                and device.type == "cpu"
                and group["impl"] in ("auto", "fused")
            ):
                # The C++ step checks each gradient as it reads it: no extra pass.
                counts = self._fused(ops, group, ps, gs, sq_list, ss, step, freeze)
                frozen += [
                    (gi, pi, int(c), p.numel())
                    for p, pi, c in zip(ps, pis, counts)
                    if c
                ]
            else:

                def run(ps=ps, gs=gs, sq_list=sq_list, ss=ss, step=step):
                    self._fast(group, ps, gs, sq_list, ss, step)

                frozen += self._guarded(gi, items, freeze, None, run)
        return frozen

    def _guarded(self, gi, items, freeze, ops, run) -> list:
        """Run the step ``run()`` over ``items`` (p, grad, grad_sq, state, index); with
        ``freeze``, give the coordinates whose gradient is non-finite their parameter and
        state back.

        Every update here is elementwise, so a NaN at one coordinate reaches no other: a
        copy of the affected tensors taken before the step (only when some gradient is
        non-finite; the common case costs one read of the gradients) restores them.
        """
        if not freeze:
            run()
            return []
        tensors = [it[1] for it in items] + [it[2] for it in items if it[2] is not None]
        saved = []
        if not self._all_finite(tensors, ops):
            for p, g, sq, state, pi in items:
                bad = ~torch.isfinite(g)
                if sq is not None:
                    bad |= ~torch.isfinite(sq)
                if bad.any():
                    saved.append(
                        (
                            p,
                            state,
                            pi,
                            bad,
                            p.detach().clone(),
                            {n: state[n].clone() for n in self._state_names},
                        )
                    )
        run()
        for p, state, _, bad, p_old, state_old in saved:
            p.copy_(torch.where(bad, p_old, p))
            for n, old in state_old.items():
                state[n].copy_(torch.where(bad, old, state[n]))
        return [(gi, pi, int(bad.sum()), p.numel()) for p, _, pi, bad, _, _ in saved]

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
            self._fused_unavailable(ps)
        self._foreach(group, ps, gs, sqs, states, step)

    def _foreach(self, group, ps, gs, sqs, states, step) -> None:
        raise NotImplementedError

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze) -> list[int]:
        raise NotImplementedError

    @staticmethod
    def _fused_unavailable(ps) -> None:
        """Raise for ``impl="fused"`` where the C++ step did not apply."""
        if ps[0].device.type != "cpu":
            raise ValueError(
                "impl='fused' needs float32/float64 tensors on CPU; use "
                "impl='auto' to fall back to foreach"
            )
        if _fused.ops() is None:
            raise RuntimeError(
                "impl='fused': lab's C++ step could not be built (see the "
                "warning); use impl='auto' to fall back to foreach"
            )

"""The lecture's optimizers as drop-in ``torch.optim.Optimizer`` subclasses.

Each optimizer is a running average (:mod:`lab.averages`) of :math:`\\hat g` or
:math:`\\hat g^2` followed by a step on :math:`\\Phi`:

- :class:`SGD`: :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`;
- :class:`Momentum`: :math:`v_t = (1-\\frac1N) v_{t-1} + \\eta\\,\\hat g_t`, :math:`\\Phi \\mathrel{-}= v_t`;
- :class:`AveragedMomentum`: :math:`\\mu_t` a running average of :math:`\\hat g`, :math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`;
- :class:`RMSProp`: :math:`s_t` a running average of :math:`\\hat g^2`,
  :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g_t/\\sqrt{s_t + \\epsilon}`;
- :class:`Adam`: both, with a bias-correcting weight schedule,
  :math:`\\Phi \\mathrel{-}= \\eta\\,\\mu_t/(\\sqrt{s_t} + \\epsilon)`;
- :class:`SNR`: the lecture's complete algorithm, a per-coordinate learning rate
  :math:`\\eta[i] = \\lambda_\\eta \\tilde g[i]^2/\\tilde\\sigma[i]^2`.

Every optimizer has a readable single-tensor reference function (``sgd_update``,
``momentum_update``, ...) and fast paths tested equal to it: on CPU a C++ step compiled
on first use (``lab._fused``: one pass over memory, with the reference's arithmetic op
for op, except :class:`SNR`'s, rearranged to fewer operations); elsewhere, or where
no compiler is found, ``torch._foreach_*`` ops, torch's fused Adam kernel for
:class:`Adam` (also on CUDA), and for :class:`SNR` the update rewritten in 13
elementwise ops run over cache-sized blocks. Choose with ``impl``. All of them accept
param groups, ``step(closure)``, ``torch.optim.lr_scheduler`` (``lr`` is read from the
group on every step), ``state_dict``/``load_state_dict`` (a resumed run is bitwise
identical to an uninterrupted one), float32/float64 parameters on any device, and
float16/bfloat16 parameters with float32 state. Parameters whose ``grad`` is None are
skipped. Sparse gradients raise ``RuntimeError``.

A non-finite gradient never reaches a parameter or the state. ``check_finite``:

- ``True`` (default): every coordinate whose gradient is finite takes the step; a
  coordinate whose gradient is inf or NaN keeps its parameter and state; then the step
  raises ``FloatingPointError`` naming the parameters. The C++ steps check each
  gradient as they read it, so this costs no extra pass over memory.
- ``"strict"``: every gradient is read before anything is written, and a non-finite
  one raises ``FloatingPointError`` with no parameter or state changed (skip the batch
  and go on, as ``torch.amp.GradScaler`` does). That costs one more read of every
  gradient: 4 bytes per float32 parameter on top of the 28 an Adam step moves, 15-25%
  more time on 10M parameters in ``make bench``.
- ``False``: no check; NaN propagates, as in torch.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict

import torch

from lab import _fused
from lab._checks import integer_at_least, nonnegative, positive, real_in
from lab.averages import running_average_weight, update_average_

__all__ = [
    "SGD",
    "Momentum",
    "AveragedMomentum",
    "RMSProp",
    "Adam",
    "SNR",
    "sgd_update",
    "momentum_update",
    "averaged_momentum_update",
    "rmsprop_update",
    "adam_update",
    "snr_update",
    "snr_variance",
    "snr_batch_size_star",
    "snr_weight",
    "snr_learning_rate",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_SUPPORTED = (torch.float32, torch.float64) + _LOW_PRECISION


def _tiny(t: torch.Tensor) -> float:
    # The smallest normal number: a floor for denominators that are 0 only when the
    # numerator is 0 too, so 0/0 becomes 0 instead of NaN.
    return torch.finfo(t.dtype).tiny


def _check_mode(check_finite) -> None:
    if not (isinstance(check_finite, bool) or check_finite == "strict"):
        raise ValueError(f"check_finite must be True, False or 'strict', got {check_finite!r}")


def _N(name: str, value) -> float:
    return real_in(name, value, 1.0)


# --------------------------------------------------------------------------------------
# Reference single-tensor updates: the lecture's equations, one line each.
# --------------------------------------------------------------------------------------


def sgd_update(param: torch.Tensor, grad: torch.Tensor, *, lr: float) -> None:
    """Vanilla SGD in place: :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`."""
    param.sub_(lr * grad)


def momentum_update(param, grad, v, *, lr: float, N: float) -> None:
    """Momentum in place: :math:`v_t = (1-\\frac1N)v_{t-1} + \\eta\\,\\hat g_t`, :math:`\\Phi \\mathrel{-}= v_t`."""
    v.mul_(1 - 1 / N).add_(lr * grad)
    param.sub_(v)


def averaged_momentum_update(param, grad, mu, *, lr: float, N: float) -> None:
    """Averaged momentum in place: :math:`\\mu_t = (1-\\frac1N)\\mu_{t-1} + \\frac1N\\hat g_t`, :math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`."""
    update_average_(mu, grad, 1 / N)
    param.sub_(lr * mu)


def rmsprop_update(param, grad, s, *, lr: float, N_s: float, eps: float) -> None:
    """RMSProp in place: :math:`s_t = (1-\\frac{1}{N_s})s_{t-1} + \\frac{1}{N_s}\\hat g_t^2`, :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g_t/\\sqrt{s_t+\\epsilon}`.

    Where :math:`s_t + \\epsilon = 0` the gradient is 0 too and the coordinate stays put.
    """
    update_average_(s, grad * grad, 1 / N_s)
    denom = (s + eps).sqrt().clamp_min(_tiny(s))
    param.sub_(lr * (grad / denom))


def adam_update(param, grad, mu, s, *, lr: float, w_g: float, w_s: float, eps: float) -> None:
    """Adam in place with weights :math:`w_g, w_s`: :math:`\\Phi \\mathrel{-}= \\eta\\,\\mu_t/(\\sqrt{s_t}+\\epsilon)`.

    :math:`\\mu_t = (1-w_g)\\mu_{t-1} + w_g\\hat g_t` and
    :math:`s_t = (1-w_s)s_{t-1} + w_s\\hat g_t^2`; the weights come from
    :func:`lab.averages.running_average_weight`. Where :math:`\\sqrt{s_t}+\\epsilon = 0`
    all gradients so far were 0 and the coordinate stays put.
    """
    update_average_(mu, grad, w_g)
    update_average_(s, grad * grad, w_s)
    denom = (s.sqrt() + eps).clamp_min(_tiny(s))
    param.sub_(lr * (mu / denom))


def snr_variance(g_tilde, s_tilde, batch_size: int, second_moment: str = "batch"):
    """The per-example gradient variance estimate :math:`\\tilde\\sigma^2 = \\tilde s - \\tilde g^2`, clipped at 0.

    With ``second_moment="batch"`` :math:`\\tilde s` averages squared batch means, whose
    variance is :math:`\\sigma^2/B`, so the result is :math:`B(\\tilde s - \\tilde g^2)`;
    with ``"examples"`` :math:`\\tilde s` averages per-example squares and the result is
    :math:`\\tilde s - \\tilde g^2`. Both estimate the per-example :math:`\\sigma^2` and
    agree with the slide for :math:`B = 1`. Negative values (round-off) become 0.
    """
    var = (s_tilde - g_tilde * g_tilde).clamp_min(0)
    return var * batch_size if second_moment == "batch" else var


def snr_batch_size_star(g_tilde, s_tilde, t: int, *, batch_size: int, lambda_B: float,
                        K: int, eps: float, second_moment: str = "batch"):
    """:math:`B^*(t)[i]`: :math:`K` for :math:`t \\le K`, else :math:`\\lambda_B\\tilde\\sigma^2[i]/(\\tilde g[i]^2+\\epsilon)`.

    Computed from the averages after step ``t``; it weights the next gradient
    (:func:`snr_weight`). Not capped: values below ``batch_size`` are allowed here.
    """
    if t <= K:
        return torch.full_like(g_tilde, float(K))
    var = snr_variance(g_tilde, s_tilde, batch_size, second_moment)
    return lambda_B * var / (g_tilde * g_tilde + eps)


def snr_weight(g_tilde, s_tilde, t: int, *, batch_size: int, lambda_B: float, K: int,
               eps: float, second_moment: str = "batch"):
    """The weight :math:`\\min(1, B/B^*(t)[i])` of the next gradient in :math:`\\tilde g, \\tilde s`.

    The slide's weight :math:`B/B^*` exceeds 1 when :math:`B^* < B` (a batch already
    larger than the optimal one, or :math:`\\tilde\\sigma^2 = 0`); a weight above 1
    would extrapolate past the newest gradient, so it is capped at 1 (the averages
    then restart from the newest gradient). Returns a float during warm-up
    (:math:`t \\le K`: :math:`\\min(1, B/K)`), else a tensor.
    """
    if t <= K:
        return 1.0 if K == 0 else min(1.0, batch_size / K)
    var = snr_variance(g_tilde, s_tilde, batch_size, second_moment)
    numerator = batch_size * (g_tilde * g_tilde + eps)
    return (numerator / (lambda_B * var).clamp_min(_tiny(var))).clamp_max(1.0)


def snr_learning_rate(g_tilde, s_tilde, t: int, *, batch_size: int, lambda_eta: float,
                      K: int, eta_max: float, second_moment: str = "batch"):
    """:math:`\\eta^t[i]`: 0 for :math:`t \\le K`, else :math:`\\min(\\lambda_\\eta\\tilde g[i]^2/\\tilde\\sigma[i]^2,\\ \\eta_{\\max})`.

    :math:`\\tilde\\sigma^2 \\to 0` makes the slide's :math:`\\eta` unbounded; the cap
    :math:`\\eta_{\\max}` (default :math:`\\lambda_\\eta\\lambda_B/B`, the value at
    :math:`B^* = B`, which is :math:`\\eta^* = 1/(2L)` for the lecture's
    :math:`\\lambda_\\eta = B/(32L)`, :math:`\\lambda_B = 16`) bounds it. Where
    :math:`\\tilde\\sigma^2 = \\tilde g^2 = 0` the result is 0.
    """
    if t <= K:
        return torch.zeros_like(g_tilde)
    var = snr_variance(g_tilde, s_tilde, batch_size, second_moment)
    return (lambda_eta * (g_tilde * g_tilde / var.clamp_min(_tiny(var)))).clamp_max(eta_max)


def snr_update(param, grad, g_tilde, s_tilde, t: int, *, batch_size: int, lambda_eta: float,
               lambda_B: float, K: int, eps: float, eta_max: float, lr: float = 1.0,
               second_moment: str = "batch", grad_sq=None) -> None:
    """One step of the lecture's complete algorithm in place, for the ``t``-th gradient.

    .. math::

        w &= \\min(1, B/B^*(t-1)[i]),\\\\
        \\tilde g^t &= (1-w)\\,\\tilde g^{t-1} + w\\,\\hat g^t, \\qquad
        \\tilde s^t = (1-w)\\,\\tilde s^{t-1} + w\\,(\\hat g^t)^2,\\\\
        \\Phi^{t+1} &= \\Phi^t - \\mathrm{lr}\\cdot\\eta^t\\,\\hat g^t .

    ``grad_sq`` replaces :math:`(\\hat g^t)^2` with the batch mean of per-example squares
    when ``second_moment="examples"``. See :func:`snr_weight`, :func:`snr_learning_rate`.
    """
    hyper = dict(batch_size=batch_size, K=K, second_moment=second_moment)
    w = snr_weight(g_tilde, s_tilde, t - 1, lambda_B=lambda_B, eps=eps, **hyper)
    update_average_(g_tilde, grad, w)
    update_average_(s_tilde, grad * grad if grad_sq is None else grad_sq, w)
    if t > K:
        eta = snr_learning_rate(g_tilde, s_tilde, t, lambda_eta=lambda_eta, eta_max=eta_max,
                                **hyper)
        param.sub_(lr * (eta * grad))


def _snr_block(p, g, gt, st, sq, a, b, *, zero, eps, tiny, k_w, k_eta, step, skip_weight):
    """:func:`snr_update` for ``t > K`` on flat slices, in 13 elementwise ops (12 with ``sq``).

    The same equations with the caps written as reciprocals, so that each cap is one
    clamp: :math:`w = 1/\\max(1, k_w\\,\\tilde\\sigma'^2/(\\tilde g^2+\\epsilon))` and
    :math:`\\eta = \\eta_{\\max}/\\max(1, k_\\eta\\,\\tilde\\sigma'^2/(\\tilde g^2+\\mathrm{tiny}))`,
    :math:`\\tilde\\sigma'^2 = \\tilde s - \\tilde g^2` unclipped (a negative value gives the
    capped weight 1 and the capped :math:`\\eta_{\\max}`, as the clip at 0 does). Equal to
    the reference up to round-off. ``a``, ``b`` are scratch; with ``p`` None the step's
    divisor is left in ``b`` (``p += step * g / b``) for the caller to apply.
    ``skip_weight``: the averages were already updated with the warm-up weight.
    """
    if not skip_weight:
        torch.addcmul(st, gt, gt, value=-1, out=b)       # s~ - g~^2
        torch.addcmul(eps, gt, gt, out=a)                 # g~^2 + eps
        torch.addcdiv(zero, b, a, value=k_w, out=a)       # B*/B
        a.clamp_min_(1).reciprocal_()                     # w = min(1, B/B*)
        gt.lerp_(g, a)
        if sq is None:
            sq = torch.mul(g, g, out=b)
        st.lerp_(sq, a)
    torch.addcmul(st, gt, gt, value=-1, out=b)
    torch.addcmul(tiny, gt, gt, out=a)
    torch.addcdiv(zero, b, a, value=k_eta, out=b)         # eta_max / eta
    b.clamp_min_(1)
    if p is not None:
        p.addcdiv_(g, b, value=step)


# --------------------------------------------------------------------------------------
# The shared Optimizer machinery.
# --------------------------------------------------------------------------------------


class _LabOptimizer(torch.optim.Optimizer):
    """Param groups, lazy state, checks, and the dispatch to reference/foreach/fused."""

    _state_names: tuple[str, ...] = ()
    _impls: tuple[str, ...] = ("auto", "reference", "foreach")
    _bucket_by_step = False
    _has_fused_cpu = False  # a C++ step in lab._fused (see _fused_cpu)

    def __init__(self, params, defaults: dict, impl: str, check_finite: bool):
        if impl not in self._impls:
            raise ValueError(f"impl must be one of {self._impls}, got {impl!r}")
        _check_mode(check_finite)
        defaults = dict(defaults, impl=impl, check_finite=check_finite)
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        raise NotImplementedError

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group["impl"] not in self._impls:
            raise ValueError(f"impl must be one of {self._impls}, got {group['impl']!r}")
        _check_mode(group["check_finite"])
        self._validate(group)

    # State -------------------------------------------------------------------------
    @staticmethod
    def _state_dtype(p: torch.Tensor) -> torch.dtype:
        return torch.float32 if p.dtype in _LOW_PRECISION else p.dtype

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = 0
            for name in self._state_names:
                state[name] = torch.zeros_like(p, dtype=self._state_dtype(p),
                                               memory_format=torch.preserve_format)
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
                            device=p.device, dtype=self._state_dtype(p), copy=True)

    # Step --------------------------------------------------------------------------
    def _collect(self):
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
                        f"{gi} has a {g.layout} gradient); use torch.optim.SparseAdam")
                if p.dtype not in _SUPPORTED:
                    raise TypeError(
                        f"{name} supports float16, bfloat16, float32 and float64 parameters; "
                        f"parameter {pi} of group {gi} is {p.dtype}")
                params.append(p)
                grads.append(g)
                where.append(pi)
            work.append((group, params, grads, where))
        return work

    def _extra_grads(self, group, params):
        return []

    def _fused_ops(self, work):
        """lab._fused's ops (built on first use) if a group of this step may use them, else None."""
        if not self._has_fused_cpu:
            return None
        for group, params, _, _ in work:
            if group["impl"] in ("auto", "fused") and any(
                    p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64)
                    for p in params):
                return _fused.ops()
        return None

    def _all_finite(self, tensors, ops) -> bool:
        """Whether every element is finite (True may also come from the exact check below)."""
        # With lab._fused: all_finite reads each element once, at memory speed. Without:
        # one norm per tensor in one call (NaN and inf propagate into it, the cheapest of
        # the reductions timed) and one host sync per device/dtype; a finite gradient
        # whose norm overflows is cleared by the exact per-tensor check the callers run
        # when this returns False.
        if ops is not None:
            return ops.all_finite(tensors)
        by_kind = defaultdict(list)
        for g in tensors:
            by_kind[g.device, g.dtype].append(g)
        return all(bool(torch.isfinite(torch.stack(torch._foreach_norm(ts, 2))).all())
                   for ts in by_kind.values())

    def _check_strict(self, work, ops=None) -> None:
        """check_finite="strict": read every gradient before any step writes, so that a
        non-finite one changes nothing."""
        checked = [(gi, where, grads + self._extra_grads(group, params))
                   for gi, (group, params, grads, where) in enumerate(work)
                   if group["check_finite"] == "strict"]
        if not checked or self._all_finite([g for _, _, tensors in checked for g in tensors], ops):
            return
        for gi, where, tensors in checked:
            for g, pi in zip(tensors, where + where):
                bad = int((~torch.isfinite(g)).sum())
                if bad:
                    raise FloatingPointError(
                        f"{type(self).__name__}: the gradient of parameter {pi} in group {gi} "
                        f"has {bad} non-finite entries (of {g.numel()}); no parameter or state "
                        "was changed. Skip this step (torch.amp.GradScaler does), clip the "
                        "gradient, or lower the learning rate.")

    @torch.no_grad()
    def step(self, closure=None):
        """Take one step; ``closure`` (optional) re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = self._collect()
        ops = self._fused_ops(work)
        self._check_strict(work, ops)
        frozen = []
        for gi, (group, params, grads, where) in enumerate(work):
            if params:
                frozen += self._update_group(gi, group, params, grads, where, ops)
        if frozen:
            raise FloatingPointError(self._frozen_message(frozen))
        return loss

    def _frozen_message(self, frozen) -> str:
        gi, pi, count, numel = frozen[0]
        more = len(frozen) - 1
        others = f", and the gradients of {more} more parameters have some too" if more else ""
        return (f"{type(self).__name__}: the gradient of parameter {pi} in group {gi} has "
                f"{count} non-finite entries (of {numel}){others}. Those coordinates kept "
                "their parameter and state; every other coordinate took this step. Skip the "
                "batch, clip the gradient, or lower the learning rate (check_finite='strict' "
                "checks before changing anything).")

    def _update_group(self, gi, group, params, grads, where, ops=None) -> list:
        """Step one group; returns (group, parameter, count, size) for each parameter
        with non-finite gradient entries that check_finite=True froze."""
        reference, by_step = group["impl"] == "reference", self._bucket_by_step
        freeze = group["check_finite"] is True
        singles, buckets = [], defaultdict(list)
        for p, g, pi in zip(params, grads, where):
            s = self._state(p)
            s["step"] += 1
            if reference or p.dtype in _LOW_PRECISION:
                singles.append((p, g, s, pi))
            else:
                buckets[p.device, p.dtype, s["step"] if by_step else None].append((p, g, s, pi))
        frozen = []
        if singles:
            def run():
                for p, g, s, _ in singles:
                    self._reference_step(group, p, g, s)
            frozen += self._guarded(gi, group, singles, freeze, ops, run)
        for (device, _, step), items in buckets.items():
            ps, gs, ss, pis = (list(x) for x in zip(*items))
            if ops is not None and device.type == "cpu" and group["impl"] in ("auto", "fused"):
                # The C++ step checks each gradient as it reads it: no extra pass.
                counts = self._fused_cpu(group, ps, gs, ss, step, ops, freeze)
                frozen += [(gi, pi, int(c), p.numel()) for p, pi, c in zip(ps, pis, counts) if c]
            else:
                frozen += self._guarded(gi, group, items, freeze, None,
                                        functools.partial(self._fast_step, group, ps, gs, ss,
                                                          step))
        return frozen

    def _guarded(self, gi, group, items, freeze, ops, run) -> list:
        """Run the step ``run()`` over ``items`` (p, grad, state, index); with ``freeze``,
        give the coordinates whose gradient is non-finite their parameter and state back.

        Every update here is elementwise, so a NaN at one coordinate reaches no other: a
        copy of the affected tensors taken before the step (only when some gradient is
        non-finite; the common case costs one read of the gradients) restores them.
        """
        if not freeze:
            run()
            return []
        ps, gs = [it[0] for it in items], [it[1] for it in items]
        extra = self._extra_grads(group, ps)
        saved = []
        if not self._all_finite(gs + extra, ops):
            for k, (p, g, state, pi) in enumerate(items):
                bad = ~torch.isfinite(g)
                if extra:
                    bad |= ~torch.isfinite(extra[k])
                if bad.any():
                    saved.append((p, state, pi, bad, p.detach().clone(),
                                  {n: state[n].clone() for n in self._state_names}))
        run()
        for p, state, _, bad, p_old, state_old in saved:
            p.copy_(torch.where(bad, p_old, p))
            for n, old in state_old.items():
                state[n].copy_(torch.where(bad, old, state[n]))
        return [(gi, pi, int(bad.sum()), p.numel()) for p, _, pi, bad, _, _ in saved]

    def _reference_step(self, group, p, g, state) -> None:
        if p.dtype in _LOW_PRECISION:
            p32 = p.float()
            self._reference(group, p32, g.float(), state)
            p.copy_(p32)
        else:
            self._reference(group, p, g, state)

    def _reference(self, group, p, g, state) -> None:
        raise NotImplementedError

    def _fast_step(self, group, ps, gs, states, step) -> None:
        raise NotImplementedError

    @staticmethod
    def _fused_unavailable(group, ps) -> None:
        """Raise for ``impl="fused"`` where lab._fused's step did not apply (a fast path
        reached with it: another device, or no C++ compiler)."""
        if group["impl"] != "fused":
            return
        if ps[0].device.type != "cpu":
            raise ValueError("impl='fused' needs float32/float64 tensors on CPU; use "
                             "impl='auto' to fall back to foreach")
        if _fused.ops() is None:
            raise RuntimeError("impl='fused': lab's C++ step could not be built (see the "
                               "warning); use impl='auto' to fall back to foreach")

    def _fused_cpu(self, group, ps, gs, states, step, ops, freeze) -> list[int]:
        """The step with lab._fused's kernel (float32/float64 CPU tensors of one dtype);
        returns the count of non-finite gradient entries per tensor (frozen if ``freeze``)."""
        raise NotImplementedError


class _SimpleFused(_LabOptimizer):
    """An optimizer with at most one state tensor and a C++ step in ``lab._fused.simple_step``."""

    _impls = ("auto", "reference", "foreach", "fused")
    _has_fused_cpu = True
    _kind: int  # simple_step's kind: 0 SGD, 1 momentum, 2 averaged momentum, 3 RMSProp

    def _fused_constants(self, group) -> tuple[float, float]:
        return 0.0, 0.0

    def _fused_cpu(self, group, ps, gs, states, step, ops, freeze):
        a, b = self._fused_constants(group)
        state = [s[self._state_names[0]] for s in states] if self._state_names else []
        return ops.simple_step(ps, gs, state, self._kind, group["lr"], a, b, freeze)

    def _fast_step(self, group, ps, gs, states, step):
        self._fused_unavailable(group, ps)
        self._foreach_step(group, ps, gs, states)

    def _foreach_step(self, group, ps, gs, states) -> None:
        raise NotImplementedError


class SGD(_SimpleFused):
    """Vanilla SGD: :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`.

    ``lr`` is :math:`\\eta \\ge 0`. ``impl``: ``"auto"`` (lab's C++ step,
    ``lab._fused``, for float32/float64 CPU tensors, :func:`sgd_update`'s arithmetic in
    one pass over memory; foreach elsewhere), ``"reference"`` (:func:`sgd_update`, one
    tensor at a time), ``"foreach"`` or ``"fused"``. Raises ``ValueError`` for
    ``lr < 0`` (and at a step with ``impl="fused"`` on another device).
    """

    _kind = 0

    def __init__(self, params, lr: float, *, impl: str = "auto", check_finite: bool | str = True):
        super().__init__(params, dict(lr=lr), impl, check_finite)

    def _validate(self, group):
        group["lr"] = nonnegative("lr", group["lr"])

    def _reference(self, group, p, g, state):
        sgd_update(p, g, lr=group["lr"])

    def _foreach_step(self, group, ps, gs, states):
        torch._foreach_add_(ps, gs, alpha=-group["lr"])


class Momentum(_SimpleFused):
    """The lecture's momentum: :math:`v_t = (1-\\frac1N)v_{t-1} + \\eta\\,\\hat g_t`, :math:`\\Phi \\mathrel{-}= v_t`.

    ``lr`` is :math:`\\eta \\ge 0`, ``N`` :math:`\\ge 1` the averaging time. At constant
    :math:`\\eta` this is ``torch.optim.SGD(lr=η, momentum=1-1/N)``; the two part ways
    when :math:`\\eta` changes, because here :math:`v` accumulates
    :math:`\\eta_s\\hat g_s` (each gradient keeps the learning rate of its step) while
    torch multiplies its whole buffer by the current learning rate. State: ``v``.
    ``impl``: ``"auto"`` (lab's C++ step, ``lab._fused``, for float32/float64 CPU
    tensors, :func:`momentum_update`'s arithmetic in one pass over memory; foreach
    elsewhere), ``"reference"`` (:func:`momentum_update`, one tensor at a time),
    ``"foreach"`` or ``"fused"``. Raises ``ValueError`` for ``lr < 0`` or ``N < 1``.
    """

    _state_names = ("v",)
    _kind = 1

    def __init__(self, params, lr: float, N: float = 10, *, impl: str = "auto",
                 check_finite: bool | str = True):
        super().__init__(params, dict(lr=lr, N=N), impl, check_finite)

    def _validate(self, group):
        group["lr"] = nonnegative("lr", group["lr"])
        group["N"] = _N("N", group["N"])

    def _reference(self, group, p, g, state):
        momentum_update(p, g, state["v"], lr=group["lr"], N=group["N"])

    def _fused_constants(self, group):
        return 1 - 1 / group["N"], 0.0

    def _foreach_step(self, group, ps, gs, states):
        vs = [s["v"] for s in states]
        torch._foreach_mul_(vs, 1 - 1 / group["N"])
        torch._foreach_add_(vs, gs, alpha=group["lr"])
        torch._foreach_sub_(ps, vs)


class AveragedMomentum(_SimpleFused):
    """Momentum as a running average: :math:`\\mu_t = (1-\\frac1N)\\mu_{t-1} + \\frac1N\\hat g_t`, :math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`.

    ``lr`` is :math:`\\eta' = N\\eta \\ge 0`, ``N`` :math:`\\ge 1`. Equal to
    ``Momentum(lr=η'/N, N)`` and to ``torch.optim.SGD(lr=η'/N, momentum=1-1/N)``
    (not to torch's ``dampening=1/N``, whose first step is undamped). State: ``mu``.
    ``impl``: ``"auto"`` (lab's C++ step, ``lab._fused``, for float32/float64 CPU
    tensors, :func:`averaged_momentum_update`'s arithmetic in one pass over memory;
    foreach elsewhere), ``"reference"`` (:func:`averaged_momentum_update`, one tensor at
    a time), ``"foreach"`` or ``"fused"``. Raises ``ValueError`` for ``lr < 0`` or
    ``N < 1``.
    """

    _state_names = ("mu",)
    _kind = 2

    def __init__(self, params, lr: float, N: float = 10, *, impl: str = "auto",
                 check_finite: bool | str = True):
        super().__init__(params, dict(lr=lr, N=N), impl, check_finite)

    def _validate(self, group):
        group["lr"] = nonnegative("lr", group["lr"])
        group["N"] = _N("N", group["N"])

    def _reference(self, group, p, g, state):
        averaged_momentum_update(p, g, state["mu"], lr=group["lr"], N=group["N"])

    def _fused_constants(self, group):
        return 1 / group["N"], 0.0

    def _foreach_step(self, group, ps, gs, states):
        mus = [s["mu"] for s in states]
        torch._foreach_lerp_(mus, gs, 1 / group["N"])
        torch._foreach_add_(ps, mus, alpha=-group["lr"])


class RMSProp(_SimpleFused):
    """RMSProp: :math:`s_t = (1-\\frac{1}{N_s})s_{t-1} + \\frac{1}{N_s}\\hat g_t^2`, :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g_t/\\sqrt{s_t + \\epsilon}`.

    ``lr`` is :math:`\\eta \\ge 0`, ``N_s \\ge 1``, ``eps`` :math:`\\epsilon \\ge 0`. The
    lecture puts :math:`\\epsilon` inside the square root, torch outside: with
    ``eps=0`` this is ``torch.optim.RMSprop(lr=η, alpha=1-1/N_s, eps=0)``. State:
    ``s``. ``impl``: ``"auto"`` (lab's C++ step, ``lab._fused``, for float32/float64
    CPU tensors, :func:`rmsprop_update`'s arithmetic in one pass over memory; foreach
    elsewhere), ``"reference"`` (:func:`rmsprop_update`, one tensor at a time),
    ``"foreach"`` or ``"fused"``. Raises ``ValueError`` for ``lr < 0``, ``N_s < 1`` or
    ``eps < 0``.
    """

    _state_names = ("s",)
    _kind = 3

    def __init__(self, params, lr: float = 1e-2, N_s: float = 100, eps: float = 1e-8, *,
                 impl: str = "auto", check_finite: bool | str = True):
        super().__init__(params, dict(lr=lr, N_s=N_s, eps=eps), impl, check_finite)

    def _validate(self, group):
        group["lr"] = nonnegative("lr", group["lr"])
        group["N_s"] = _N("N_s", group["N_s"])
        group["eps"] = nonnegative("eps", group["eps"])

    def _reference(self, group, p, g, state):
        rmsprop_update(p, g, state["s"], lr=group["lr"], N_s=group["N_s"], eps=group["eps"])

    def _fused_constants(self, group):
        return 1 / group["N_s"], group["eps"]

    def _foreach_step(self, group, ps, gs, states):
        ss = [s["s"] for s in states]
        # In place where possible: a fresh large temporary costs page faults on CPU.
        w = 1 / group["N_s"]
        torch._foreach_mul_(ss, 1 - w)
        torch._foreach_addcmul_(ss, gs, gs, value=w)
        denom = torch._foreach_add(ss, group["eps"])
        torch._foreach_sqrt_(denom)
        torch._foreach_clamp_min_(denom, _tiny(ps[0]))
        torch._foreach_addcdiv_(ps, gs, denom, value=-group["lr"])


_BIAS_CORRECTIONS = {"min": "min", "adam": "adam", "none": "none"}


class Adam(_LabOptimizer):
    """The lecture's simplified Adam: running averages of :math:`\\hat g` and :math:`\\hat g^2`, :math:`\\Phi \\mathrel{-}= \\eta\\,\\mu_t/(\\sqrt{s_t}+\\epsilon)`.

    .. math::

        \\mu_t = (1 - w_t^{g})\\,\\mu_{t-1} + w_t^{g}\\,\\hat g_t, \\qquad
        s_t = (1 - w_t^{s})\\,s_{t-1} + w_t^{s}\\,\\hat g_t^2 .

    ``bias_correction`` picks the weights: ``"min"`` (the lecture's,
    :math:`w_t = 1/\\min(t, N)`), ``"adam"`` (the published Kingma-Ba debiasing,
    :math:`w_t = (1-\\beta)/(1-\\beta^t)` with :math:`\\beta_1 = 1-1/N_g`,
    :math:`\\beta_2 = 1-1/N_s`: the state holds the debiased :math:`\\hat m_t, \\hat v_t`,
    and the run equals ``torch.optim.Adam(betas=(β1, β2))``) or ``"none"``
    (:math:`w_t = 1/N`). ``lr`` is :math:`\\eta \\ge 0`; ``N_g, N_s \\ge 1``;
    ``eps \\ge 0``. State: ``mu``, ``s``, ``step``. ``impl``: ``"auto"`` (a fused kernel
    where one applies, foreach elsewhere), ``"reference"`` (:func:`adam_update`),
    ``"foreach"`` or ``"fused"``. The fused kernels, for float32/float64 tensors: on CPU,
    lab's own C++ step (``lab._fused``, compiled on first use), :func:`adam_update`'s
    arithmetic in one pass over memory; where it cannot be built (no compiler; one
    warning), and on CUDA, torch's fused Adam kernel (contiguous tensors; the others take
    the foreach path), driven with :math:`\\beta = 1 - w_t` and an infinite step
    count, so its bias correction :math:`1-\\beta^\\infty` is 1 and it computes the
    weighted averages above, for ``eps > 0``. Raises ``ValueError`` for an argument out of
    range, or at a step with ``impl="fused"`` where no fused kernel applies (another
    device, or torch's kernel with ``eps = 0``).
    """

    _state_names = ("mu", "s")
    _impls = ("auto", "reference", "foreach", "fused")
    _bucket_by_step = True
    _has_fused_cpu = True

    def __init__(self, params, lr: float = 1e-3, N_g: float = 10, N_s: float = 1000,
                 eps: float = 1e-8, bias_correction: str = "min", *, impl: str = "auto",
                 check_finite: bool | str = True):
        defaults = dict(lr=lr, N_g=N_g, N_s=N_s, eps=eps, bias_correction=bias_correction)
        self._inf_steps: dict = {}
        super().__init__(params, defaults, impl, check_finite)

    def _validate(self, group):
        group["lr"] = nonnegative("lr", group["lr"])
        group["N_g"] = _N("N_g", group["N_g"])
        group["N_s"] = _N("N_s", group["N_s"])
        group["eps"] = nonnegative("eps", group["eps"])
        if group["bias_correction"] not in _BIAS_CORRECTIONS:
            raise ValueError("bias_correction must be one of ('min', 'adam', 'none'), got "
                             f"{group['bias_correction']!r}")

    @staticmethod
    def _weights(group, t):
        kind = _BIAS_CORRECTIONS[group["bias_correction"]]
        return (running_average_weight(t, group["N_g"], kind),
                running_average_weight(t, group["N_s"], kind))

    def _reference(self, group, p, g, state):
        w_g, w_s = self._weights(group, state["step"])
        adam_update(p, g, state["mu"], state["s"], lr=group["lr"], w_g=w_g, w_s=w_s,
                    eps=group["eps"])

    @staticmethod
    def _fusable(group, device, w_g, w_s) -> bool:
        return (group["eps"] > 0 and 1 - w_g < 1 and 1 - w_s < 1
                and device.type in ("cpu", "cuda"))

    def _fused_cpu(self, group, ps, gs, states, step, ops, freeze):
        w_g, w_s = self._weights(group, step)
        return ops.adam_step(ps, gs, [s["mu"] for s in states], [s["s"] for s in states],
                             group["lr"], w_g, w_s, group["eps"], freeze)

    def _fast_step(self, group, ps, gs, states, step):
        w_g, w_s = self._weights(group, step)
        impl, device = group["impl"], ps[0].device
        if impl in ("auto", "fused") and self._fusable(group, device, w_g, w_s):
            fused = [p.is_contiguous() and g.is_contiguous() and s["mu"].is_contiguous()
                     and s["s"].is_contiguous() for p, g, s in zip(ps, gs, states)]
            self._torch_fused(group, *(_pick(x, fused, True) for x in (ps, gs, states)),
                              w_g, w_s)
            ps, gs, states = (_pick(x, fused, False) for x in (ps, gs, states))
        elif impl == "fused":
            raise ValueError("impl='fused' needs lab's CPU kernel (lab._fused, which could not "
                             "be built here) or torch's fused kernel (float32/float64 on CPU or "
                             "CUDA, eps > 0); use impl='auto' to fall back to foreach")
        if ps:
            self._foreach(group, ps, gs, states, w_g, w_s)

    def _torch_fused(self, group, ps, gs, states, w_g, w_s):
        if not ps:
            return
        device = ps[0].device
        if device not in self._inf_steps:
            self._inf_steps[device] = torch.tensor(math.inf, device=device)
        torch._fused_adam_(ps, gs, [s["mu"] for s in states], [s["s"] for s in states], [],
                           [self._inf_steps[device]] * len(ps), lr=group["lr"],
                           beta1=1 - w_g, beta2=1 - w_s, weight_decay=0.0, eps=group["eps"],
                           amsgrad=False, maximize=False)

    @staticmethod
    def _foreach(group, ps, gs, states, w_g, w_s):
        mus = [s["mu"] for s in states]
        ss = [s["s"] for s in states]
        torch._foreach_lerp_(mus, gs, w_g)
        torch._foreach_mul_(ss, 1 - w_s)
        torch._foreach_addcmul_(ss, gs, gs, value=w_s)
        denom = torch._foreach_sqrt(ss)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_clamp_min_(denom, _tiny(ps[0]))
        torch._foreach_addcdiv_(ps, mus, denom, value=-group["lr"])


def _pick(items, flags, value):
    return [x for x, f in zip(items, flags) if f == value]


class SNR(_LabOptimizer):
    """The lecture's complete algorithm: a learning rate per coordinate from the gradient's signal-to-noise ratio.

    For the :math:`t`-th gradient, per coordinate :math:`i`:

    .. math::

        w &= \\min\\bigl(1,\\ B/B^*(t-1)[i]\\bigr),\\\\
        \\tilde g^t[i] &= (1-w)\\,\\tilde g^{t-1}[i] + w\\,\\hat g^t[i], \\qquad
        \\tilde s^t[i] = (1-w)\\,\\tilde s^{t-1}[i] + w\\,\\hat g^t[i]^2,\\\\
        \\tilde\\sigma^t[i]^2 &= \\max(\\tilde s^t[i] - \\tilde g^t[i]^2,\\ 0)\\quad(\\times B,\\ \\text{see below}),\\\\
        B^*(t)[i] &= K \\text{ for } t \\le K, \\text{ else }
            \\lambda_B\\,\\tilde\\sigma^t[i]^2/(\\tilde g^t[i]^2 + \\epsilon),\\\\
        \\eta^t[i] &= 0 \\text{ for } t \\le K, \\text{ else }
            \\min\\bigl(\\lambda_\\eta\\,\\tilde g^t[i]^2/\\tilde\\sigma^t[i]^2,\\ \\eta_{\\max}\\bigr),\\\\
        \\Phi^{t+1}[i] &= \\Phi^t[i] - \\mathrm{lr}\\cdot\\eta^t[i]\\,\\hat g^t[i].

    Choices where the slide is silent, each tested:

    - the weight :math:`B/B^*` is capped at 1 (:func:`snr_weight`);
    - :math:`\\tilde s - \\tilde g^2 < 0` from round-off is taken as 0;
    - :math:`\\eta` is capped at ``eta_max``, default :math:`\\lambda_\\eta\\lambda_B/B`,
      its value at :math:`B^* = B` (:func:`snr_learning_rate`);
    - ``second_moment="batch"`` (default): :math:`\\tilde s` averages the squared batch
      mean, whose variance is :math:`\\sigma^2/B`, and :math:`\\tilde\\sigma^2` is
      :math:`B(\\tilde s - \\tilde g^2)`, the per-example variance; ``"examples"``:
      :math:`\\tilde s` averages per-example squares, read from the attribute
      ``p.grad_sq`` (the batch mean of squared per-example gradients, set by the caller
      next to ``p.grad``), and :math:`\\tilde\\sigma^2 = \\tilde s - \\tilde g^2`. The two
      agree with the slide for :math:`B = 1` (see the lecture's slide on scaling
      :math:`N_s`).
    - ``eps`` must be > 0: it keeps :math:`B^*` finite where :math:`\\tilde g = 0`.
    - During warm-up the averages use the constant weight :math:`\\min(1, B/K)` from 0,
      so like the uncorrected running average they start biased toward 0.

    ``batch_size`` :math:`B \\ge 1`, ``lambda_eta`` :math:`\\lambda_\\eta > 0`,
    ``lambda_B`` :math:`\\lambda_B > 0` (16 in the lecture's derivation), ``K \\ge 0``
    (an integer), ``eps > 0``, ``eta_max > 0`` or None, ``lr \\ge 0`` a multiplier on
    :math:`\\eta` (1 is the lecture's algorithm; it lets torch's schedulers anneal).
    State: ``g_tilde``, ``s_tilde``, ``step``; :meth:`B_star` and :meth:`eta` give
    :math:`B^*[i]` and :math:`\\eta[i]` for plotting. ``impl``: ``"fused"`` (float32/float64
    CPU tensors: lab's C++ step, ``lab._fused``, compiled on first use: :func:`snr_update`'s
    equations rearranged to fewer operations in one pass over memory, equal to it up to
    round-off, and bit for bit during warm-up on x86 with AVX2 or AVX-512), ``"foreach"``
    (``_snr_block``'s 13 elementwise ops over cache-sized blocks, equal to the reference
    up to round-off), ``"auto"`` (fused where
    it applies, else foreach; where the C++ step cannot be built, one warning and
    foreach), or ``"reference"`` (:func:`snr_update`). Raises ``ValueError`` for an
    argument out of range, at a step in ``"examples"`` mode when ``p.grad_sq`` is missing
    or has the wrong shape, or at a step with ``impl="fused"`` on another device;
    ``RuntimeError`` with ``impl="fused"`` where the C++ step cannot be built.
    """

    _state_names = ("g_tilde", "s_tilde")
    _impls = ("auto", "reference", "foreach", "fused")
    _bucket_by_step = True
    _has_fused_cpu = True

    def __init__(self, params, batch_size: int, lambda_eta: float, lambda_B: float = 16.0,
                 K: int = 10, eps: float = 1e-8, *, eta_max: float | None = None,
                 second_moment: str = "batch", lr: float = 1.0, impl: str = "auto",
                 check_finite: bool | str = True):
        defaults = dict(batch_size=batch_size, lambda_eta=lambda_eta, lambda_B=lambda_B, K=K,
                        eps=eps, eta_max=eta_max, second_moment=second_moment, lr=lr)
        self._scratch_arrays: dict = {}
        super().__init__(params, defaults, impl, check_finite)

    def _validate(self, group):
        group["batch_size"] = integer_at_least("batch_size", group["batch_size"], 1)
        group["lambda_eta"] = positive("lambda_eta", group["lambda_eta"])
        group["lambda_B"] = positive("lambda_B", group["lambda_B"])
        group["K"] = integer_at_least("K", group["K"], 0)
        group["eps"] = positive("eps", group["eps"])
        if group["eta_max"] is not None:
            group["eta_max"] = positive("eta_max", group["eta_max"])
        group["lr"] = nonnegative("lr", group["lr"])
        if group["second_moment"] not in ("batch", "examples"):
            raise ValueError("second_moment must be 'batch' or 'examples', got "
                             f"{group['second_moment']!r}")

    @staticmethod
    def _eta_max(group) -> float:
        if group["eta_max"] is not None:
            return group["eta_max"]
        return group["lambda_eta"] * group["lambda_B"] / group["batch_size"]

    def _extra_grads(self, group, params):
        if group["second_moment"] != "examples":
            return []
        out = []
        for p in params:
            sq = getattr(p, "grad_sq", None)
            if not isinstance(sq, torch.Tensor) or sq.shape != p.shape or sq.device != p.device:
                raise ValueError(
                    "SNR(second_moment='examples') needs p.grad_sq, a tensor shaped like p on "
                    "its device holding the batch mean of squared per-example gradients")
            out.append(sq)
        return out

    def _collect(self):
        work = super()._collect()
        for group, params, _, _ in work:
            self._extra_grads(group, params)
        return work

    def _group_hyper(self, group):
        return dict(batch_size=group["batch_size"], K=group["K"],
                    second_moment=group["second_moment"])

    def _grad_sq(self, group, p, dtype):
        if group["second_moment"] != "examples":
            return None
        return p.grad_sq.to(dtype)

    def _reference(self, group, p, g, state):
        snr_update(p, g, state["g_tilde"], state["s_tilde"], state["step"],
                   lambda_eta=group["lambda_eta"], lambda_B=group["lambda_B"], eps=group["eps"],
                   eta_max=self._eta_max(group), lr=group["lr"],
                   grad_sq=self._grad_sq(group, p, state["g_tilde"].dtype),
                   **self._group_hyper(group))

    def _reference_step(self, group, p, g, state):
        # p.grad_sq travels with p, so the float32 copy used for half parameters needs it.
        if p.dtype in _LOW_PRECISION:
            p32 = p.float()
            snr_update(p32, g.float(), state["g_tilde"], state["s_tilde"], state["step"],
                       lambda_eta=group["lambda_eta"], lambda_B=group["lambda_B"],
                       eps=group["eps"], eta_max=self._eta_max(group), lr=group["lr"],
                       grad_sq=self._grad_sq(group, p, torch.float32),
                       **self._group_hyper(group))
            p.copy_(p32)
        else:
            self._reference(group, p, g, state)

    # The fast path works through the parameters in blocks of about ``_block`` elements:
    # slices of one large contiguous tensor, or several small (or non-contiguous)
    # tensors gathered into flat copies. On CPU a block's slices of p, grad, g~, s~ and
    # two scratch arrays (float32: 6 x 128 KiB) stay in a core's L2 cache while the
    # thirteen elementwise ops of _snr_block run over them, so memory sees each element
    # about once per step instead of once per op, and a block of at most 32768 elements
    # (torch's grain size) keeps each op on one thread, which a loaded machine rewards.
    # On a GPU each op is one kernel launch, so blocks are large.
    _block = 1 << 15
    _block_gpu = 1 << 24

    def _scratch(self, like: torch.Tensor, n: int):
        """Two reusable flat arrays of at least ``n`` elements: a fresh large temporary
        costs page faults on CPU, and scratch kept here stays out of the saved state."""
        key = (like.device, like.dtype)
        pair = self._scratch_arrays.get(key)
        if pair is None or pair[0].numel() < n:
            pair = torch.empty(2, n, device=like.device, dtype=like.dtype).unbind()
            self._scratch_arrays[key] = pair
        return pair

    def _fused_cpu(self, group, ps, gs, states, step, ops, freeze):
        K, B, examples = group["K"], group["batch_size"], group["second_moment"] == "examples"
        sqs = [p.grad_sq.to(p.dtype) for p in ps] if examples else []
        # The warm-up weight min(1, B/K) while the averages are updated with it (t - 1 <= K),
        # else -1: the per-coordinate weight min(1, B/B*).
        warm = (1.0 if K == 0 else min(1.0, B / K)) if step - 1 <= K else -1.0
        return ops.snr_step(ps, gs, [s["g_tilde"] for s in states],
                            [s["s_tilde"] for s in states], sqs, warm, step > K, B,
                            group["lambda_B"], group["lambda_eta"], group["eps"],
                            self._eta_max(group), group["lr"], 1 if examples else B, freeze)

    def _fast_step(self, group, ps, gs, states, step):
        self._fused_unavailable(group, ps)
        K, B = group["K"], group["batch_size"]
        gts = [s["g_tilde"] for s in states]
        sts = [s["s_tilde"] for s in states]
        examples = group["second_moment"] == "examples"
        sqs = [p.grad_sq.to(gt.dtype) for p, gt in zip(ps, gts)] if examples else None
        skip_weight = step - 1 <= K
        if skip_weight:
            # Warm-up: the weight is one float, and this runs only K + 1 times.
            w = 1.0 if K == 0 else min(1.0, B / K)
            torch._foreach_lerp_(gts, gs, w)
            torch._foreach_lerp_(sts, sqs if examples else torch._foreach_mul(gs, gs), w)
            if step <= K:
                return
        like = gts[0]
        eta_max, per_example = self._eta_max(group), 1 if examples else B
        consts = dict(
            zero=torch.zeros((), dtype=like.dtype, device=like.device),
            eps=torch.tensor(group["eps"], dtype=like.dtype, device=like.device),
            tiny=torch.tensor(_tiny(like), dtype=like.dtype, device=like.device),
            k_w=group["lambda_B"] * per_example / B,
            k_eta=eta_max * per_example / group["lambda_eta"],
            step=-group["lr"] * eta_max, skip_weight=skip_weight)
        block = self._block if like.device.type == "cpu" else self._block_gpu
        columns = [ps, gs, gts, sts] + ([sqs] if examples else [])
        sizes = [p.numel() for p in ps]
        a_full, b_full = self._scratch(like, min(block, sum(sizes)))
        small = []
        for i, n in enumerate(sizes):
            tensors = [c[i] for c in columns]
            if n < block or not all(x.is_contiguous() for x in tensors):
                small.append(i)
                continue
            # Slices of one large tensor, updated in place.
            slices = [x.view(-1).split(block) for x in tensors]
            for j, (p_, g_, gt_, st_, *sq_) in enumerate(zip(*slices)):
                a, b = (a_full, b_full) if j < n // block else (a_full[:n % block],
                                                                 b_full[:n % block])
                _snr_block(p_, g_, gt_, st_, sq_[0] if sq_ else None, a, b, **consts)
        # Small (or non-contiguous) tensors: gather about a block's worth into flat
        # copies, compute, and scatter g~, s~ and the step back.
        start = 0
        while start < len(small):
            stop, n = start + 1, sizes[small[start]]
            while stop < len(small) and n + sizes[small[stop]] <= block:
                n += sizes[small[stop]]
                stop += 1
            idx = small[start:stop]
            start = stop
            p_, g_, gt_, st_, *sq_ = ([c[i] for i in idx] for c in columns)
            # C++ flatten/unflatten: a Python loop of views costs more than the arithmetic.
            flatten = torch._C._nn.flatten_dense_tensors
            unflatten = torch._C._nn.unflatten_dense_tensors
            g_flat, averages = flatten(g_), flatten(gt_ + st_)
            sq_flat = flatten(sq_[0]) if sq_ else None
            a, b = ((a_full[:n], b_full[:n]) if n <= block
                    else (torch.empty_like(g_flat), torch.empty_like(g_flat)))
            _snr_block(None, g_flat, averages[:n], averages[n:], sq_flat, a, b, **consts)
            torch._foreach_copy_(gt_ + st_, unflatten(averages, gt_ + st_))
            torch._foreach_addcdiv_(p_, g_, unflatten(b, p_), value=consts["step"])

    def _find(self, p):
        for group in self.param_groups:
            if any(p is q for q in group["params"]):
                return group
        raise ValueError("p is not a parameter of this optimizer")

    def B_star(self, p: torch.Tensor) -> torch.Tensor:
        """:math:`B^*(t)[i]` for parameter ``p`` after its latest step (:func:`snr_batch_size_star`).

        Before the first step: :math:`K` everywhere. Same shape as ``p``, float32 for
        half-precision ``p``. Raises ``ValueError`` if ``p`` is not optimized here.
        """
        group = self._find(p)
        state = self.state.get(p)
        if not state:
            return torch.full_like(p, float(group["K"]), dtype=self._state_dtype(p))
        return snr_batch_size_star(state["g_tilde"], state["s_tilde"], state["step"],
                                   lambda_B=group["lambda_B"], eps=group["eps"],
                                   **self._group_hyper(group))

    def eta(self, p: torch.Tensor) -> torch.Tensor:
        """:math:`\\eta^t[i]` used at parameter ``p``'s latest step (:func:`snr_learning_rate`), before ``lr``.

        Before the first step: 0 everywhere. Raises ``ValueError`` if ``p`` is not
        optimized here.
        """
        group = self._find(p)
        state = self.state.get(p)
        if not state:
            return torch.zeros_like(p, dtype=self._state_dtype(p))
        return snr_learning_rate(state["g_tilde"], state["s_tilde"], state["step"],
                                 lambda_eta=group["lambda_eta"], eta_max=self._eta_max(group),
                                 **self._group_hyper(group))

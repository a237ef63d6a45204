"""The six optimizers of the lecture as ``torch.optim.Optimizer`` subclasses.

Each class checks its hyperparameters, names its state, and hands one step to the
reference function of :mod:`lab.optim.updates`, to ``lab.optim._foreach``, or to the
named C++ op of ``lab.optim._fused``; ``lab.optim._base.LabOptimizer`` chooses
(see :mod:`lab.optim` for ``impl`` and ``check_finite``).
"""

from __future__ import annotations

import math

import torch

from lab._checks import choice
from lab.optim import _foreach, updates
from lab.optim._base import SLACK, LabOptimizer
from lab.optim.updates import (
    check_batch_size,
    check_eps,
    check_K,
    check_lr,
    check_N,
    check_scale,
    check_snr_eps,
)
from lab.running_averages import running_average_weight

__all__ = ["SGD", "Momentum", "AveragedMomentum", "RMSProp", "Adam", "SNR"]


class SGD(LabOptimizer):
    """Vanilla SGD: :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`
    (:func:`~lab.optim.sgd_update`).

    ``lr`` is :math:`\\eta \\in [0, 10^6]`. ``impl``, ``check_finite``: see
    :mod:`lab.optim`. Raises ``ValueError`` for ``lr`` out of range (checked again at
    every step).
    """

    def __init__(
        self, params, lr: float, *, impl: str = "auto", check_finite: bool | str = True
    ):
        super().__init__(params, dict(lr=lr), impl, check_finite)

    def _validate(self, group):
        group["lr"] = check_lr(group["lr"])

    def _next_bounds(self, group, G, SQ, M, lim):
        return {} if group["lr"] * G <= lim.step else None

    def _reference(self, group, p, g, sq, state):
        updates.sgd_update(p, g, lr=group["lr"])

    def _foreach(self, group, ps, gs, sqs, states, step):
        _foreach.sgd(ps, gs, states, lr=group["lr"])

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze):
        return ops.sgd_step(ps, gs, group["lr"], freeze)


class Momentum(LabOptimizer):
    """The lecture's momentum: :math:`v_t = (1-\\frac1N)v_{t-1} + \\eta\\,\\hat g_t`,
    :math:`\\Phi \\mathrel{-}= v_t` (:func:`~lab.optim.momentum_update`).

    ``lr`` is :math:`\\eta \\ge 0`, ``N`` :math:`\\ge 1` the averaging time. At constant
    :math:`\\eta` this is ``torch.optim.SGD(lr=η, momentum=1-1/N)``; the two part ways
    when :math:`\\eta` changes, because here :math:`v` accumulates
    :math:`\\eta_s\\hat g_s` (each gradient keeps the learning rate of its step) while
    torch multiplies its whole buffer by the current learning rate. State: ``v``.
    ``impl``, ``check_finite``: see :mod:`lab.optim`. Raises ``ValueError`` for ``lr``
    outside :math:`[0, 10^6]` or ``N < 1`` (checked again at every step).
    """

    _state_names = ("v",)

    def __init__(
        self,
        params,
        lr: float,
        N: float = 10,
        *,
        impl: str = "auto",
        check_finite: bool | str = True,
    ):
        super().__init__(params, dict(lr=lr, N=N), impl, check_finite)

    def _validate(self, group):
        group["lr"] = check_lr(group["lr"])
        group["N"] = check_N("N", group["N"])

    def _next_bounds(self, group, G, SQ, M, lim):
        v = (1 - 1 / group["N"]) * M["v"] + group["lr"] * G
        return {"v": v} if v <= lim.step else None

    def _reference(self, group, p, g, sq, state):
        updates.momentum_update(p, g, state["v"], lr=group["lr"], N=group["N"])

    def _foreach(self, group, ps, gs, sqs, states, step):
        _foreach.momentum(ps, gs, states, lr=group["lr"], N=group["N"])

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze):
        return ops.momentum_step(
            ps, gs, [s["v"] for s in states], group["lr"], 1 - 1 / group["N"], freeze
        )


class AveragedMomentum(LabOptimizer):
    """Momentum as a running average: :math:`\\mu_t = (1-\\frac1N)\\mu_{t-1} +
    \\frac1N\\hat g_t`, :math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`
    (:func:`~lab.optim.averaged_momentum_update`).

    ``lr`` is :math:`\\eta' = N\\eta \\ge 0`, ``N`` :math:`\\ge 1`. Equal to
    ``Momentum(lr=η'/N, N)`` and to ``torch.optim.SGD(lr=η'/N, momentum=1-1/N)``
    (not to torch's ``dampening=1/N``, whose first step is undamped). State: ``mu``.
    ``impl``, ``check_finite``: see :mod:`lab.optim`. Raises ``ValueError`` for ``lr``
    outside :math:`[0, 10^6]` or ``N < 1`` (checked again at every step).
    """

    _state_names = ("mu",)

    def __init__(
        self,
        params,
        lr: float,
        N: float = 10,
        *,
        impl: str = "auto",
        check_finite: bool | str = True,
    ):
        super().__init__(params, dict(lr=lr, N=N), impl, check_finite)

    def _validate(self, group):
        group["lr"] = check_lr(group["lr"])
        group["N"] = check_N("N", group["N"])

    def _next_bounds(self, group, G, SQ, M, lim):
        # |mu| stays below max(|mu|, |g|); g - mu is the largest intermediate.
        mu = max(M["mu"], G)
        ok = M["mu"] + G <= lim.peak and group["lr"] * mu <= lim.step
        return {"mu": mu} if ok else None

    def _reference(self, group, p, g, sq, state):
        updates.averaged_momentum_update(
            p, g, state["mu"], lr=group["lr"], N=group["N"]
        )

    def _foreach(self, group, ps, gs, sqs, states, step):
        _foreach.averaged_momentum(ps, gs, states, lr=group["lr"], N=group["N"])

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze):
        return ops.averaged_momentum_step(
            ps, gs, [s["mu"] for s in states], group["lr"], 1 / group["N"], freeze
        )


class RMSProp(LabOptimizer):
    """RMSProp: :math:`s_t = (1-\\frac{1}{N_s})s_{t-1} + \\frac{1}{N_s}\\hat g_t^2`,
    :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g_t/\\sqrt{s_t + \\epsilon}`
    (:func:`~lab.optim.rmsprop_update`).

    ``lr`` is :math:`\\eta \\ge 0`, ``N_s \\ge 1``, ``eps`` :math:`\\epsilon \\ge 0`. The
    lecture puts :math:`\\epsilon` inside the square root, torch outside: with
    ``eps=0`` this is ``torch.optim.RMSprop(lr=η, alpha=1-1/N_s, eps=0)``. State:
    ``s``. ``impl``, ``check_finite``: see :mod:`lab.optim`. Raises ``ValueError`` for
    ``lr`` or ``eps`` outside :math:`[0, 10^6]` or ``N_s < 1`` (checked again at every
    step).
    """

    _state_names = ("s",)
    _nonnegative_state = ("s",)

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        N_s: float = 100,
        eps: float = 1e-8,
        *,
        impl: str = "auto",
        check_finite: bool | str = True,
    ):
        super().__init__(params, dict(lr=lr, N_s=N_s, eps=eps), impl, check_finite)

    def _validate(self, group):
        group["lr"] = check_lr(group["lr"])
        group["N_s"] = check_N("N_s", group["N_s"])
        group["eps"] = check_eps(group["eps"])

    def _next_bounds(self, group, G, SQ, M, lim):
        # |g| / sqrt(s_t + eps) <= 1/sqrt(w) where w g^2 is a normal number (s_t >= w g^2),
        # else |g| / tiny <= 2 sqrt(N_s / tiny); and <= |g| / sqrt(eps).
        s = max(M["s"], G * G)
        ratio = min(
            G / max(math.sqrt(group["eps"]), lim.tiny),
            2 * math.sqrt(group["N_s"] / lim.tiny),
        )
        ok = M["s"] + G * G + group["eps"] <= lim.peak
        return {"s": s} if ok and group["lr"] * ratio <= lim.step else None

    def _reference(self, group, p, g, sq, state):
        updates.rmsprop_update(
            p, g, state["s"], lr=group["lr"], N_s=group["N_s"], eps=group["eps"]
        )

    def _foreach(self, group, ps, gs, sqs, states, step):
        _foreach.rmsprop(
            ps, gs, states, lr=group["lr"], N_s=group["N_s"], eps=group["eps"]
        )

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze):
        return ops.rmsprop_step(
            ps,
            gs,
            [s["s"] for s in states],
            group["lr"],
            1 / group["N_s"],
            group["eps"],
            freeze,
        )


BIAS_CORRECTIONS = ("min", "adam", "none")


class Adam(LabOptimizer):
    """The lecture's simplified Adam: running averages of :math:`\\hat g` and
    :math:`\\hat g^2`, :math:`\\Phi \\mathrel{-}= \\eta\\,\\mu_t/(\\sqrt{s_t}+\\epsilon)`
    (:func:`~lab.optim.adam_update`).

    .. math::

        \\mu_t = (1 - w_t^{g})\\,\\mu_{t-1} + w_t^{g}\\,\\hat g_t, \\qquad
        s_t = (1 - w_t^{s})\\,s_{t-1} + w_t^{s}\\,\\hat g_t^2 .

    ``bias_correction`` picks the weights: ``"min"`` (the lecture's,
    :math:`w_t = 1/\\min(t, N)`), ``"adam"`` (the published Kingma-Ba debiasing,
    :math:`w_t = (1-\\beta)/(1-\\beta^t)` with :math:`\\beta_1 = 1-1/N_g`,
    :math:`\\beta_2 = 1-1/N_s`: the state holds the debiased :math:`\\hat m_t, \\hat v_t`,
    and the run equals ``torch.optim.Adam(betas=(β1, β2))``) or ``"none"``
    (:math:`w_t = 1/N`). ``lr`` is :math:`\\eta \\in [0, 10^6]`; ``N_g, N_s \\ge 1``;
    ``eps`` in :math:`[0, 10^6]` (``eps=0`` makes the Python steps' bound on
    :math:`\\mu/\\sqrt{s}` useless, so ``impl="foreach"`` then checks each step on
    copies: slower). State: ``mu``, ``s``, ``step``. ``impl``, ``check_finite``: see
    :mod:`lab.optim`; off the C++ step (CUDA, no compiler) ``"auto"`` and ``"fused"``
    use torch's fused Adam kernel where it applies (contiguous float32/float64 tensors,
    ``eps > 0``). Raises ``ValueError`` for an argument out of range (checked again at
    every step), or at a step with ``impl="fused"`` where no fused kernel applies (before
    anything changes).
    """

    _state_names = ("mu", "s")
    _nonnegative_state = ("s",)
    _bucket_by_step = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        N_g: float = 10,
        N_s: float = 1000,
        eps: float = 1e-8,
        bias_correction: str = "min",
        *,
        impl: str = "auto",
        check_finite: bool | str = True,
    ):
        defaults = dict(
            lr=lr, N_g=N_g, N_s=N_s, eps=eps, bias_correction=bias_correction
        )
        self._inf_steps: dict = {}
        super().__init__(params, defaults, impl, check_finite)

    def _validate(self, group):
        group["lr"] = check_lr(group["lr"])
        group["N_g"] = check_N("N_g", group["N_g"])
        group["N_s"] = check_N("N_s", group["N_s"])
        group["eps"] = check_eps(group["eps"])
        choice("bias_correction", group["bias_correction"], BIAS_CORRECTIONS)

    def _next_bounds(self, group, G, SQ, M, lim):
        # Running averages with weights in [0, 1]; the step is at most lr mu / eps.
        mu, s = max(M["mu"], G), max(M["s"], G * G)
        ok = (
            M["mu"] + G <= lim.peak
            and M["s"] + G * G <= lim.peak
            and group["lr"] * mu / max(group["eps"], lim.tiny) <= lim.step
        )
        return {"mu": mu, "s": s} if ok else None

    def _fused_fallback_check(self, group, p, ops):
        if ops is None or p.device.type != "cpu":
            if not (group["eps"] > 0 and p.device.type in ("cpu", "cuda")):
                raise ValueError(
                    "impl='fused' needs lab's CPU kernel (lab.optim._fused, which "
                    "could not be built here) or torch's fused kernel (float32/"
                    "float64 on CPU or CUDA, eps > 0); use impl='auto' to fall back "
                    "to foreach"
                )

    @staticmethod
    def _weights(group, t):
        kind = group["bias_correction"]
        return (
            running_average_weight(t, group["N_g"], kind),
            running_average_weight(t, group["N_s"], kind),
        )

    def _reference(self, group, p, g, sq, state):
        w_g, w_s = self._weights(group, state["step"])
        updates.adam_update(
            p,
            g,
            state["mu"],
            state["s"],
            lr=group["lr"],
            w_g=w_g,
            w_s=w_s,
            eps=group["eps"],
        )

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze):
        w_g, w_s = self._weights(group, step)
        return ops.adam_step(
            ps,
            gs,
            [s["mu"] for s in states],
            [s["s"] for s in states],
            group["lr"],
            w_g,
            w_s,
            group["eps"],
            freeze,
        )

    def _fast(self, group, ps, gs, sqs, states, step):
        # Off lab's C++ step: torch's fused kernel for contiguous tensors where it
        # applies, foreach for the rest.
        w_g, w_s = self._weights(group, step)
        hyper = dict(lr=group["lr"], w_g=w_g, w_s=w_s, eps=group["eps"])
        device = ps[0].device
        fusable = (
            group["eps"] > 0
            and 1 - w_g < 1
            and 1 - w_s < 1
            and device.type in ("cpu", "cuda")
        )
        if group["impl"] in ("auto", "fused") and fusable:
            fused = [
                p.is_contiguous()
                and g.is_contiguous()
                and s["mu"].is_contiguous()
                and s["s"].is_contiguous()
                for p, g, s in zip(ps, gs, states)
            ]
            if any(fused):
                if device not in self._inf_steps:
                    self._inf_steps[device] = torch.tensor(math.inf, device=device)
                _foreach.adam_torch_fused(
                    *(_pick(x, fused, True) for x in (ps, gs, states)),
                    inf_step=self._inf_steps[device],
                    **hyper,
                )
            ps, gs, states = (_pick(x, fused, False) for x in (ps, gs, states))
        elif group["impl"] == "fused":
            raise ValueError(
                "impl='fused' needs lab's CPU kernel (lab.optim._fused, which "
                "could not be built here) or torch's fused kernel (float32/"
                "float64 on CPU or CUDA, eps > 0); use impl='auto' to fall back "
                "to foreach"
            )
        if ps:
            _foreach.adam(ps, gs, states, **hyper)


def _pick(items, flags, value):
    return [x for x, f in zip(items, flags) if f == value]


class SNR(LabOptimizer):
    """The lecture's complete algorithm: a learning rate per coordinate from the
    gradient's signal-to-noise ratio.

    For the :math:`t`-th gradient, per coordinate :math:`i`:

    .. math::

        w &= \\min\\bigl(1,\\ B/B^*(t-1)[i]\\bigr),\\\\
        \\tilde g^t[i] &= (1-w)\\,\\tilde g^{t-1}[i] + w\\,\\hat g^t[i], \\qquad
        \\tilde s^t[i] = (1-w)\\,\\tilde s^{t-1}[i] + w\\,\\hat g^t[i]^2,\\\\
        \\tilde\\sigma^t[i]^2 &= \\max(\\tilde s^t[i] - \\tilde g^t[i]^2,\\ 0)
            \\quad(\\times B,\\ \\text{see below}),\\\\
        B^*(t)[i] &= K \\text{ for } t \\le K, \\text{ else }
            \\lambda_B\\,\\tilde\\sigma^t[i]^2/(\\tilde g^t[i]^2 + \\epsilon),\\\\
        \\eta^t[i] &= 0 \\text{ for } t \\le K, \\text{ else }
            \\min\\bigl(\\lambda_\\eta\\,\\tilde g^t[i]^2/\\tilde\\sigma^t[i]^2,\\
            \\eta_{\\max}\\bigr),\\\\
        \\Phi^{t+1}[i] &= \\Phi^t[i] - \\mathrm{lr}\\cdot\\eta^t[i]\\,\\hat g^t[i].

    Choices where the slide is silent, each tested:

    - the weight :math:`B/B^*` is capped at 1 (:func:`~lab.optim.snr_weight`);
    - :math:`\\tilde s - \\tilde g^2 < 0` from round-off is taken as 0;
    - :math:`\\eta` is capped at ``eta_max``, default :math:`\\lambda_\\eta\\lambda_B/B`,
      its value at :math:`B^* = B` (:func:`~lab.optim.snr_learning_rate`);
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

    ``batch_size`` :math:`B` an integer in :math:`[1, 2^{31}-1]`, ``lambda_eta``
    :math:`\\lambda_\\eta` and ``lambda_B`` :math:`\\lambda_B` (16 in the lecture's
    derivation) in :math:`[10^{-12}, 10^{12}]`, ``K`` an integer in :math:`[0, 10^9]`,
    ``eps`` in :math:`[10^{-30}, 10^6]`, ``eta_max`` in :math:`[10^{-12}, 10^{12}]` or
    None, ``lr`` in :math:`[0, 10^6]` a multiplier on :math:`\\eta` (1 is the lecture's
    algorithm; it lets torch's schedulers anneal). The bounds keep every constant of the
    step a normal float32 number (:mod:`lab.optim.updates`).
    State: ``g_tilde``, ``s_tilde``, ``step``; :meth:`B_star` and :meth:`eta` give
    :math:`B^*[i]` and :math:`\\eta[i]` for plotting. ``impl``, ``check_finite``: see
    :mod:`lab.optim`. Raises ``ValueError`` for an argument out of range (checked again
    at every step), or at a step in ``"examples"`` mode when ``p.grad_sq`` is missing or
    has the wrong shape (before anything changes).
    """

    _state_names = ("g_tilde", "s_tilde")
    _nonnegative_state = ("s_tilde",)
    _bucket_by_step = True
    _fused_bounds = True
    # The foreach step's block: on CPU a block of at most 32768 elements (torch's grain
    # size) keeps each op on one thread and in a core's L2 cache; on a GPU each op is
    # one kernel launch, so blocks are large.
    _block = 1 << 15
    _block_gpu = 1 << 24

    def __init__(
        self,
        params,
        batch_size: int,
        lambda_eta: float,
        lambda_B: float = 16.0,
        K: int = 10,
        eps: float = 1e-8,
        *,
        eta_max: float | None = None,
        second_moment: str = "batch",
        lr: float = 1.0,
        impl: str = "auto",
        check_finite: bool | str = True,
    ):
        defaults = dict(
            batch_size=batch_size,
            lambda_eta=lambda_eta,
            lambda_B=lambda_B,
            K=K,
            eps=eps,
            eta_max=eta_max,
            second_moment=second_moment,
            lr=lr,
        )
        self._scratch_arrays: dict = {}
        super().__init__(params, defaults, impl, check_finite)

    def _validate(self, group):
        group["batch_size"] = check_batch_size(group["batch_size"])
        group["lambda_eta"] = check_scale("lambda_eta", group["lambda_eta"])
        group["lambda_B"] = check_scale("lambda_B", group["lambda_B"])
        group["K"] = check_K(group["K"])
        group["eps"] = check_snr_eps(group["eps"])
        if group["eta_max"] is not None:
            group["eta_max"] = check_scale("eta_max", group["eta_max"])
        group["lr"] = check_lr(group["lr"])
        choice("second_moment", group["second_moment"], ("batch", "examples"))

    def _next_bounds(self, group, G, SQ, M, lim):
        # Running averages with weights in [0, 1]; the largest intermediates are
        # B (g~^2 + eps) and lambda_B B (s~ + g~^2) (the weight's numerator and
        # denominator); the step is at most lr eta_max |g|.
        B, lam = group["batch_size"], group["lambda_B"]
        sq = G * G if SQ is None else max(SQ, G * G)
        g, s = max(M["g_tilde"], G), max(M["s_tilde"], sq)
        peak = max(
            M["g_tilde"] + G,
            M["s_tilde"] + sq,
            B * (g * g + group["eps"]),
            lam * B * (s + g * g),
        )
        step = group["lr"] * self._eta_max(group) * G
        ok = peak <= lim.peak and step <= lim.step
        return {"g_tilde": g, "s_tilde": s} if ok else None

    @staticmethod
    def _eta_max(group) -> float:
        if group["eta_max"] is not None:
            return group["eta_max"]
        return group["lambda_eta"] * group["lambda_B"] / group["batch_size"]

    def _hyper(self, group) -> dict:
        return dict(
            batch_size=group["batch_size"],
            K=group["K"],
            second_moment=group["second_moment"],
        )

    def _grad_sq(self, group, params):
        if group["second_moment"] != "examples":
            return None
        out = []
        for p in params:
            sq = getattr(p, "grad_sq", None)
            if (
                not isinstance(sq, torch.Tensor)
                or sq.shape != p.shape
                or sq.device != p.device
            ):
                raise ValueError(
                    "SNR(second_moment='examples') needs p.grad_sq, a tensor shaped like p on "
                    "its device holding the batch mean of squared per-example gradients"
                )
            out.append(sq)
        return out

    def _reference(self, group, p, g, sq, state):
        updates.snr_update(
            p,
            g,
            state["g_tilde"],
            state["s_tilde"],
            state["step"],
            lambda_eta=group["lambda_eta"],
            lambda_B=group["lambda_B"],
            eps=group["eps"],
            eta_max=self._eta_max(group),
            lr=group["lr"],
            grad_sq=sq,
            **self._hyper(group),
        )

    def _scratch(self, like: torch.Tensor, n: int):
        """Two reusable flat arrays of at least ``n`` elements: a fresh large temporary
        costs page faults on CPU, and scratch kept here stays out of the saved state."""
        key = (like.device, like.dtype)
        pair = self._scratch_arrays.get(key)
        if pair is None or pair[0].numel() < n:
            pair = torch.empty(2, n, device=like.device, dtype=like.dtype).unbind()
            self._scratch_arrays[key] = pair
        return pair

    def _fused(self, ops, group, ps, gs, sqs, states, step, freeze, known):
        # With freeze, the C++ step tests each gradient against the largest one for
        # which nothing can overflow given ``known``, the state's bounds (see
        # lab.optim._base), and returns the largest |g| and |sq| it read,
        # from which the bounds after the step follow (running averages with weights in
        # [0, 1] stay within the larger of the old bound and the new value).
        K, B, examples = group["K"], group["batch_size"], sqs is not None
        sqs = [sq.to(p.dtype) for sq, p in zip(sqs, ps)] if examples else []
        # The warm-up weight min(1, B/K) while the averages are updated with it
        # (t - 1 <= K), else -1: the per-coordinate weight min(1, B/B*).
        warm = (1.0 if K == 0 else min(1.0, B / K)) if step - 1 <= K else -1.0
        M_g, M_s = (known["g_tilde"], known["s_tilde"]) if known else (math.inf,) * 2
        counts, G, SQ = ops.snr_step(
            ps,
            gs,
            [s["g_tilde"] for s in states],
            [s["s_tilde"] for s in states],
            sqs,
            warm,
            step > K,
            B,
            group["lambda_B"],
            group["lambda_eta"],
            group["eps"],
            self._eta_max(group),
            group["lr"],
            1 if examples else B,
            freeze,
            M_g,
            M_s,
        )
        after = None
        if freeze and all(map(math.isfinite, (M_g, M_s, G, SQ))):
            after = {
                "g_tilde": max(M_g, G) * (1 + SLACK),
                "s_tilde": max(M_s, SQ) * (1 + SLACK),
            }
        return counts, after

    def _foreach(self, group, ps, gs, sqs, states, step):
        if sqs is not None:
            sqs = [sq.to(s["g_tilde"].dtype) for sq, s in zip(sqs, states)]
        block = self._block if ps[0].device.type == "cpu" else self._block_gpu
        _foreach.snr(
            ps,
            gs,
            sqs,
            states,
            step,
            batch_size=group["batch_size"],
            lambda_eta=group["lambda_eta"],
            lambda_B=group["lambda_B"],
            K=group["K"],
            eps=group["eps"],
            eta_max=self._eta_max(group),
            lr=group["lr"],
            block=block,
            scratch=self._scratch,
        )

    def _find(self, p):
        for group in self.param_groups:
            if any(p is q for q in group["params"]):
                return group
        raise ValueError("p is not a parameter of this optimizer")

    def B_star(self, p: torch.Tensor) -> torch.Tensor:
        """:math:`B^*(t)[i]` for parameter ``p`` after its latest step
        (:func:`~lab.optim.snr_batch_size_star`).

        Before the first step: :math:`K` everywhere. Same shape as ``p``, float32 for
        half-precision ``p``. Raises ``ValueError`` if ``p`` is not optimized here.
        """
        group = self._find(p)
        state = self.state.get(p)
        if not state:
            return torch.full_like(p, float(group["K"]), dtype=self._state_dtype(p))
        return updates.snr_batch_size_star(
            state["g_tilde"],
            state["s_tilde"],
            state["step"],
            lambda_B=group["lambda_B"],
            eps=group["eps"],
            **self._hyper(group),
        )

    def eta(self, p: torch.Tensor) -> torch.Tensor:
        """:math:`\\eta^t[i]` used at parameter ``p``'s latest step
        (:func:`~lab.optim.snr_learning_rate`), before ``lr``.

        Before the first step: 0 everywhere. Raises ``ValueError`` if ``p`` is not
        optimized here.
        """
        group = self._find(p)
        state = self.state.get(p)
        if not state:
            return torch.zeros_like(p, dtype=self._state_dtype(p))
        return updates.snr_learning_rate(
            state["g_tilde"],
            state["s_tilde"],
            state["step"],
            lambda_eta=group["lambda_eta"],
            eta_max=self._eta_max(group),
            **self._hyper(group),
        )

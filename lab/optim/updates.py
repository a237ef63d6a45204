"""The lecture's update equations, one function per optimizer: read these beside the chapters.

Each function updates its tensors in place, for one parameter, exactly as the lecture
writes the step (torch only; every optimizer class in :mod:`lab.optim` steps through
these with ``impl="reference"``, and its fast paths are tested equal to them):

- :func:`~lab.optim.sgd_update`: Chapter 1, :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`;
- :func:`~lab.optim.momentum_update`, :func:`~lab.optim.averaged_momentum_update`: Chapter 6;
- :func:`~lab.optim.rmsprop_update`: Chapter 5;
- :func:`~lab.optim.adam_update`: Chapter 7;
- :func:`~lab.optim.snr_update` with :func:`~lab.optim.snr_variance`,
  :func:`~lab.optim.snr_batch_size_star`, :func:`~lab.optim.snr_weight`,
  :func:`~lab.optim.snr_learning_rate`: Chapter 10's complete algorithm.

The running averages are :func:`lab.running_averages.update_average_`
(:math:`a \\leftarrow (1-w)a + wx`) with the weights of
:func:`lab.running_averages.running_average_weight`.

Every function checks its hyperparameters as the classes do (``ValueError`` naming the
argument and its range): :math:`\\eta` (``lr``) in :math:`[0, 10^6]`; ``N``,
``N_s`` :math:`\\ge 1`; ``eps`` in :math:`[0, 10^6]`; weights ``w_g, w_s`` in
:math:`[0, 1]`; SNR's ``batch_size`` :math:`B` an integer in :math:`[1, 2^{31}-1]`,
``K`` an integer in :math:`[0, 10^9]`, ``lambda_eta``, ``lambda_B``, ``eta_max`` in
:math:`[10^{-12}, 10^{12}]` and ``eps`` in :math:`[10^{-30}, 10^6]`. The bounds keep every
constant a step derives from them (:math:`\\lambda_B B/B`, :math:`\\eta_{\\max}/\\lambda_\\eta`,
...) a normal float32 number, so that a step's arithmetic is finite wherever its
inputs are small enough (larger steps are caught by ``check_finite``).
"""

from __future__ import annotations

import torch

from lab._checks import choice, integer_between, real_between, real_in
from lab.running_averages import update_average_

#: The upper bound of ``lr`` (:math:`\\eta`, or SNR's multiplier on it).
LR_MAX = 1e6
#: The upper bound of RMSProp's, Adam's and SNR's ``eps``.
EPS_MAX = 1e6
#: SNR's ``lambda_eta``, ``lambda_B`` and ``eta_max`` lie in [SCALE_MIN, SCALE_MAX].
SCALE_MIN, SCALE_MAX = 1e-12, 1e12
#: SNR's ``eps`` is at least this (a normal float32 number: B* stays finite at g~ = 0).
SNR_EPS_MIN = 1e-30
#: SNR's ``batch_size`` and ``K`` upper bounds; a step index ``t`` is below T_MAX.
BATCH_MAX, K_MAX, T_MAX = 2**31 - 1, 10**9, 2**62
SECOND_MOMENTS = ("batch", "examples")


def check_lr(lr) -> float:
    """:math:`\\eta` (``lr``) as a float in :math:`[0, 10^6]`."""
    return real_between("lr", lr, 0.0, LR_MAX)


def check_N(name: str, N) -> float:
    """An averaging time ``N`` (``N``, ``N_g``, ``N_s``) as a finite float
    :math:`\\ge 1` (large values are harmless: the step uses :math:`1/N`)."""
    return real_in(name, N, 1.0)


def check_eps(eps) -> float:
    """RMSProp's and Adam's :math:`\\epsilon` as a float in :math:`[0, 10^6]`."""
    return real_between("eps", eps, 0.0, EPS_MAX)


def check_weight(name: str, w) -> float:
    """A running-average weight in :math:`[0, 1]`."""
    return real_between(name, w, 0.0, 1.0)


def check_scale(name: str, x) -> float:
    """SNR's ``lambda_eta``, ``lambda_B``, ``eta_max``: a float in
    :math:`[10^{-12}, 10^{12}]` (the message for 0 or less says ``> 0``)."""
    real_between(name, x, 0.0, SCALE_MAX, low_open=True)
    return real_between(name, x, SCALE_MIN, SCALE_MAX)


def check_snr_eps(eps) -> float:
    """SNR's :math:`\\epsilon` as a float in :math:`[10^{-30}, 10^6]`."""
    real_between("eps", eps, 0.0, EPS_MAX, low_open=True)
    return real_between("eps", eps, SNR_EPS_MIN, EPS_MAX)


def check_batch_size(B) -> int:
    """:math:`B` as an int in :math:`[1, 2^{31}-1]`."""
    return integer_between("batch_size", B, 1, BATCH_MAX)


def check_K(K) -> int:
    """SNR's warm-up length :math:`K` as an int in :math:`[0, 10^9]`."""
    return integer_between("K", K, 0, K_MAX)


def _check_eta_max(eta_max) -> float:
    # The default cap lambda_eta lambda_B / B may lie below SCALE_MIN; eta_max then
    # only has to be a positive float of at most SCALE_MAX^2 (= lambda_eta lambda_B).
    real_between("eta_max", eta_max, 0.0, SCALE_MAX**2, low_open=True)
    return float(eta_max)


def _snr_common(batch_size, K, t, second_moment) -> None:
    check_batch_size(batch_size)
    check_K(K)
    integer_between("t", t, 0, T_MAX)
    choice("second_moment", second_moment, SECOND_MOMENTS)


__all__ = [
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
    "tiny",
    "check_lr",
    "check_N",
    "check_eps",
    "check_weight",
    "check_scale",
    "check_snr_eps",
    "check_batch_size",
    "check_K",
]


def tiny(t: torch.Tensor) -> float:
    """The smallest normal number of ``t``'s dtype: a floor for denominators that are 0
    only when their numerator is 0 too, so that 0/0 becomes 0 instead of NaN."""
    return torch.finfo(t.dtype).tiny


def sgd_update(param: torch.Tensor, grad: torch.Tensor, *, lr: float) -> None:
    """Vanilla SGD in place: :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g`.
    Raises ``ValueError`` for ``lr`` outside :math:`[0, 10^6]`."""
    lr = check_lr(lr)
    param.sub_(lr * grad)


def momentum_update(param, grad, v, *, lr: float, N: float) -> None:
    """Momentum in place: :math:`v_t = (1-\\frac1N)v_{t-1} + \\eta\\,\\hat g_t`,
    :math:`\\Phi \\mathrel{-}= v_t`. Raises ``ValueError`` for ``lr`` outside
    :math:`[0, 10^6]` or ``N < 1``."""
    lr, N = check_lr(lr), check_N("N", N)
    v.mul_(1 - 1 / N).add_(lr * grad)
    param.sub_(v)


def averaged_momentum_update(param, grad, mu, *, lr: float, N: float) -> None:
    """Averaged momentum in place:
    :math:`\\mu_t = (1-\\frac1N)\\mu_{t-1} + \\frac1N\\hat g_t`,
    :math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`. Raises ``ValueError`` for ``lr`` outside
    :math:`[0, 10^6]` or ``N < 1``."""
    lr, N = check_lr(lr), check_N("N", N)
    update_average_(mu, grad, 1 / N)
    param.sub_(lr * mu)


def rmsprop_update(param, grad, s, *, lr: float, N_s: float, eps: float) -> None:
    """RMSProp in place:
    :math:`s_t = (1-\\frac{1}{N_s})s_{t-1} + \\frac{1}{N_s}\\hat g_t^2`,
    :math:`\\Phi \\mathrel{-}= \\eta\\,\\hat g_t/\\sqrt{s_t+\\epsilon}`.

    Where :math:`s_t + \\epsilon = 0` the gradient is 0 too and the coordinate stays put.
    Raises ``ValueError`` for ``lr`` or ``eps`` outside :math:`[0, 10^6]` or ``N_s < 1``.
    """
    lr, N_s, eps = check_lr(lr), check_N("N_s", N_s), check_eps(eps)
    update_average_(s, grad * grad, 1 / N_s)
    denom = (s + eps).sqrt().clamp_min(tiny(s))
    param.sub_(lr * (grad / denom))


def adam_update(
    param, grad, mu, s, *, lr: float, w_g: float, w_s: float, eps: float
) -> None:
    """Adam in place with weights :math:`w_g, w_s`:
    :math:`\\Phi \\mathrel{-}= \\eta\\,\\mu_t/(\\sqrt{s_t}+\\epsilon)`.

    :math:`\\mu_t = (1-w_g)\\mu_{t-1} + w_g\\hat g_t` and
    :math:`s_t = (1-w_s)s_{t-1} + w_s\\hat g_t^2`; the weights come from
    :func:`lab.running_averages.running_average_weight`. Where :math:`\\sqrt{s_t}+\\epsilon = 0`
    all gradients so far were 0 and the coordinate stays put. Raises ``ValueError`` for
    ``lr`` or ``eps`` outside :math:`[0, 10^6]` or a weight outside :math:`[0, 1]`.
    """
    lr, eps = check_lr(lr), check_eps(eps)
    w_g, w_s = check_weight("w_g", w_g), check_weight("w_s", w_s)
    update_average_(mu, grad, w_g)
    update_average_(s, grad * grad, w_s)
    denom = (s.sqrt() + eps).clamp_min(tiny(s))
    param.sub_(lr * (mu / denom))


def snr_variance(g_tilde, s_tilde, batch_size: int, second_moment: str = "batch"):
    """The per-example gradient variance estimate
    :math:`\\tilde\\sigma^2 = \\tilde s - \\tilde g^2`, clipped at 0.

    With ``second_moment="batch"`` :math:`\\tilde s` averages squared batch means, whose
    variance is :math:`\\sigma^2/B`, so the result is :math:`B(\\tilde s - \\tilde g^2)`;
    with ``"examples"`` :math:`\\tilde s` averages per-example squares and the result is
    :math:`\\tilde s - \\tilde g^2`. Both estimate the per-example :math:`\\sigma^2` and
    agree with the slide for :math:`B = 1`. Negative values (round-off) become 0.
    Raises ``ValueError`` for ``batch_size`` outside :math:`[1, 2^{31}-1]` or another
    ``second_moment``.
    """
    batch_size = check_batch_size(batch_size)
    choice("second_moment", second_moment, SECOND_MOMENTS)
    var = (s_tilde - g_tilde * g_tilde).clamp_min(0)
    return var * batch_size if second_moment == "batch" else var


def snr_batch_size_star(
    g_tilde,
    s_tilde,
    t: int,
    *,
    batch_size: int,
    lambda_B: float,
    K: int,
    eps: float,
    second_moment: str = "batch",
):
    """:math:`B^*(t)[i]`: :math:`K` for :math:`t \\le K`, else
    :math:`\\lambda_B\\tilde\\sigma^2[i]/(\\tilde g[i]^2+\\epsilon)`.

    Computed from the averages after step ``t``; it weights the next gradient
    (:func:`snr_weight`). Not capped: values below ``batch_size`` are allowed here.
    Hyperparameter ranges: see the module's docstring (``ValueError`` outside them).
    """
    _snr_common(batch_size, K, t, second_moment)
    lambda_B, eps = check_scale("lambda_B", lambda_B), check_snr_eps(eps)
    if t <= K:
        return torch.full_like(g_tilde, float(K))
    var = snr_variance(g_tilde, s_tilde, batch_size, second_moment)
    return lambda_B * var / (g_tilde * g_tilde + eps)


def snr_weight(
    g_tilde,
    s_tilde,
    t: int,
    *,
    batch_size: int,
    lambda_B: float,
    K: int,
    eps: float,
    second_moment: str = "batch",
):
    """The weight :math:`\\min(1, B/B^*(t)[i])` of the next gradient in
    :math:`\\tilde g, \\tilde s`.

    The slide's weight :math:`B/B^*` exceeds 1 when :math:`B^* < B` (a batch already
    larger than the optimal one, or :math:`\\tilde\\sigma^2 = 0`); a weight above 1
    would extrapolate past the newest gradient, so it is capped at 1 (the averages
    then restart from the newest gradient). Returns a float during warm-up
    (:math:`t \\le K`: :math:`\\min(1, B/K)`), else a tensor. Hyperparameter ranges:
    see the module's docstring (``ValueError`` outside them).
    """
    _snr_common(batch_size, K, t, second_moment)
    lambda_B, eps = check_scale("lambda_B", lambda_B), check_snr_eps(eps)
    if t <= K:
        return 1.0 if K == 0 else min(1.0, batch_size / K)
    var = snr_variance(g_tilde, s_tilde, batch_size, second_moment)
    numerator = batch_size * (g_tilde * g_tilde + eps)
    return (numerator / (lambda_B * var).clamp_min(tiny(var))).clamp_max(1.0)


def snr_learning_rate(
    g_tilde,
    s_tilde,
    t: int,
    *,
    batch_size: int,
    lambda_eta: float,
    K: int,
    eta_max: float,
    second_moment: str = "batch",
):
    """:math:`\\eta^t[i]`: 0 for :math:`t \\le K`, else
    :math:`\\min(\\lambda_\\eta\\tilde g[i]^2/\\tilde\\sigma[i]^2,\\ \\eta_{\\max})`.

    :math:`\\tilde\\sigma^2 \\to 0` makes the slide's :math:`\\eta` unbounded; the cap
    :math:`\\eta_{\\max}` (default :math:`\\lambda_\\eta\\lambda_B/B`, the value at
    :math:`B^* = B`, which is :math:`\\eta^* = 1/(2L)` for the lecture's
    :math:`\\lambda_\\eta = B/(32L)`, :math:`\\lambda_B = 16`) bounds it. Where
    :math:`\\tilde\\sigma^2 = \\tilde g^2 = 0` the result is 0. Hyperparameter ranges:
    see the module's docstring (``ValueError`` outside them).
    """
    _snr_common(batch_size, K, t, second_moment)
    lambda_eta = check_scale("lambda_eta", lambda_eta)
    eta_max = _check_eta_max(eta_max)
    if t <= K:
        return torch.zeros_like(g_tilde)
    var = snr_variance(g_tilde, s_tilde, batch_size, second_moment)
    return (lambda_eta * (g_tilde * g_tilde / var.clamp_min(tiny(var)))).clamp_max(
        eta_max
    )


def snr_update(
    param,
    grad,
    g_tilde,
    s_tilde,
    t: int,
    *,
    batch_size: int,
    lambda_eta: float,
    lambda_B: float,
    K: int,
    eps: float,
    eta_max: float,
    lr: float = 1.0,
    second_moment: str = "batch",
    grad_sq=None,
) -> None:
    """One step of the lecture's complete algorithm in place, for the ``t``-th gradient.

    .. math::

        w &= \\min(1, B/B^*(t-1)[i]),\\\\
        \\tilde g^t &= (1-w)\\,\\tilde g^{t-1} + w\\,\\hat g^t, \\qquad
        \\tilde s^t = (1-w)\\,\\tilde s^{t-1} + w\\,(\\hat g^t)^2,\\\\
        \\Phi^{t+1} &= \\Phi^t - \\mathrm{lr}\\cdot\\eta^t\\,\\hat g^t .

    ``grad_sq`` replaces :math:`(\\hat g^t)^2` with the batch mean of per-example squares
    when ``second_moment="examples"``. See :func:`snr_weight`, :func:`snr_learning_rate`.
    Hyperparameter ranges: see the module's docstring (``ValueError`` outside them; ``t``
    an integer :math:`\\ge 1`).
    """
    integer_between("t", t, 1, T_MAX)
    _snr_common(batch_size, K, t, second_moment)
    lr, eps = check_lr(lr), check_snr_eps(eps)
    lambda_eta = check_scale("lambda_eta", lambda_eta)
    lambda_B = check_scale("lambda_B", lambda_B)
    eta_max = _check_eta_max(eta_max)
    hyper = dict(batch_size=batch_size, K=K, second_moment=second_moment)
    w = snr_weight(g_tilde, s_tilde, t - 1, lambda_B=lambda_B, eps=eps, **hyper)
    update_average_(g_tilde, grad, w)
    update_average_(s_tilde, grad * grad if grad_sq is None else grad_sq, w)
    if t > K:
        eta = snr_learning_rate(
            g_tilde, s_tilde, t, lambda_eta=lambda_eta, eta_max=eta_max, **hyper
        )
        param.sub_(lr * (eta * grad))

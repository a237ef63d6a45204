"""The multi-tensor steps of :mod:`lab.optim`: ``torch._foreach_*`` ops, one call per list.

Each function steps a list of parameters of one device and dtype, with the arithmetic of
its reference function in :mod:`lab.optim.updates` (equal up to round-off; the tests
compare them). They run where the C++ step does not: on CUDA, without a compiler, or
with ``impl="foreach"``.
"""

from __future__ import annotations

import math

import torch

from lab.optim.updates import tiny

_flatten = torch._C._nn.flatten_dense_tensors
_unflatten = torch._C._nn.unflatten_dense_tensors


def sgd(ps, gs, states, *, lr):
    torch._foreach_add_(ps, gs, alpha=-lr)


def momentum(ps, gs, states, *, lr, N):
    vs = [s["v"] for s in states]
    torch._foreach_mul_(vs, 1 - 1 / N)
    torch._foreach_add_(vs, gs, alpha=lr)
    torch._foreach_sub_(ps, vs)


def averaged_momentum(ps, gs, states, *, lr, N):
    mus = [s["mu"] for s in states]
    torch._foreach_lerp_(mus, gs, 1 / N)
    torch._foreach_add_(ps, mus, alpha=-lr)


def rmsprop(ps, gs, states, *, lr, N_s, eps):
    ss = [s["s"] for s in states]
    # In place where possible: a fresh large temporary costs page faults on CPU.
    w = 1 / N_s
    torch._foreach_mul_(ss, 1 - w)
    torch._foreach_addcmul_(ss, gs, gs, value=w)
    denom = torch._foreach_add(ss, eps)
    torch._foreach_sqrt_(denom)
    torch._foreach_clamp_min_(denom, tiny(ps[0]))
    torch._foreach_addcdiv_(ps, gs, denom, value=-lr)


def adam(ps, gs, states, *, lr, w_g, w_s, eps):
    mus = [s["mu"] for s in states]
    ss = [s["s"] for s in states]
    torch._foreach_lerp_(mus, gs, w_g)
    torch._foreach_mul_(ss, 1 - w_s)
    torch._foreach_addcmul_(ss, gs, gs, value=w_s)
    denom = torch._foreach_sqrt(ss)
    torch._foreach_add_(denom, eps)
    torch._foreach_clamp_min_(denom, tiny(ps[0]))
    torch._foreach_addcdiv_(ps, mus, denom, value=-lr)


def adam_torch_fused(ps, gs, states, *, lr, w_g, w_s, eps, inf_step):
    """:func:`adam` with torch's fused Adam kernel (CPU or CUDA, contiguous tensors).

    Driven with :math:`\\beta = 1 - w` and an infinite step count ``inf_step`` (a 0-d
    tensor on the parameters' device), so its bias correction :math:`1-\\beta^\\infty`
    is 1 and it computes lab's weighted averages; needs ``eps > 0`` and ``w < 1``.
    """
    torch._fused_adam_(
        ps,
        gs,
        [s["mu"] for s in states],
        [s["s"] for s in states],
        [],
        [inf_step] * len(ps),
        lr=lr,
        beta1=1 - w_g,
        beta2=1 - w_s,
        weight_decay=0.0,
        eps=eps,
        amsgrad=False,
        maximize=False,
    )


def snr_block(
    p, g, gt, st, sq, a, b, *, zero, eps, tiny, k_w, k_eta, step, skip_weight
):
    """:func:`~lab.optim.snr_update` for ``t > K`` on flat slices, in 13
    elementwise ops (12 with ``sq``).

    The same equations with the caps written as reciprocals, so that each cap is one
    clamp: :math:`w = 1/\\max(1, k_w\\,\\tilde\\sigma'^2/(\\tilde g^2+\\epsilon))` and
    :math:`\\eta = \\eta_{\\max}/\\max(1,
    k_\\eta\\,\\tilde\\sigma'^2/(\\tilde g^2+\\mathrm{tiny}))`,
    :math:`\\tilde\\sigma'^2 = \\tilde s - \\tilde g^2` unclipped (a negative value gives
    the capped weight 1 and the capped :math:`\\eta_{\\max}`, as the clip at 0 does).
    Equal to the reference up to round-off. ``a``, ``b`` are scratch; with ``p`` None
    the step's divisor is left in ``b`` (``p += step * g / b``) for the caller to apply.
    ``skip_weight``: the averages were already updated with the warm-up weight.
    """
    if not skip_weight:
        torch.addcmul(st, gt, gt, value=-1, out=b)  # s~ - g~^2
        torch.addcmul(eps, gt, gt, out=a)  # g~^2 + eps
        torch.addcdiv(zero, b, a, value=k_w, out=a)  # B*/B
        a.clamp_min_(1).reciprocal_()  # w = min(1, B/B*)
        gt.lerp_(g, a)
        if sq is None:
            sq = torch.mul(g, g, out=b)
        st.lerp_(sq, a)
    torch.addcmul(st, gt, gt, value=-1, out=b)
    torch.addcmul(tiny, gt, gt, out=a)
    torch.addcdiv(zero, b, a, value=k_eta, out=b)  # eta_max / eta
    b.clamp_min_(1)
    if p is not None:
        p.addcdiv_(g, b, value=step)


def snr(
    ps,
    gs,
    sqs,
    states,
    step,
    *,
    batch_size,
    lambda_eta,
    lambda_B,
    K,
    eps,
    eta_max,
    lr,
    block,
    scratch,
):
    """SNR's step over blocks of about ``block`` elements (``sqs``: the ``grad_sq``
    tensors, or None in ``"batch"`` mode; ``scratch(like, n)``: two reusable flat arrays).

    Slices of one large contiguous tensor, or several small (or non-contiguous) tensors
    gathered into flat copies: on CPU a block's slices of p, grad, g~, s~ and the two
    scratch arrays (float32: 6 x 128 KiB) stay in a core's L2 cache while the thirteen
    ops of :func:`snr_block` run over them, so memory sees each element about once per
    step instead of once per op.
    """
    B = batch_size
    gts = [s["g_tilde"] for s in states]
    sts = [s["s_tilde"] for s in states]
    examples = sqs is not None
    skip_weight = step - 1 <= K
    if skip_weight:
        # Warm-up: the weight is one float, and this runs only K + 1 times.
        w = 1.0 if K == 0 else min(1.0, B / K)
        torch._foreach_lerp_(gts, gs, w)
        torch._foreach_lerp_(sts, sqs if examples else torch._foreach_mul(gs, gs), w)
        if step <= K:
            return
    like = gts[0]
    per_example = 1 if examples else B
    consts = dict(
        zero=torch.zeros((), dtype=like.dtype, device=like.device),
        eps=torch.tensor(eps, dtype=like.dtype, device=like.device),
        tiny=torch.tensor(tiny(like), dtype=like.dtype, device=like.device),
        k_w=lambda_B * per_example / B,
        k_eta=eta_max * per_example / lambda_eta,
        step=-lr * eta_max,
        skip_weight=skip_weight,
    )
    columns = [ps, gs, gts, sts] + ([sqs] if examples else [])
    sizes = [p.numel() for p in ps]
    a_full, b_full = scratch(like, min(block, sum(sizes)))
    small = []
    for i, n in enumerate(sizes):
        tensors = [c[i] for c in columns]
        if n < block or not all(x.is_contiguous() for x in tensors):
            small.append(i)
            continue
        # Slices of one large tensor, updated in place.
        slices = [x.view(-1).split(block) for x in tensors]
        for j, (p_, g_, gt_, st_, *sq_) in enumerate(zip(*slices)):
            a, b = (
                (a_full, b_full)
                if j < n // block
                else (a_full[: n % block], b_full[: n % block])
            )
            snr_block(p_, g_, gt_, st_, sq_[0] if sq_ else None, a, b, **consts)
    # Small (or non-contiguous) tensors: gather about a block's worth into flat copies,
    # compute, and scatter g~, s~ and the step back (C++ flatten/unflatten: a Python loop
    # of views costs more than the arithmetic).
    start = 0
    while start < len(small):
        stop, n = start + 1, sizes[small[start]]
        while stop < len(small) and n + sizes[small[stop]] <= block:
            n += sizes[small[stop]]
            stop += 1
        idx = small[start:stop]
        start = stop
        p_, g_, gt_, st_, *sq_ = ([c[i] for i in idx] for c in columns)
        g_flat, averages = _flatten(g_), _flatten(gt_ + st_)
        sq_flat = _flatten(sq_[0]) if sq_ else None
        a, b = (
            (a_full[:n], b_full[:n])
            if n <= block
            else (torch.empty_like(g_flat), torch.empty_like(g_flat))
        )
        snr_block(None, g_flat, averages[:n], averages[n:], sq_flat, a, b, **consts)
        torch._foreach_copy_(gt_ + st_, _unflatten(averages, gt_ + st_))
        torch._foreach_addcdiv_(p_, g_, _unflatten(b, p_), value=consts["step"])


def all_finite(tensors) -> bool:
    """Whether every element is finite; True may also come from the exact check the
    caller runs when this returns False.

    One norm per tensor in one call (NaN and inf propagate into it, the cheapest of the
    reductions timed) and one host sync per device and dtype; a finite gradient whose
    norm overflows is cleared by the caller's exact per-tensor check.
    """
    by_kind: dict = {}
    for g in tensors:
        by_kind.setdefault((g.device, g.dtype), []).append(g)
    return all(
        bool(torch.isfinite(torch.stack(torch._foreach_norm(ts, 2))).all())
        for ts in by_kind.values()
    )


def norm_bound(tensors) -> float:
    """An upper bound on every |x|: the largest 2-norm, one norm per tensor in one call
    and one host sync per device and dtype; inf where an element is inf or NaN (or a
    norm overflows)."""
    by_kind: dict = {}
    for g in tensors:
        by_kind.setdefault((g.device, g.dtype), []).append(g)
    out = 0.0
    for ts in by_kind.values():
        x = float(torch.stack(torch._foreach_norm(ts, 2)).max())
        if not math.isfinite(x):
            return math.inf
        out = max(out, x)
    return out


def abs_max(tensors) -> float:
    """The largest |x| over the tensors (0 for none), inf where one is inf or NaN."""
    out = 0.0
    by_kind: dict = {}
    for t in tensors:
        if t.numel():
            by_kind.setdefault((t.device, t.dtype), []).append(t)
    for ts in by_kind.values():
        x = float(torch.stack(torch._foreach_norm(ts, math.inf)).max())
        if not all(bool(torch.isfinite(t).all()) for t in ts) or not math.isfinite(x):
            return math.inf
        out = max(out, x)
    return out


__all__ = [
    "sgd",
    "momentum",
    "averaged_momentum",
    "rmsprop",
    "adam",
    "adam_torch_fused",
    "snr",
    "snr_block",
    "all_finite",
    "norm_bound",
    "abs_max",
]

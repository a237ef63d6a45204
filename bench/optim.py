"""Optimizer step time per parameter: lab.optim against torch.optim.Adam.

For 1M and 10M float32 parameters, as one tensor and as many small tensors (1000 or
10000 tensors of 1000), on CPU and on CUDA when available. Beside each row: the
memory-bandwidth floor, bytes moved per parameter (SGD 12, momentum/RMSProp 20,
Adam/SNR 28: read p, g and each state tensor, write p and each state tensor) times the
count, divided by the copy bandwidth measured in the same run (``dst.copy_(src)``
counted as 8 bytes per float32). Each time is the fastest of several steps after
warm-up (the least disturbed by other work on a shared machine). On CPU the steps run
on one thread and are timed in CPU seconds (``time.process_time``), which other jobs on
a shared machine inflate least; on CUDA, wall-clock seconds with
``torch.cuda.synchronize`` around each step.

lab's rows: the default (``check_finite=True``: the C++ step tests each coordinate's new
values, SNR's each gradient against the bound its state's bounds give, and keeps the
coordinates whose step would be inf or NaN), ``check_finite="strict"`` (one more read
of every gradient before anything is written: 32 bytes per parameter instead of 28)
and ``check_finite=False`` (no check, as torch). Below the CPU table: the time of the
hyperparameter check each step runs first (``_check_groups``), alone. ``python -m
bench.compare REV`` compares the step times with another revision, interleaved.
"""

from __future__ import annotations

import os
import time

import torch

from lab import optim as O

BYTES = {"SGD": 12, "Momentum": 20, "RMSProp": 20, "Adam": 28, "SNR": 28}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(fn, device, repeats, warmup=2, budget_s=0.6):
    """The fastest of up to ``repeats`` calls (at least 3), stopping after ``budget_s``."""
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    spent = 0.0
    while len(times) < repeats and (len(times) < 3 or spent < budget_s):
        start = clock()
        fn()
        _sync(device)
        times.append(clock() - start)
        spent += times[-1]
    return min(times)


def copy_bandwidth(n, device, repeats):
    """Bytes per second of ``dst.copy_(src)`` for ``n`` float32 (read + write)."""
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    return 8 * n / _best_time(lambda: dst.copy_(src), device, repeats)


def _params(n, layout, device):
    if layout == "one tensor":
        shapes = [n]
    else:
        shapes = [1000] * (n // 1000)
    g = torch.Generator(device=device).manual_seed(0)
    params = [torch.zeros(s, device=device, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, device=device, generator=g) * 1e-2 + 1e-3
    return params


def _candidates():
    """(label, kind, factory) for every optimizer configuration timed."""
    return [
        ("torch Adam single", "Adam", lambda ps: torch.optim.Adam(ps, foreach=False)),
        ("torch Adam foreach", "Adam", lambda ps: torch.optim.Adam(ps, foreach=True)),
        ("torch Adam fused", "Adam", lambda ps: torch.optim.Adam(ps, fused=True)),
        ("lab SGD", "SGD", lambda ps: O.SGD(ps, lr=1e-3)),
        ("lab Momentum", "Momentum", lambda ps: O.Momentum(ps, lr=1e-3, N=10)),
        ("lab RMSProp", "RMSProp", lambda ps: O.RMSProp(ps, lr=1e-3, N_s=100)),
        ("lab Adam (auto=fused)", "Adam", lambda ps: O.Adam(ps, lr=1e-3)),
        ("lab Adam foreach", "Adam", lambda ps: O.Adam(ps, lr=1e-3, impl="foreach")),
        (
            "lab Adam strict check",
            "Adam",
            lambda ps: O.Adam(ps, lr=1e-3, check_finite="strict"),
        ),
        (
            "lab Adam no check",
            "Adam",
            lambda ps: O.Adam(ps, lr=1e-3, check_finite=False),
        ),
        (
            "lab SNR (auto=fused)",
            "SNR",
            lambda ps: O.SNR(ps, batch_size=32, lambda_eta=1e-3, K=2),
        ),
        (
            "lab SNR foreach",
            "SNR",
            lambda ps: O.SNR(ps, batch_size=32, lambda_eta=1e-3, K=2, impl="foreach"),
        ),
        (
            "lab SNR strict check",
            "SNR",
            lambda ps: O.SNR(
                ps, batch_size=32, lambda_eta=1e-3, K=2, check_finite="strict"
            ),
        ),
        (
            "lab SNR no check",
            "SNR",
            lambda ps: O.SNR(
                ps, batch_size=32, lambda_eta=1e-3, K=2, check_finite=False
            ),
        ),
    ]


def run(device, sizes, layouts, repeats):
    bandwidth = copy_bandwidth(max(sizes), device, repeats)
    clock = "CPU time" if device.type == "cpu" else "wall time"
    print(
        f"device {device}, {torch.get_num_threads()} CPU threads, {clock}, torch "
        f"{torch.__version__}; copy bandwidth {bandwidth / 1e9:.1f} GB/s; load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    header = (
        f"{'optimizer':24} {'params':>6} {'layout':>17} {'ns/param':>9} "
        f"{'floor':>7} {'x floor':>8} {'x torch fastest':>16}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for n in sizes:
        for layout in layouts:
            label_layout = layout if layout == "one tensor" else f"{n // 1000} x 1000"
            fastest = None
            for label, kind, factory in _candidates():
                params = _params(n, layout, device)
                opt = factory(params)
                opt.step()  # create the state outside the timing
                seconds = _best_time(opt.step, device, repeats)
                ns = seconds / n * 1e9
                floor = BYTES[kind] / bandwidth * 1e9
                if label.startswith("torch"):
                    fastest = ns if fastest is None else min(fastest, ns)
                ratio = "" if label.startswith("torch") else f"{ns / fastest:.2f}"
                print(
                    f"{label:24} {n // 10**6:>5}M {label_layout:>17} {ns:9.3f} "
                    f"{floor:7.3f} {ns / floor:8.2f} {ratio:>16}",
                    flush=True,
                )
                results[(label, n, layout)] = ns
                del opt, params
            print()
    return results


def check_cost(results, n, repeats):
    """The hyperparameter check every step runs first (one group), in microseconds, and
    as a share of the step on ``n`` parameters in one tensor: as a step runs it (the
    group's values are the objects checked last time: one identity test each), and
    after a value changed (a scheduler's new ``lr``: the full check)."""
    print(
        "hyperparameter check per step (one group; lab.optim checks every step): "
        "values unchanged / lr just set"
    )
    for label, _, factory in _candidates():
        if not label.startswith("lab") or "foreach" in label or "check" in label:
            continue
        opt = factory([torch.zeros(1, requires_grad=True)])
        group = opt.param_groups[0]

        def unchanged(opt=opt):
            for _ in range(100):
                opt._check_groups()

        def changed(opt=opt, group=group):
            for _ in range(100):
                group["lr"] = group["lr"] + 0.0  # a new float object, the same value
                opt._check_groups()

        cpu = torch.device("cpu")
        us = [_best_time(f, cpu, repeats) / 100 * 1e6 for f in (unchanged, changed)]
        step = results.get((label, n, "one tensor"))
        share = (
            f" ({us[0] * 1e3 / (step * n) * 100:.2f}% / "
            f"{us[1] * 1e3 / (step * n) * 100:.2f}% of the {n // 10**6}M step)"
        )
        print(f"  {label:24} {us[0]:6.1f} us / {us[1]:6.1f} us{share if step else ''}")
    print()


def main(quick: bool = False) -> None:
    sizes = [10**6] if quick else [10**6, 10**7]
    repeats = 5 if quick else 15
    layouts = ["one tensor", "many small tensors"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU time is comparable across runs on one thread only
    try:
        results = run(torch.device("cpu"), sizes, layouts, repeats)
        check_cost(results, sizes[0], repeats)
    finally:
        torch.set_num_threads(threads)
    if torch.cuda.is_available():
        run(torch.device("cuda"), sizes, layouts, repeats)
    else:
        print("CUDA not available: CPU only.")

"""The cost of per-example second moments, relative to one ordinary backward pass.

``lab.distributed.backward_with_second_moment`` computes every example's gradient with
``torch.func`` (``vmap`` over ``grad``) to get the batch mean of squared per-example
gradients. This table gives its time per call, and that of an ordinary forward and
backward pass on the same batch, on the digits model (softmax regression and an MLP),
for a few batch sizes: the two are run interleaved, and the ratio column is the median
of the per-round ratios (the machine is noisy).
"""

from __future__ import annotations

import statistics
import time

import torch

from lab import distributed, train


def _time(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(quick: bool = False) -> None:
    torch.set_num_threads(1)
    data = train.load_digits()
    rounds, repeats = (3, 5) if quick else (9, 20)
    ce = torch.nn.functional.cross_entropy
    print(
        "per-example second moments (torch.func) vs one backward pass, float32, "
        f"1 thread, median of {rounds} interleaved rounds"
    )
    header = f"{'model':>10} {'B':>5} {'backward ms':>12} {'per-example ms':>15} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for hidden in (0, 64):
        net = train.make_model(hidden, torch.Generator().manual_seed(0))
        for B in (32, 256) if quick else (32, 128, 512):
            X, y = data.X_train[:B], data.y_train[:B]

            def plain(net=net, X=X, y=y):
                net.zero_grad()
                ce(net(X), y).backward()

            def second(net=net, X=X, y=y):
                distributed.backward_with_second_moment(net, ce, X, y)

            plain(), second()  # warm up
            base, new, ratios = [], [], []
            for _ in range(rounds):
                a = _time(plain, repeats)
                b = _time(second, repeats)
                base.append(a)
                new.append(b)
                ratios.append(b / a)
            name = "softmax" if hidden == 0 else f"MLP {hidden}"
            print(
                f"{name:>10} {B:>5} {1e3 * statistics.median(base):>12.3f} "
                f"{1e3 * statistics.median(new):>15.3f} "
                f"{statistics.median(ratios):>7.2f}"
            )

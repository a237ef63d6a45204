"""Explorer latency: slider change -> new figure, for every explorer in the book.

For each factory in ``lab.widgets.EXPLORERS`` the benchmark moves the sliders, one at a
time and round-robin, to seeded random values of their range, and times from the
assignment ``slider.value = v`` to the moment the explorer's ``image.value`` holds the new
PNG (observers run synchronously without a kernel, so this is the Python side of an
update: recompute, redraw, encode; a browser adds its round trip on top). Reports the
median and 95th percentile per explorer against the book's 200 ms median target.
"""

from __future__ import annotations

import os
import random
import time

import numpy as np
import torch

from lab.widgets import EXPLORERS

TARGET_MEDIAN_MS = 200.0


def _candidate_values(slider) -> list:
    """The values a reader can pick on ``slider``: its options, or its step grid."""
    if hasattr(
        slider, "options"
    ):  # a SelectionSlider: options may be (label, value) pairs
        return list(slider._options_values)
    steps = int(round((slider.max - slider.min) / slider.step))
    return [slider.min + k * slider.step for k in range(steps + 1)]


def time_updates(
    explorer,
    changes: int,
    seed: int = 0,
    *,
    budget_s: float | None = None,
    min_changes: int = 20,
) -> dict[str, np.ndarray]:
    """Seconds from each slider change to the new image: ``{"wall": ..., "cpu": ...}``.

    ``wall`` is what a reader waits (minus the browser round trip); ``cpu`` is this
    process's CPU time over the same span, which other load on the machine inflates far
    less. Stops after ``changes`` changes, or once ``budget_s`` seconds are spent and at
    least ``min_changes`` were timed. Raises ``RuntimeError`` if a change does not redraw.
    """
    rng = random.Random(seed)
    updated = []
    explorer.image.observe(
        lambda change: updated.append(time.perf_counter()), names="value"
    )
    names = list(explorer.sliders)
    wall, cpu = [], []
    spent_from = time.perf_counter()
    for i in range(changes):
        if (
            budget_s is not None
            and i >= min_changes
            and time.perf_counter() - spent_from > budget_s
        ):
            break
        slider = explorer.sliders[names[i % len(names)]]
        choices = [v for v in _candidate_values(slider) if v != slider.value]
        value = rng.choice(choices)
        updated.clear()
        cpu_start, start = time.process_time(), time.perf_counter()
        slider.value = value
        cpu_end = time.process_time()
        if not updated:
            raise RuntimeError(
                f"{slider.description}: setting {value!r} did not redraw"
            )
        wall.append(updated[-1] - start)
        cpu.append(cpu_end - cpu_start)
    return {"wall": np.asarray(wall), "cpu": np.asarray(cpu)}


def main(quick: bool = False) -> None:
    changes, budget_s = (6, None) if quick else (40, 12.0)
    print(
        f"slider change -> new figure, up to {changes} changes per explorer "
        f"(target: median <= {TARGET_MEDIAN_MS:.0f} ms wall)"
    )
    # Other work on the machine inflates every wall time below: say how busy it was.
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'explorer':<16} {'changes':>7} {'first':>7} {'median':>7} {'p95':>7} "
        f"{'max':>7} {'cpu med':>7}  verdict   (ms)"
    )
    over = []
    for name, factory in EXPLORERS.items():
        start = time.perf_counter()
        explorer = factory()
        first = (time.perf_counter() - start) * 1e3
        time_updates(explorer, 2, seed=1)  # warm caches (fonts, first-call paths)
        times = time_updates(explorer, changes, budget_s=budget_s)
        ms, cpu_ms = times["wall"] * 1e3, times["cpu"] * 1e3
        median, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
        verdict = "ok" if median <= TARGET_MEDIAN_MS else "OVER"
        if median > TARGET_MEDIAN_MS:
            over.append(name)
        print(
            f"{name:<16} {len(ms):>7} {first:>7.0f} {median:>7.0f} {p95:>7.0f} "
            f"{ms.max():>7.0f} {float(np.median(cpu_ms)):>7.0f}  {verdict}"
        )
    if over:
        print(f"median over the {TARGET_MEDIAN_MS:.0f} ms target: {', '.join(over)}")

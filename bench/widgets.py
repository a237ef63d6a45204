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
    if hasattr(slider, "options"):  # a SelectionSlider: options may be (label, value) pairs
        return list(slider._options_values)
    steps = int(round((slider.max - slider.min) / slider.step))
    return [slider.min + k * slider.step for k in range(steps + 1)]


def time_updates(explorer, changes: int, seed: int = 0) -> np.ndarray:
    """Seconds from each slider change to the new image, for ``changes`` changes."""
    rng = random.Random(seed)
    updated = []
    explorer.image.observe(lambda change: updated.append(time.perf_counter()), names="value")
    names = list(explorer.sliders)
    times = []
    for i in range(changes):
        slider = explorer.sliders[names[i % len(names)]]
        choices = [v for v in _candidate_values(slider) if v != slider.value]
        value = rng.choice(choices)
        updated.clear()
        start = time.perf_counter()
        slider.value = value
        if not updated:
            raise RuntimeError(f"{slider.description}: setting {value!r} did not redraw")
        times.append(updated[-1] - start)
    return np.asarray(times)


def main(quick: bool = False) -> None:
    changes = 8 if quick else 40
    print(f"slider change -> new figure, {changes} changes per explorer "
          f"(target: median <= {TARGET_MEDIAN_MS:.0f} ms)")
    # Other work on the machine inflates every time below: say how busy it was.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'explorer':<20} {'sliders':>7} {'first (ms)':>10} {'median (ms)':>11} "
          f"{'p95 (ms)':>9} {'max (ms)':>9}  verdict")
    over = []
    for name, factory in EXPLORERS.items():
        start = time.perf_counter()
        explorer = factory()
        first = (time.perf_counter() - start) * 1e3
        time_updates(explorer, 2, seed=1)  # warm caches (fonts, first-call paths)
        ms = time_updates(explorer, changes) * 1e3
        median, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
        verdict = "ok" if median <= TARGET_MEDIAN_MS else "OVER TARGET"
        if median > TARGET_MEDIAN_MS:
            over.append(name)
        print(f"{name:<20} {len(explorer.sliders):>7} {first:>10.0f} {median:>11.0f} "
              f"{p95:>9.0f} {ms.max():>9.0f}  {verdict}")
    if over:
        print(f"over the {TARGET_MEDIAN_MS:.0f} ms median target: {', '.join(over)}")

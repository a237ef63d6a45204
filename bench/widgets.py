"""Explorer latency: slider change -> new figure, for every explorer in the book.

For each factory in ``lab.widgets.EXPLORERS`` the benchmark moves the sliders, one at a
time and round-robin, to seeded random values of their range, and times from the
assignment ``slider.value = v`` to the moment the explorer's ``image.value`` holds the new
PNG (observers run synchronously without a kernel, so this is the Python side of an
update: recompute, redraw, encode; a browser adds its round trip on top). Reports the
median and 95th percentile per explorer against the book's targets (median 150 ms, p95
300 ms).

Then the static view that the built page holds (``lab.widgets.StaticExplorer``): per
explorer, the number of precomputed frames, their bytes as stored in the page (base64),
and the seconds the book build spends drawing them.
"""

from __future__ import annotations

import os
import random
import time

import numpy as np
import torch

from lab.widgets import EXPLORERS, GRIDS, STATES, grid_settings

TARGET_MEDIAN_MS = 150.0
TARGET_P95_MS = 300.0


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
        f"(targets: median <= {TARGET_MEDIAN_MS:.0f} ms, "
        f"p95 <= {TARGET_P95_MS:.0f} ms wall)"
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
        explorer = factory(mode="live")
        first = (time.perf_counter() - start) * 1e3
        time_updates(explorer, 2, seed=1)  # warm caches (fonts, first-call paths)
        times = time_updates(explorer, changes, budget_s=budget_s)
        ms, cpu_ms = times["wall"] * 1e3, times["cpu"] * 1e3
        median, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
        slow = median > TARGET_MEDIAN_MS or p95 > TARGET_P95_MS
        verdict = "OVER" if slow else "ok"
        if slow:
            over.append(name)
        print(
            f"{name:<16} {len(ms):>7} {first:>7.0f} {median:>7.0f} {p95:>7.0f} "
            f"{ms.max():>7.0f} {float(np.median(cpu_ms)):>7.0f}  {verdict}"
        )
    if over:
        print(f"over a target: {', '.join(over)}")
    print()
    static_table(quick)


def static_table(quick: bool = False) -> None:
    """Frames, stored bytes and build seconds of every explorer's static view."""
    from lab.widgets import StaticExplorer
    from lab.widgets._explorer import frame_sizes

    print("static explorers on the built page (frames drawn once, at build time)")
    print(
        f"{'explorer':<16} {'sliders':>7} {'frames':>6} {'kB/frame':>8} "
        f"{'MB stored':>9} {'build s':>7}"
    )
    totals = [0, 0.0, 0.0]
    for name in EXPLORERS:
        compute, controls = STATES[name]
        grid = GRIDS[name]
        if quick:  # a smoke run: two settings of the first slider
            first = next(iter(grid))
            grid = {first: [controls[first]["value"], grid[first][0]]}
            if grid[first][0] == grid[first][1]:
                grid[first] = [grid[first][0], GRIDS[name][first][-1]]
        start = time.perf_counter()
        view = StaticExplorer(compute, _figure(name), controls, grid)
        seconds = time.perf_counter() - start
        stored = frame_sizes(view.frames)
        assert len(view.frames) == len(grid_settings(controls, grid))
        totals[0] += len(view.frames)
        totals[1] += stored.sum() / 1e6
        totals[2] += seconds
        print(
            f"{name:<16} {len(grid):>7} {len(view.frames):>6} "
            f"{stored.mean() / 1e3:>8.1f} {stored.sum() / 1e6:>9.2f} {seconds:>7.1f}"
        )
    print(
        f"{'all':<16} {'':>7} {totals[0]:>6} {'':>8} {totals[1]:>9.2f} "
        f"{totals[2]:>7.1f}"
    )


def _figure(name):
    import importlib

    return getattr(importlib.import_module(f"lab.widgets.{name}"), f"{name}_figure")

"""The explorer latency benchmark measures real redraws (a smoke run of bench/widgets.py)."""

from __future__ import annotations

import numpy as np

from bench import widgets as bench_widgets
from lab.widgets import EXPLORERS


def test_every_slider_move_is_timed_to_a_new_image():
    # One explorer is enough: the timing is generic, and tests/test_widgets.py already
    # checks that every slider of every explorer redraws.
    explorer = EXPLORERS["vanilla_sgd"](mode="live")
    before = explorer.image.value
    times = bench_widgets.time_updates(explorer, changes=len(explorer.sliders))
    for kind in ("wall", "cpu"):
        assert times[kind].shape == (len(explorer.sliders),)
        assert np.all(np.isfinite(times[kind])) and np.all(times[kind] >= 0)
    assert np.all(times["wall"] > 0)
    assert explorer.image.value != before, "the timed changes did not redraw the figure"


def test_candidate_values_stay_on_the_slider():
    explorer = EXPLORERS["vanilla_sgd"](mode="live")
    for slider in explorer.sliders.values():
        values = bench_widgets._candidate_values(slider)
        assert len(values) >= 2
        if hasattr(slider, "options"):
            assert set(values) == set(slider._options_values)
        else:
            assert (
                min(values) >= slider.min - 1e-12 and max(values) <= slider.max + 1e-12
            )


def test_static_table_reports_frames_bytes_and_seconds(capsys):
    bench_widgets.static_table(quick=True)
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:]]
    names = [row[0] for row in rows]
    assert names[:-1] == list(EXPLORERS) and names[-1] == "all"
    for row in rows[:-1]:
        frames, kb, mb, seconds = int(row[2]), *map(float, row[3:6])
        assert frames == 2 and kb > 1 and mb > 0 and seconds > 0

"""bench.compare: another revision exported and timed in its own process, and the
medians of the per-round ratios it prints."""

from __future__ import annotations

import subprocess

import pytest

from bench import compare

ROOT = compare.ROOT


def test_a_worker_times_every_optimizer_with_the_lab_of_its_tree(tmp_path, monkeypatch):
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    if head.returncode:
        pytest.skip("not a git checkout")
    tree = compare.export("HEAD", tmp_path)
    assert (tree / "lab" / "optim" / "_base.py").is_file()
    monkeypatch.setenv("LAB_FUSED", "0")  # no C++ build in this small run
    times = compare.run_tree(tree, tmp_path / "ext", [2000], steps=2)
    assert set(times) == {
        f"{kind} 0M{layout}" for kind in compare.KINDS for layout in ("", " in 2")
    }
    assert all(t >= 0 for t in times.values())


def test_the_table_gives_medians_of_per_round_ratios(monkeypatch, capsys, tmp_path):
    # The revision takes 1 ms in every round, this tree 0.9, 1.0 and 3.0 ms in rounds
    # 1-3 (its runs are the 1st, 4th and 5th: the order alternates); the median of the
    # ratios is 1.0 however large the outlier.
    rounds = iter(range(6))
    scale = {0: 0.9, 3: 1.0, 4: 3.0}

    def fake_run(tree, ext, sizes, steps):
        r = next(rounds)
        this = tree == ROOT
        return {"SGD 1M": 1e-3 * (scale[r] if this else 1.0)}

    monkeypatch.setattr(compare, "run_tree", fake_run)
    monkeypatch.setattr(compare, "export", lambda rev, into: tmp_path)
    compare.main(["HEAD~1", "--rounds", "3"])
    row = [line for line in capsys.readouterr().out.splitlines() if "SGD 1M" in line]
    assert row and "1.000" in row[0] and "0.900-3.000" in row[0]

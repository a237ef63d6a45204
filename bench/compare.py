"""lab.optim's step time now against another revision, interleaved.

``python -m bench.compare REV [--rounds N] [--quick]`` (``make bench-compare BASE=REV``)
exports revision ``REV`` of this repository (``git archive``) into a temporary folder,
then times, round after round and in alternating order, one process per tree: each
optimizer's step on 1M and 10M float32 parameters in one tensor and on 1M in 1000
tensors (``bench.optim``'s "many small tensors"), one thread, the fastest
of several steps in CPU seconds (as ``bench.optim``), the C++ step built once per tree.
It prints, per case, the median times and the median of the per-round ratios
this/REV with their range: on a shared machine a single run can read the same kernel
at twice or half its speed, and a ratio taken within one round cancels most of that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ["SGD", "Momentum", "RMSProp", "Adam", "SNR"]


def worker(tree: str, sizes: list[int], steps: int) -> None:
    """Time every optimizer of ``tree``'s lab (imported from there) and print JSON."""
    import torch

    import lab
    from lab import optim as O

    if not Path(lab.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"lab came from {lab.__file__}, not from {tree}")
    torch.set_num_threads(1)
    make = {
        "SGD": lambda ps: O.SGD(ps, lr=1e-3),
        "Momentum": lambda ps: O.Momentum(ps, lr=1e-3, N=10),
        "RMSProp": lambda ps: O.RMSProp(ps, lr=1e-3, N_s=100),
        "Adam": lambda ps: O.Adam(ps, lr=1e-3),
        "SNR": lambda ps: O.SNR(ps, batch_size=32, lambda_eta=1e-3, K=2),
    }
    out = {}
    cases = [(n, 1) for n in sizes] + [(sizes[0], max(1, sizes[0] // 1000))]
    for n, count in cases:
        for kind in KINDS:
            g = torch.Generator().manual_seed(0)
            params = [torch.zeros(n // count, requires_grad=True) for _ in range(count)]
            for p in params:
                p.grad = torch.randn(p.shape, generator=g) * 1e-2 + 1e-3
            opt = make[kind](params)
            for _ in range(3):  # the state, the C++ build, SNR's warm-up (K = 2)
                opt.step()
            times = []
            for _ in range(steps if n <= 10**6 else max(3, steps // 2)):
                start = time.process_time()
                opt.step()
                times.append(time.process_time() - start)
            layout = "" if count == 1 else f" in {count}"
            out[f"{kind} {n // 10**6}M{layout}"] = min(times)
    print(json.dumps(out))


def export(rev: str, into: Path) -> Path:
    """Revision ``rev`` of this repository as plain files under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
        check=True,
        capture_output=True,
    ).stdout
    tree = into / "tree"
    tree.mkdir()
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(tree, filter="data")
    return tree


def run_tree(tree: Path, ext_dir: Path, sizes, steps) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), TORCH_EXTENSIONS_DIR=str(ext_dir))
    args = [sys.executable, __file__, "--worker", str(tree), "--sizes"]
    args += [str(n) for n in sizes] + ["--steps", str(steps)]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the worker for {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare", description=__doc__
    )
    parser.add_argument("rev", nargs="?", help="the revision to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="1M only, 3 rounds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=12, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.sizes, args.steps)
        return
    if not args.rev:
        parser.error(
            "name a revision to compare with, e.g. python -m bench.compare HEAD~3"
        )
    sizes = [10**6] if args.quick else [10**6, 10**7]
    rounds = 3 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        tmp = Path(tmp)
        trees = {"this": ROOT, args.rev: export(args.rev, tmp)}
        results = {name: [] for name in trees}
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                ext = tmp / f"ext-{'this' if name == 'this' else 'rev'}"
                results[name].append(run_tree(trees[name], ext, sizes, args.steps))
            print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    base, this = results[args.rev], results["this"]
    print(
        f"lab.optim step time, this tree against {args.rev}: {rounds} interleaved "
        f"rounds, one thread, CPU time; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    header = f"{'case':19} {args.rev[:12]:>12} {'this':>10} {'median this/rev':>16} {'range':>14}"
    print(header)
    print("-" * len(header))
    for case in base[0]:
        ratios = [t[case] / b[case] for t, b in zip(this, base)]
        print(
            f"{case:19} {statistics.median(b[case] for b in base) * 1e3:9.3f} ms"
            f" {statistics.median(t[case] for t in this) * 1e3:7.3f} ms"
            f" {statistics.median(ratios):16.3f} {min(ratios):6.3f}-{max(ratios):.3f}"
        )


if __name__ == "__main__":
    main()

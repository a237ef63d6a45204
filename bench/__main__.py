"""Run the benchmarks: ``python -m bench [--quick] [--only NAME ...]``.

Each entry of ``BENCHMARKS`` names a module of this package with a
``main(quick: bool) -> None`` that prints plain-text tables.
"""

from __future__ import annotations

import argparse
import importlib
import time

#: Benchmark modules in the order they run (add e.g. "widgets" for bench/widgets.py).
BENCHMARKS = ["optim", "widgets", "distributed"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes and fewer repeats (a smoke run)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only these benchmarks (from {', '.join(BENCHMARKS)})",
    )
    args = parser.parse_args(argv)
    for name in args.only or BENCHMARKS:
        start = time.perf_counter()
        print(f"== bench.{name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main(quick=args.quick)
        print(f"(bench.{name}: {time.perf_counter() - start:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()

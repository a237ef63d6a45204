"""``make gpu-check``: every CUDA path of lab, on a machine with a GPU, in under 5 minutes.

Run it at once in any session lent a GPU (the device tool: ``make gpu-check`` in the
repository root there), then report what it prints. It installs nothing: it runs with
the python it is started with (the GPU machine's own, with CUDA torch, pytest and
hypothesis), importing ``lab`` from this checkout. It

1. prints the machine: torch, CUDA, the GPU;
2. runs the ``gpu``-marked tests (the CUDA twins of the CPU tests: lab.optim's
   foreach, fused and reference paths on CUDA, the non-finite freeze, SNR's blocks,
   simulate and running averages on CUDA), from the test modules that have them only,
   so that no book or browser test is collected;
3. times lab's optimizers against torch's on CUDA (``bench.optim``, 1M and 10M float32
   parameters, one tensor and many small ones).

Each step has a time limit; the exit status is 1 if a test failed or no GPU was found.
With ``$OUT`` set (the device tool), the pytest log and the benchmark table are also
written there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS_S, BENCH_S = 180, 100


def gpu_test_files() -> list[str]:
    return sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").glob("test_*.py")
        if "pytest.mark.gpu" in p.read_text()
    )


def run(cmd: list[str], limit: int, log: str) -> int:
    start = time.time()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    try:
        result = subprocess.run(
            cmd, cwd=ROOT, env=env, timeout=limit, text=True, capture_output=True
        )
        output, status = result.stdout + result.stderr, result.returncode
    except subprocess.TimeoutExpired as stop:
        output = (
            (stop.stdout or b"").decode()
            if isinstance(stop.stdout, bytes)
            else (stop.stdout or "")
        )
        output += f"\n(stopped after {limit} s)"
        status = 124
    print(output, flush=True)
    print(f"({' '.join(cmd[1:4])}...: exit {status}, {time.time() - start:.0f} s)\n")
    out = os.environ.get("OUT")
    if out:
        Path(out, log).write_text(output)
    return status


def main() -> int:
    import torch

    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}"
    )
    if not torch.cuda.is_available():
        print("no GPU: nothing to check here (the gpu tests skip on CPU)")
        return 1
    print(f"GPU: {torch.cuda.get_device_name(0)}\n", flush=True)
    tests = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "gpu",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=-ra --strict-markers",
            *gpu_test_files(),
        ],
        TESTS_S,
        "gpu-tests.log",
    )
    code = (
        "import torch; from bench import optim as b; "
        "b.run(torch.device('cuda'), [10**6, 10**7], ['one tensor', 'many small tensors'], 15)"
    )
    bench = run([sys.executable, "-c", code], BENCH_S, "gpu-bench.log")
    print(
        f"gpu tests: {'passed' if tests == 0 else 'FAILED'}; "
        f"bench: {'done' if bench == 0 else 'FAILED'}"
    )
    return 0 if tests == 0 and bench == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

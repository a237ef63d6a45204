"""Format the code cells of the chapters (``book/*.md``) with ruff, as if one file.

The MyST files are the sources of the paired notebooks, so formatting happens here:
all code cells of a page are joined into one Python file (cells separated by marker
comments, so that an import in the first cell counts as used by the last), given to
``ruff format`` and to ``ruff check --fix`` (import order, unused imports) with
``book/ruff.toml`` (80 characters a line), and split back into the cells. Then run
``scripts/sync_notebooks.py``. ``make format`` does both.

    .venv/bin/python scripts/format_chapters.py          # rewrite the pages
    .venv/bin/python scripts/format_chapters.py --check  # exit 1 if a page would change
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
RUFF = Path(sys.executable).parent / "ruff"
CONFIG = BOOK / "ruff.toml"
MARK = "# ---- cell {} ----"
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n((?::[^\n]*\n)*)(.*?)^```$", re.M | re.S)


def ruff(args: list[str], source: str) -> str:
    result = subprocess.run(
        [
            str(RUFF),
            *args,
            "--config",
            str(CONFIG),
            "--stdin-filename",
            str(BOOK / "cell.py"),
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
    )
    if result.returncode not in (0, 1) or not result.stdout:
        raise SystemExit(f"ruff {args[0]} failed:\n{result.stderr}")
    return result.stdout


def format_page(text: str) -> str:
    cells = list(CELL.finditer(text))
    if not cells:
        return text
    joined = "\n".join(f"{MARK.format(i)}\n{m.group(2)}" for i, m in enumerate(cells))
    fixed = ruff(
        ["check", "--fix", "--select", "I,F401", "--exit-zero", "--quiet"], joined
    )
    formatted = ruff(["format"], fixed)
    parts = re.split(r"^# ---- cell (\d+) ----\n", formatted, flags=re.M)
    bodies = {int(parts[k]): parts[k + 1] for k in range(1, len(parts), 2)}
    out, last = [], 0
    for i, m in enumerate(cells):
        body = bodies[i].strip("\n") + "\n"
        out += [text[last : m.start(2)], body]
        last = m.end(2)
    out.append(text[last:])
    return "".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for page in sorted(BOOK.glob("*.md")):
        text = page.read_text()
        new = format_page(text)
        if new != text:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print("would reformat: " + ", ".join(map(str, stale)))
        print("run: make format")
        return 1
    for page in stale:
        print(f"formatted {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write ``book/sheets/NN_name.md``: each chapter's exercises without their solutions.

An instructor assigns a sheet as it is: the exercises are copied from the chapter (the
one source), in order, with their numbers, and a link back to the chapter; solutions,
labels and hidden cells are left out. Glued numbers in an exercise's text are pasted
from the chapter's executed notebook. Run it after editing a chapter's exercises:

    .venv/bin/python scripts/exercise_sheets.py          # rewrite the sheets
    .venv/bin/python scripts/exercise_sheets.py --check  # exit 1 if a sheet is stale

``make lint`` runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SHEETS = BOOK / "sheets"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.md"))

OPEN = re.compile(r"^(:{3,})\{(exercise|solution)\}(.*)$")
GLUE = re.compile(r"\{glue(:[a-z]*)?\}`([^`]+)`")


def title_of(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise ValueError("chapter has no '# ' title")


def exercises(text: str) -> list[list[str]]:
    """The body lines of every ``exercise`` directive of a MyST page, in order."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, kind = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed {kind} directive at line {i + 1}")
        if kind == "exercise":
            out.append(lines[i + 1 : j])
        i = j + 1
    return out


def sheet(chapter: Path) -> str:
    """The exercise sheet of ``chapter`` as MyST markdown."""
    text = chapter.read_text()
    number = int(chapter.name[:2])
    title = title_of(text)
    parts = [
        f"# Exercises {number}: {title}",
        "",
        f"The exercises of {{doc}}`../{chapter.stem}`, without solutions, to hand out. "
        "The solutions are in the chapter, in the dropdown under each exercise; the "
        "explorers and experiments the exercises refer to are there too.",
        "",
    ]
    for k, body in enumerate(exercises(text), start=1):
        kept = [line for line in body if not line.startswith((":label:", ":class:"))]
        while kept and not kept[0].strip():
            kept.pop(0)
        # a glued number lives in the chapter's notebook: paste it from there
        kept = [
            GLUE.sub(
                lambda m: (
                    f"{{glue{m.group(1) or ''}}}`../{chapter.stem}.md::{m.group(2)}`"
                ),
                line,
            )
            for line in kept
        ]
        parts += [f"## Exercise {number}.{k}", "", *kept, ""]
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    wanted = {}
    for chapter in CHAPTERS:
        wanted[SHEETS / chapter.name] = sheet(chapter)
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
    extra = [p for p in SHEETS.glob("*.md") if p not in wanted]
    if args.check:
        if stale or extra:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale + extra)
            print(f"stale exercise sheets: {names}; run scripts/exercise_sheets.py")
            return 1
        return 0
    for p in extra:
        p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sphinx extension: the PDF edition (``make pdf``), shaped for print.

Only the LaTeX builder is affected, except for :func:`site_url`, which the site
uses too (the intro links the PDF through the ``pdf_edition`` substitution).

- The book's MathJax macros (``mathjax3_config.tex.macros`` in
  ``_config.yml``) are written into the LaTeX preamble at every build, so the
  two cannot drift.
- The book is one ``book``-class document: the intro and the first part of the
  table of contents are front matter (unnumbered), the numbered part is the
  main matter (chapters 1 to 10, as on the site), the parts after it are
  appendices.
- Each chapter's solutions, dropdowns under their exercises on the site, move
  to a "Solutions" section at the end of the chapter, titled and linked as on
  the site.
- What the site folds (hidden inputs and outputs) is not printed.
- The bibliography prints in the place of the references page.
- An explorer prints as its default figure (the ``application/pdf`` its static
  view carries) with one line under it that says where its sliders are live.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

#: Name of the PDF edition, in ``_build/pdf/`` and at the root of the site.
PDF_NAME = "sgd-book.pdf"
#: The title page: Sphinx's sets the author in one line, which the book's
#: author (the authors, after the lecture) does not fit.
TITLE_PAGE = r"""\makeatletter
\begin{titlepage}
  \centering
  \vspace*{0.25\textheight}
  {\py@HeaderFamily\Huge\@title\par}
  \vspace{3em}
  {\py@HeaderFamily\large\@author\par}
  \vfill
  {\large\@date\par}
\end{titlepage}
\makeatother
"""
#: Characters of the pages that Sphinx's XeLaTeX font (FreeSerif) lacks, and
#: how to print them.
MISSING_GLYPHS = {"ₜ": "\\textsubscript{t}"}
#: Title of the unnumbered chapter that holds the intro page's text in print.
INTRO_TITLE = "Introduction"
SOLUTIONS_TITLE = "Solutions"
#: Characters of a table cell that set its column's share of the width at most.
MAX_COLUMN = 40
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: The line under an explorer in print, before its page's address.
EXPLORER_NOTE = "The explorer at its default setting; its sliders are live at "


def site_url(repository_url: str) -> str:
    """The GitHub Pages address of the repository at ``repository_url``
    (``https://github.com/OWNER/REPO`` gives ``https://OWNER.github.io/REPO/``).
    Raises ``ValueError`` for any other address."""
    match = re.fullmatch(
        r"https://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?/?",
        repository_url or "",
    )
    if match is None:
        raise ValueError(
            "repository url must be https://github.com/OWNER/REPO, "
            f"got {repository_url!r}"
        )
    owner, repo = match.groups()
    return f"https://{owner.lower()}.github.io/{repo}/"


def latex_macros(macros: dict) -> str:
    """MathJax ``tex.macros`` as LaTeX definitions: ``name: body`` or
    ``name: [body, n_args]``. Each name is defined whether or not LaTeX or a
    package already has it (``\\E`` does): the page and the print agree."""
    lines = []
    for name, spec in macros.items():
        if not re.fullmatch(r"[A-Za-z]+", name):
            raise ValueError(f"macro name must be letters only, got {name!r}")
        body, n_args = (spec, 0) if isinstance(spec, str) else spec
        args = f"[{int(n_args)}]" if n_args else ""
        lines.append(f"\\providecommand{{\\{name}}}{{}}")
        lines.append(f"\\renewcommand{{\\{name}}}{args}{{{body}}}")
    return "\n".join(lines) + "\n"


def _repository_url(config) -> str:
    return config.html_theme_options.get("repository_url", "")


def _configure(app, config):
    macros = config.mathjax3_config.get("tex", {}).get("macros", {})
    preamble = config.latex_elements.get("preamble", "")
    config.latex_elements["preamble"] = (
        preamble
        + "\n% The book's MathJax macros (_config.yml)\n"
        + latex_macros(macros)
    )
    # Sphinx would title the contents after the first part's caption. The
    # front matter keeps the contents' roman page numbers; \mainmatter
    # restarts at 1.
    config.latex_elements.setdefault(
        "tableofcontents",
        "\\frontmatter\\renewcommand{\\contentsname}{Contents}"
        "{\\parskip 0pt"
        "\\sphinxtableofcontentshook\\tableofcontents}"
        # front matter: unnumbered sections too (restored by \mainmatter)
        "\\setcounter{printsecnumdepth}{\\value{secnumdepth}}"
        "\\setcounter{secnumdepth}{-1}",
    )
    config.latex_elements.setdefault("maketitle", TITLE_PAGE)
    config.latex_elements["preamble"] += (
        "\\usepackage{adjustbox}\n\\newcounter{printsecnumdepth}\n"
        "\\usepackage{newunicodechar}\n"
        + "".join(
            f"\\newunicodechar{{{char}}}{{{tex}}}\n"
            for char, tex in MISSING_GLYPHS.items()
        )
    )
    pdf = site_url(_repository_url(config)) + PDF_NAME
    config.myst_substitutions = {
        **config.myst_substitutions,
        "pdf_edition": f"[the PDF edition]({pdf})",
    }


def _docname(node) -> str | None:
    """The document ``node`` came from in the LaTeX builder's single tree: the
    nearest section that Sphinx marked with its document (the inlined
    documents' top nodes do not know their new parent)."""
    while node is not None:
        if isinstance(node, nodes.section) and "docname" in node:
            return node["docname"]
        node = node.parent
    return None


def _own(root, cls):
    """Nodes of class ``cls`` under ``root`` but not under a nested document."""
    found = []

    def walk(node):
        for child in node.children:
            if isinstance(child, cls):
                found.append(child)
            elif not isinstance(child, addnodes.start_of_file) and isinstance(
                child, nodes.Element
            ):
                walk(child)

    walk(root)
    return found


class LiveExplorerNote(SphinxPostTransform):
    """Under each explorer (a widget's output), one line: where its sliders
    are live. Runs before myst-nb picks the printed mime type (its default
    figure)."""

    default_priority = 3
    formats = ("latex",)

    def run(self, **kwargs):
        base = site_url(_repository_url(self.config))
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            if WIDGET_MIME not in [c.get("mime_type") for c in bundle.children]:
                continue
            url = base + f"{_docname(bundle) or self.env.docname}.html"
            note = nodes.paragraph(
                "",
                "",
                nodes.emphasis("", EXPLORER_NOTE),
                nodes.reference(url, url, refuri=url),
                classes=["explorer-note"],
            )
            bundle.parent.insert(bundle.parent.index(bundle) + 1, note)


class FoldedCells(SphinxPostTransform):
    """What the site folds (``hide-input``, ``hide-output``, ``hide-cell``) is
    not printed: setup and check cells print their outputs (figures, the
    checks' lines) without their code, as the page shows them."""

    default_priority = 5
    formats = ("latex",)

    def run(self, **kwargs):
        for cell in list(self.document.findall(nodes.container)):
            mode = cell.get("hide_mode")
            if cell.get("nb_element") != "cell_code" or not mode:
                continue
            folded = {
                "all": ("cell_code_source", "cell_code_output"),
                "input+output": ("cell_code_source", "cell_code_output"),
                "input": ("cell_code_source",),
                "output": ("cell_code_output",),
            }[mode]
            for part in list(cell.children):
                if part.get("nb_element") in folded:
                    cell.remove(part)
            if not cell.children:
                cell.parent.remove(cell)


class TableWidths(SphinxPostTransform):
    """Tables wrap their cells within the text width: each column gets a share
    of it by the length of its longest cell (at least its longest word, at most
    a wrapped paragraph). Without widths Sphinx sets long tables in columns that
    never wrap, as wide as their longest cell."""

    default_priority = 6
    formats = ("latex",)

    def run(self, **kwargs):
        for table in self.document.findall(nodes.table):
            if "colwidths-given" in table["classes"]:
                continue
            tgroup = next(iter(table.findall(nodes.tgroup)), None)
            if tgroup is None:
                continue
            colspecs = [
                c for c in tgroup.children if isinstance(c, nodes.colspec)
            ]
            widths = [1] * len(colspecs)
            for row in tgroup.findall(nodes.row):
                entries = [
                    e for e in row.children if isinstance(e, nodes.entry)
                ]
                if len(entries) != len(colspecs):
                    continue  # a row with merged cells says nothing per column
                for j, entry in enumerate(entries):
                    text = entry.astext()
                    word = max((len(w) for w in text.split()), default=1)
                    widths[j] = max(widths[j], word, min(len(text), MAX_COLUMN))
            for colspec, width in zip(colspecs, widths):
                colspec["colwidth"] = width
            table["classes"].append("colwidths-given")


class WideDisplayMath(SphinxPostTransform):
    """A displayed equation without a number is shrunk to the text width where
    it is wider (sympy's expanded results are): LaTeX cannot break it."""

    default_priority = 6
    formats = ("latex",)

    def run(self, **kwargs):
        for block in list(self.document.findall(nodes.math_block)):
            if block.get("label") or block.get("nowrap"):
                continue
            parts = block.astext().split("\n\n")
            lines = [p.strip() for p in parts if p.strip()]
            body = " \\\\\n".join(lines)
            raw = nodes.raw(
                "",
                "\\begin{equation*}\\adjustbox{max width=\\displaywidth}"
                f"{{$\\displaystyle\\begin{{aligned}}{body}\\end{{aligned}}$}}"
                "\\end{equation*}\n",
                format="latex",
            )
            block.replace_self(raw)


class MathInReferences(SphinxPostTransform):
    """A reference to a section prints its title as the title prints, math and
    all (Sphinx uses the title's plain text: raw TeX such as ``\\sighat``)."""

    default_priority = 31
    formats = ("latex",)

    def run(self, **kwargs):
        sections = {}
        master = self.config.root_doc
        for section in self.document.findall(nodes.section):
            for id_ in section["ids"]:
                key = (section.get("docname", master), id_)
                sections.setdefault(key, section)
        for ref in self.document.findall(nodes.reference):
            uri = ref.get("refuri", "")
            if not uri.startswith("%") or "#" not in uri:
                continue
            docname, anchor = uri[1:].split("#", 1)
            section = sections.get((docname, anchor))
            if section is None or not isinstance(section[0], nodes.title):
                continue
            title = section[0]
            if not any(title.findall(nodes.math)):
                continue
            inline = ref.children[0] if ref.children else None
            if not isinstance(inline, nodes.inline):
                continue
            inline.children = []
            for child in title.children:
                inline += child.deepcopy()


class BibliographyInPlace(SphinxPostTransform):
    """The bibliography prints where the page with the ``bibliography``
    directive stands in the contents, under its title, and links to that page
    land on it. (Sphinx gathers the entries at the very end of the book, after
    an appendix chapter that would keep only the page's opening sentence.)"""

    default_priority = 751  # after Sphinx's BibliographyTransform (750)
    formats = ("latex",)

    def run(self, **kwargs):
        from sphinx.builders.latex.nodes import thebibliography

        bib = next(
            (
                c
                for c in self.document.children
                if isinstance(c, thebibliography)
            ),
            None,
        )
        if bib is None or not len(bib):
            return
        docname = bib[0].get("docname")
        page = next(
            (
                s
                for s in self.document.findall(addnodes.start_of_file)
                if s["docname"] == docname
            ),
            None,
        )
        sections = _own(page, nodes.section) if page is not None else []
        if not sections:
            return
        title = sections[0][0].astext()
        anchor = f"\\detokenize{{{docname}::doc}}"
        for child in list(page.children):
            page.remove(child)
        self.document.remove(bib)
        page += nodes.raw(
            "",
            f"\\renewcommand{{\\bibname}}{{{title}}}\\clearpage"
            f"\\phantomsection\\label{{{anchor}}}\n",
            format="latex",
        )
        page += bib


class PrintStructure(SphinxPostTransform):
    """Front matter, main matter, appendices; solutions end their chapter."""

    default_priority = (
        30  # after sphinx-exercise resolved the solutions' titles
    )
    formats = ("latex",)

    def run(self, **kwargs):
        if not any(self.document.findall(addnodes.start_of_file)):
            return  # not the assembled book
        for sof in self.document.findall(addnodes.start_of_file):
            self._collect_solutions(sof)
        self._matter()

    def _collect_solutions(self, sof):
        from sphinx_exercise.nodes import solution_node

        solutions = _own(sof, solution_node)
        chapter = next(iter(_own(sof, nodes.section)), None)
        if not solutions or chapter is None:
            return
        section = nodes.section(
            ids=[f"solutions-{sof['docname'].replace('/', '-')}"]
        )
        section += nodes.title("", SOLUTIONS_TITLE)
        for solution in solutions:
            solution.parent.remove(solution)
            section += solution
        chapter += section

    def _matter(self):
        intro = next(
            c for c in self.document.children if isinstance(c, nodes.section)
        )
        wrappers = [
            c
            for c in intro.children
            if isinstance(c, nodes.compound)
            and "toctree-wrapper" in c["classes"]
        ]
        numbered = [
            any(
                self.env.toc_secnumbers.get(s["docname"])
                for s in _own(w, addnodes.start_of_file)
            )
            for w in wrappers
        ]
        if True not in numbered:
            return
        # The intro's own text and sections: one unnumbered chapter.
        rest = [c for c in intro.children[1:] if c not in wrappers]
        chapter = nodes.section(ids=["print-introduction"])
        chapter += nodes.title("", INTRO_TITLE)
        for child in rest:
            intro.remove(child)
            chapter += child
        intro.insert(1, chapter)
        first = numbered.index(True)
        last = len(numbered) - 1 - numbered[::-1].index(True)
        main = nodes.raw(
            "",
            "\\mainmatter\\setcounter{secnumdepth}{\\value{printsecnumdepth}}\n",
            format="latex",
        )
        intro.insert(intro.index(wrappers[first]), main)
        if last + 1 < len(wrappers):
            intro.insert(
                intro.index(wrappers[last + 1]),
                nodes.raw("", "\\appendix\n", format="latex"),
            )


def setup(app):
    app.connect("config-inited", _configure)
    app.add_post_transform(LiveExplorerNote)
    app.add_post_transform(FoldedCells)
    app.add_post_transform(TableWidths)
    app.add_post_transform(WideDisplayMath)
    app.add_post_transform(MathInReferences)
    app.add_post_transform(BibliographyInPlace)
    app.add_post_transform(PrintStructure)
    return {
        "version": "1",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }

"""Benchmarks for the course book: ``make bench`` (``python -m bench``) runs them all.

Each benchmark is a module in this package with a ``main(quick: bool) -> None`` that
prints plain-text tables; add it to ``BENCHMARKS`` in ``bench/__main__.py``.
"""

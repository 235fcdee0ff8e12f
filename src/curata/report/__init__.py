"""The run report: one offline HTML page built from a run directory's files (``curata report RUN_DIR``)."""

from curata.report.html import build_html, render_report

__all__ = ["build_html", "render_report"]

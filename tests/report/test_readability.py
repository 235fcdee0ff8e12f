"""Readability of the report: reasons wrap by word, every score column is reachable in the sample tables,
chart axes are labelled, the recorded command can be pasted into a shell, alerts stand out at the top and
each note is shown once."""

from __future__ import annotations

import html
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.report import charts, render_report
from curata.report.html import CSS
from curata.report.markup import table

EXTRA_SCORES = ["mtld_score", "knn_dist_score", "target_sim_score", "label_issue_score", "zz_custom_score"]


def section_html(page: str, anchor: str) -> str:
    m = re.search(rf'<section class="card[^"]*" id="{anchor}">(.*?)</section>', page, re.S)
    assert m, f"section {anchor} missing"
    return m.group(1)


def css_rule(selector_part: str) -> str:
    """The declarations of the CSS rule whose selector list contains ``selector_part``."""
    for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS):
        if selector_part in [s.strip() for s in sel.split(",")]:
            return body
    raise AssertionError(f"no CSS rule for {selector_part}")


def edit_json(path: Path, **changes) -> None:
    obj = json.loads(path.read_text())
    obj.update(changes)
    path.write_text(json.dumps(obj))


@pytest.fixture
def wide_run(tmp_path, build_run) -> tuple[Path, list[str]]:
    """A run with 8 numeric score columns (the sample tables used to show only the first 4)."""
    root = tmp_path / "wide"
    build_run(root, n=120, bandit=False, evaluation=False)
    df = pd.read_parquet(root / "records.parquet")
    rng = np.random.default_rng(3)
    for c in EXTRA_SCORES:
        df[c] = rng.random(len(df))
    df.loc[df["status"] == "rejected", EXTRA_SCORES] = np.nan
    df.to_parquet(root / "records.parquet")
    scores = [c for c in df.columns if c.endswith("_score") and c != "tag_score"]
    assert len(scores) == 8
    return root, scores


# --- the sample tables ------------------------------------------------------------------------------------
def test_reason_cells_wrap_by_word_with_a_minimum_width(demo):
    _, page = demo
    samples = section_html(page, "samples")
    reasons = re.findall(r'<td class="([^"]*)">chosen by top proxy_score</td>', samples)
    assert reasons and all("reason" in c.split() for c in reasons)
    # "text" cells break anywhere; reason cells must not carry that class
    assert not any("text" in c.split() for c in reasons)
    assert '<th class="reason">reason</th>' in samples
    rule = css_rule("td.reason")
    assert "white-space:normal" in rule and "word-break:normal" in rule
    assert "overflow-wrap:break-word" in rule
    assert re.search(r"min-width:\d+(\.\d+)?em", rule)


def test_every_score_column_is_in_the_sample_tables(wide_run):
    root, scores = wide_run
    page = render_report(root).read_text(encoding="utf-8")
    samples = section_html(page, "samples")
    tables = re.findall(r"<table[^>]*>(.*?)</table>", samples, re.S)
    assert len(tables) == 3  # selected, not selected, excluded by a rule
    for t in tables:
        heads = re.findall(r"<th[^>]*>([^<]*)</th>", t)
        assert heads[-len(scores):] == scores
        assert re.findall(r'<th class="score">([^<]*)</th>', t) == scores
        rows = re.findall(r"<tr>(.*?)</tr>", t.split("<tbody>")[1], re.S)
        assert rows and all(len(re.findall(r"<td[^>]*>", r)) == len(heads) for r in rows)
    assert f"All {len(scores)} score columns" in samples
    # the tables scroll sideways instead of squeezing their columns
    assert samples.count('<div class="scroll x"><table class="records samples sortable">') == 3
    assert "min-width:100%" in css_rule("table.samples") and "overflow-x:auto" in css_rule(".scroll")


def test_table_column_classes():
    out = table(["a", "why", "s"], [(1, "because", 0.5)], col_class={1: "reason", 2: "score"})
    assert '<th class="reason">why</th>' in out and '<th class="score">s</th>' in out
    assert '<td class="reason">because</td>' in out and '<td class="score num">0.500</td>' in out
    assert table(["a"], [("x",)], text_cols=[0]) == \
        '<div class="scroll"><table><thead><tr><th>a</th></tr></thead><tbody><tr><td class="text">x</td>' \
        "</tr></tbody></table></div>"


# --- charts -----------------------------------------------------------------------------------------------
@pytest.fixture
def figures(monkeypatch) -> list:
    """Every matplotlib figure the report renders, as it is turned into an <img>."""
    seen = []
    original = charts._img

    def keep(fig, alt):
        seen.append((alt, fig))
        return original(fig, alt)

    monkeypatch.setattr(charts, "_img", keep)
    return seen


def test_histogram_axes_are_labelled(wide_run, figures):
    root, scores = wide_run
    render_report(root)
    hist = [fig for alt, fig in figures if alt == "score distributions"]
    assert len(hist) == 1
    panels = [ax for ax in hist[0].axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in panels] == scores
    for ax, col in zip(panels, scores):
        assert ax.get_ylabel() == "% of group's records"
        assert ax.get_xlabel() == charts.score_axis_label(col)
    assert charts.score_axis_label("length_score") == "whitespace tokens"
    assert charts.score_axis_label("zz_custom_score") == "zz_custom score value"


def test_histogram_of_a_scored_only_run_counts_the_pool(tmp_path, build_run, figures):
    root = tmp_path / "scored"
    build_run(root, selection=False, bandit=False, evaluation=False)
    render_report(root)
    hist = next(fig for alt, fig in figures if alt == "score distributions")
    assert {ax.get_ylabel() for ax in hist.axes if ax.get_visible()} == {"% of records"}


def test_every_chart_has_labelled_axes(tmp_path, build_run, figures):
    root = tmp_path / "all"
    build_run(root)
    render_report(root)
    assert len(figures) == 6
    for alt, fig in figures:
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert all(ax.get_ylabel() for ax in visible), alt
        assert any(ax.get_xlabel() for ax in visible), alt


# --- environment ------------------------------------------------------------------------------------------
def test_recorded_command_is_shell_quoted(run_dir):
    argv = ["curata", "select", "my pool.jsonl", "--exclude", 'text == "it\'s"', "--out", "runs/a b"]
    edit_json(run_dir / "manifest.json", argv=argv)
    page = render_report(run_dir).read_text(encoding="utf-8")
    m = re.search(r'Command: <code class="command">([^<]*)</code>', section_html(page, "environment"))
    assert m
    shown = html.unescape(m.group(1))
    assert shown == shlex.join(argv)
    assert shlex.split(shown) == argv
    assert "'my pool.jsonl'" in shown


# --- alerts and notes -------------------------------------------------------------------------------------
def test_alerts_are_a_warning_box_at_the_top(run_dir):
    alerts = ["label 'match' has 0 of 58 pool records selected", "cluster 3: 0 of its 40 records selected"]
    edit_json(run_dir / "summary.json", alerts=alerts)
    page = render_report(run_dir).read_text(encoding="utf-8")
    box = section_html(page, "alerts")
    assert re.search(r'<section class="card alerts" id="alerts"><h2>Alerts</h2>', page)
    assert "This run has 2 alerts" in box
    assert re.findall(r"<li>([^<]*)</li>", box) == [html.escape(a) for a in alerts]
    # above the accounting banner (and every other section), linked from the header and the nav
    assert page.index('id="alerts"') < page.index('id="accounting"') < page.index('id="notes"')
    assert re.search(r'<h1>[^<]*<a class="alert-badge" href="#alerts">⚠ 2 alerts</a></h1>', page)
    assert '<a href="#alerts">Alerts</a>' in page
    # styled as a warning, unlike the plain notes list
    assert "border-left" in css_rule(".card.alerts") and "background" in css_rule(".card.alerts")
    assert "label &#x27;match&#x27; has 0 of 58" not in section_html(page, "notes")


def test_no_alerts_no_box(demo):
    _, page = demo
    assert 'id="alerts"' not in page and 'class="alert-badge"' not in page


def test_each_note_is_shown_once(run_dir):
    alert = "label 'match' has 0 of 58 pool records selected"
    notes = ["note one: skipped a scorer", "note two: 3 duplicates", "note one: skipped a scorer",
             alert, "note two: 3 duplicates", "note three"]
    edit_json(run_dir / "summary.json", notes=notes, alerts=[alert, alert])
    page = render_report(run_dir).read_text(encoding="utf-8")
    items = re.findall(r"<li>([^<]*)</li>", section_html(page, "notes"))
    assert items == ["note one: skipped a scorer", "note two: 3 duplicates", "note three"]
    for text in ("note one: skipped a scorer", "note two: 3 duplicates", "note three", html.escape(alert)):
        assert page.count(text) == 1, text

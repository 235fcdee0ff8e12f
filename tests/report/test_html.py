import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curata.report import render_report

ALL = {"Accounting", "Notes and warnings", "Why records were not chosen", "Label distribution",
       "Score distributions", "Map of the pool", "Budget per cluster", "Bandit pulls and rewards",
       "Learning curves", "Sample records", "Rejected records", "Environment and timings"}


def headings(page: str) -> set[str]:
    return set(re.findall(r"<h2>([^<]+)</h2>", page))


def section_html(page: str, anchor: str) -> str:
    m = re.search(rf'<section class="card[^"]*" id="{anchor}">(.*?)</section>', page, re.S)
    assert m, f"section {anchor} missing"
    return m.group(1)


def cell_count(page: str, label: str) -> int:
    m = re.search(rf"<td(?: class=\"text\")?>{re.escape(label)}</td><td class=\"num\">([\d,]+)</td>", page)
    assert m, label
    return int(m.group(1).replace(",", ""))


def remote_refs(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", page, re.I) + \
        re.findall(r"url\(\s*['\"]?(?:https?:)?//", page, re.I) + re.findall(r"<link\b", page, re.I)


def render(root: Path) -> str:
    out = render_report(root)
    assert out == root / "report.html" and out.is_file()
    return out.read_text(encoding="utf-8")


def test_full_run_has_every_section_and_no_remote_resources(demo):
    run_dir, page = demo
    assert headings(page) == ALL
    assert remote_refs(page) == []
    charts = re.findall(r'<img class="chart"[^>]*src="([^"]{0,30})', page)
    assert len(charts) == 6 and all(c.startswith("data:image/png;base64,") for c in charts)
    assert page.count("<script>") == 1
    assert "No evaluation yet" not in page and "No bandit log" not in page


def test_accounting_numbers_and_check(demo):
    run_dir, page = demo
    acc = section_html(page, "accounting")
    assert "records in 605 = selected 60 + not selected 540 + rejected 5" in acc
    tiles = re.findall(r'<div class="tile[^"]*"><b>([\d,]+)</b><span>([^<]+)</span>', acc)
    assert tiles == [("605", "records in"), ("60", "selected"), ("540", "not selected"), ("5", "rejected")]
    assert "Every record is accounted for" in acc and "does not add up" not in acc
    assert "30 were excluded by rules" in acc


def test_accounting_mismatch_shows_red_warning(run_dir):
    s = json.loads((run_dir / "summary.json").read_text())
    s["accounting"]["records_in"] = 700
    (run_dir / "summary.json").write_text(json.dumps(s))
    page = render(run_dir)
    assert 'class="card banner bad"' in page
    acc = section_html(page, "accounting")
    assert "does not add up" in acc
    assert "records in 700 ≠ selected 60 + not selected 540 + rejected 5 = 605" in acc
    assert "summary.json says records in = 700 but records.parquet has 605" in acc
    assert "Every record is accounted for" not in acc


def test_why_not_chosen_counts(demo):
    run_dir, page = demo
    why = section_html(page, "why")
    # the builder ranks 3 × 60 candidates; 30 duplicates are excluded; 600 - 30 - 180 are never ranked
    assert cell_count(why, "selected") == 60
    assert cell_count(why, "not selected: excluded by a rule") == 30
    assert cell_count(why, "not selected: below the budget cut") == 120
    assert cell_count(why, "not selected: not reached") == 390
    assert cell_count(why, "rejected when read") == 5
    assert "<code>exact_dup_of.notna()</code></td><td class=\"num\">30</td>" in why
    assert cell_count(why, "empty text") == 3 and cell_count(why, "invalid JSON") == 2


def test_label_table_matches_records(demo):
    run_dir, page = demo
    df = pd.read_parquet(run_dir / "records.parquet")
    acc = df[df["status"] != "rejected"]
    labels = section_html(page, "labels")
    for name, n in acc["label"].value_counts().items():
        n_sel = int((acc["selected"] & (acc["label"] == name)).sum())
        row = rf'<td>{name}</td><td class="num">{n:,}</td><td>[\d.]+%</td><td class="num">{n_sel}</td>'
        assert re.search(row, labels), name


def test_score_histograms_skip_non_numeric(demo):
    run_dir, page = demo
    scores = section_html(page, "scores")
    assert "length_score" in scores and "proxy_score" in scores and "nn_sim_score" in scores
    assert "tag_score" not in scores


def test_escapes_user_text(tmp_path, build_run):
    root = tmp_path / "esc"
    build_run(root, n=15, frac=1.0, bandit=False, evaluation=False,
              texts={0: "<script>alert('pwned')</script> & <b>bold</b>"})
    page = render(root)
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;broken" in section_html(page, "rejected")
    assert page.count("<script>") == 1


def test_minimal_run_shows_notes_instead_of_missing_sections(tmp_path, build_run):
    root = tmp_path / "bare"
    build_run(root, summary=False, manifest=False, config=False, labels=False, map_xy=False, clusters=False,
              bandit=False, evaluation=False, rejected_file=False)
    page = render(root)
    assert headings(page) == {"Accounting", "Why records were not chosen", "Score distributions",
                              "Sample records", "Rejected records"}
    assert f"No evaluation yet: run <code>curata evaluate {root} --test TEST</code>" in page
    assert "No labels in this pool" in page and "No 2-D map" in page and "No clusters" in page
    assert "No bandit log" in page and "No manifest.json" in page
    acc = section_html(page, "accounting")
    assert "Source: records.parquet (summary.json is missing)" in acc
    assert "Every record is accounted for" in acc
    rejected = section_html(page, "rejected")
    assert "5 records could not be used (from records.parquet" in rejected
    assert remote_refs(page) == []


def test_scored_only_run(tmp_path, build_run):
    root = tmp_path / "scored"
    build_run(root, selection=False, rejected_file=True)
    page = render(root)
    assert "Learning curves" not in headings(page) and "Bandit pulls and rewards" not in headings(page)
    acc = section_html(page, "accounting")
    assert "records in 605 = scored 600 + rejected 5" in acc and "in = scored + rejected" in acc
    assert "Scored records" in section_html(page, "samples")
    assert cell_count(section_html(page, "why"), "scored only") == 600


def test_no_rejections_and_empty_rejected_file(tmp_path, build_run):
    root = tmp_path / "clean"
    build_run(root, n_rejected=0, labels=False, map_xy=False, clusters=False, bandit=False, evaluation=False)
    page = render(root)
    assert "No records were rejected" in section_html(page, "rejected")


def test_samples_follow_priority(demo):
    run_dir, page = demo
    df = pd.read_parquet(run_dir / "records.parquet")
    samples = section_html(page, "samples")
    sel_part = samples.split("Not selected")[0]
    ids = re.findall(r"<td>(r\d{6})</td>", sel_part)
    expected = df[df["selected"]].sort_values("select_rank")["id"].head(20).tolist()
    assert ids == expected
    assert "(first 20 of 60)" in samples and "(first 20 of 510)" in samples and "(first 20 of 30)" in samples


def test_learning_curve_table_values(tmp_path, build_run):
    root = tmp_path / "ev"
    build_run(root, n=200, labels=False, map_xy=False, clusters=False, evaluation=False, bandit=False)
    rows = [{"budget": 0.1, "n_train": 20, "arm": a, "seed": s, "trainer": "logreg()", "accuracy": v + 0.1,
             "macro_f1": v, "f1": v, "primary": "macro_f1", "seconds": 0.1}
            for a, vals in (("selected", (0.70, 0.72)), ("random", (0.60, 0.64))) for s, v in enumerate(vals)]
    rows.append({"budget": 1.0, "n_train": 200, "arm": "full", "seed": 0, "trainer": "logreg()",
                 "accuracy": 0.9, "macro_f1": 0.8, "f1": 0.8, "primary": "macro_f1", "seconds": 0.1})
    (root / "eval").mkdir()
    pd.DataFrame(rows).to_parquet(root / "eval" / "results.parquet")
    page = render(root)
    lc = section_html(page, "learning-curves")
    assert '0.710 <span class="muted">± 0.014 (2)</span>' in lc
    assert '0.620 <span class="muted">± 0.028 (2)</span>' in lc
    assert "+0.090" in lc and "<td>2/2</td>" in lc
    assert "Full data on 200 records: macro_f1 0.800 ± 0.000." in lc
    assert lc.count('<img class="chart"') == 1


def test_learning_curve_pair_task_reads_primary_from_f1(tmp_path, build_run):
    root = tmp_path / "pair"
    build_run(root, n=200, labels=False, map_xy=False, clusters=False, evaluation=False, bandit=False)
    rows = [{"budget": 0.5, "n_train": 100, "arm": a, "seed": 0, "trainer": "logreg()", "accuracy": 0.9,
             "macro_f1": 0.5, "f1": v, "primary": "positive_f1", "seconds": 0.1}
            for a, v in (("selected", 0.8), ("random", 0.7))]
    (root / "eval").mkdir()
    pd.DataFrame(rows).to_parquet(root / "eval" / "results.parquet")
    lc = section_html(render(root), "learning-curves")
    assert "<b>positive_f1</b>" in lc and "+0.100" in lc


def test_learning_curve_from_summary_table_only(tmp_path, build_run):
    root = tmp_path / "evsum"
    build_run(root, n=200, labels=False, map_xy=False, clusters=False, evaluation=False, bandit=False)
    (root / "eval").mkdir()
    (root / "eval" / "summary.json").write_text(json.dumps({"primary": "macro_f1", "table": [
        {"budget": 0.2, "arm": "selected", "metric": "macro_f1", "mean": 0.75, "std": 0.01, "n": 3},
        {"budget": 0.2, "arm": "random", "metric": "macro_f1", "mean": 0.70, "std": 0.02, "n": 3}]}))
    lc = section_html(render(root), "learning-curves")
    assert '0.750 <span class="muted">± 0.010 (3)</span>' in lc and "+0.050" in lc


def test_map_subsamples_large_pools(tmp_path, monkeypatch, build_run):
    from curata.report import sections

    monkeypatch.setattr(sections, "MAX_POINTS", 100)
    root = tmp_path / "big"
    build_run(root, n=2000, n_rejected=0, labels=False, clusters=False, bandit=False, evaluation=False)
    lead = section_html(render(root), "map")
    assert "100 of 1,800 not-selected records (random sample, seed 0)" in lead
    assert "100 of 200 selected" in lead


def test_bandit_section_counts_pulls(demo):
    run_dir, page = demo
    log = [json.loads(x) for x in (run_dir / "bandit_log.jsonl").read_text().splitlines()]
    b = section_html(page, "bandit")
    arms = {str(p["arm"]) for p in log}
    assert f"40 pulls over 40 rounds across {len(arms)} arms; policy ucb." in b
    top = max(arms, key=lambda a: sum(str(p["arm"]) == a for p in log))
    n = sum(str(p["arm"]) == top for p in log)
    assert f'<td>{top}</td><td class="num">{n}</td><td class="num">{5 * n}</td>' in b


def test_unreadable_files_become_warnings(run_dir):
    (run_dir / "summary.json").write_text("{not json")
    (run_dir / "bandit_log.jsonl").write_text('{"round": 0, "arm": 1, "reward": 0.5}\nnot json\n')
    page = render(run_dir)
    notes = section_html(page, "notes")
    assert "summary.json could not be read" in notes
    assert "bandit_log.jsonl: 1 line(s) are not valid JSON" in notes
    assert "1 pulls over 1 rounds" in section_html(page, "bandit")


def test_missing_run_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        render_report(tmp_path / "nope")


def test_selected_records_never_hidden_by_nan_scores(tmp_path, build_run):
    root = tmp_path / "nan"
    build_run(root, n=100, labels=False, map_xy=False, clusters=False, bandit=False, evaluation=False)
    df = pd.read_parquet(root / "records.parquet")
    df["proxy_score"] = np.nan
    df.to_parquet(root / "records.parquet")
    page = render(root)
    scores = section_html(page, "scores")
    assert "proxy_score" not in scores and "length_score" in scores

"""Learning curves of an instruction run: eval loss, lower is better (sign of the gain, wins, labels)."""

from __future__ import annotations

import json
import re

import pandas as pd

from curata.report.html import render_report


def learning_curves(root) -> str:
    page = render_report(root).read_text(encoding="utf-8")
    m = re.search(r'<section class="card[^"]*" id="learning-curves">(.*?)</section>', page, re.S)
    assert m, "learning-curves section missing"
    return m.group(1)


def test_loss_curves_count_a_lower_loss_as_the_win(tmp_path, build_run):
    root = tmp_path / "sft"
    build_run(root, n=200, labels=False, map_xy=False, clusters=False, evaluation=False, bandit=False)
    nan = float("nan")
    losses = {"selected": (1.50, 1.52, 1.61), "random": (1.60, 1.62, 1.58)}
    rows = [{"budget": 0.1, "n_train": 20, "arm": a, "seed": s, "trainer": "lora_sft()", "accuracy": nan,
             "macro_f1": nan, "f1": nan, "eval_loss": v, "exact_match": nan, "primary": "eval_loss", "seconds": 1.0}
            for a, vals in losses.items() for s, v in enumerate(vals)]
    rows.append({"budget": 1.0, "n_train": 200, "arm": "full", "seed": 0, "trainer": "lora_sft()", "accuracy": nan,
                 "macro_f1": nan, "f1": nan, "eval_loss": 1.40, "exact_match": nan, "primary": "eval_loss",
                 "seconds": 5.0})
    (root / "eval").mkdir()
    pd.DataFrame(rows).to_parquet(root / "eval" / "results.parquet")
    (root / "eval" / "summary.json").write_text(json.dumps({"primary": "eval_loss", "lower_is_better": True,
                                                            "trainer": "lora_sft()", "table": []}))
    lc = learning_curves(root)
    assert "<b>eval_loss</b> (lower is better)" in lc
    assert '1.543 <span class="muted">± 0.059 (3)</span>' in lc
    assert '1.600 <span class="muted">± 0.020 (3)</span>' in lc
    assert '<span class="pos">-0.057</span>' in lc  # a lower loss than random is a gain, shown as such
    assert "<td>2/3</td>" in lc  # seeds 0 and 1 beat random, seed 2 does not
    assert "Full data on 200 records: eval_loss 1.400" in lc
    assert "<th>eval_loss</th>" in lc  # listed with the other metrics


def test_classifier_curves_are_unchanged(tmp_path, build_run):
    root = tmp_path / "cls"
    build_run(root, n=200, labels=False, map_xy=False, clusters=False, evaluation=False, bandit=False)
    rows = [{"budget": 0.1, "n_train": 20, "arm": a, "seed": 0, "trainer": "logreg()", "accuracy": v,
             "macro_f1": v, "f1": v, "primary": "macro_f1", "seconds": 0.1}
            for a, v in (("selected", 0.6), ("random", 0.7))]
    (root / "eval").mkdir()
    pd.DataFrame(rows).to_parquet(root / "eval" / "results.parquet")
    lc = learning_curves(root)
    assert "lower is better" not in lc and '<span class="neg">-0.100</span>' in lc and "<td>0/1</td>" in lc

"""Report sections that list records and the environment: samples, rejected records, versions and timings."""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd

from curata.report.load import RunData
from curata.report.markup import Html, esc, fmt, missing, section, table, truncate

N_SAMPLE = 20
TEXT_CHARS = 200


def _by_rank(df: pd.DataFrame) -> pd.DataFrame:
    if "select_rank" not in df.columns:
        return df
    rank = df["select_rank"].to_numpy(dtype="float64", na_value=-1.0)
    rank[rank < 0] = np.inf
    return df.iloc[np.argsort(rank, kind="stable")]


def _sample_table(df: pd.DataFrame, title: str, with_label: bool, scores: list[str]) -> str:
    if not len(df):
        return f"<h3>{esc(title)}</h3><p class='muted'>none</p>"
    head = _by_rank(df).head(N_SAMPLE)
    rank = head["select_rank"].to_numpy(dtype="float64", na_value=-1.0) if "select_rank" in head.columns \
        else np.full(len(head), -1.0)
    rows = []
    for i, (_, r) in enumerate(head.iterrows()):
        row = [int(rank[i]) + 1 if rank[i] >= 0 else "–", r.get("id")]
        if with_label:
            row.append(r.get("label"))
        row += [truncate(r.get("text"), TEXT_CHARS), r.get("reason")]
        row += [r.get(c) for c in scores]
        rows.append(row)
    heads = ["priority", "id"] + (["label"] if with_label else []) + ["text", "reason"] + scores
    text_col = 3 if with_label else 2
    # every score column is shown: the table scrolls sideways; reasons wrap by word in a column of their own
    col_class = {text_col + 1: "reason", **{text_col + 2 + j: "score" for j in range(len(scores))}}
    shown = f"first {len(head):,} of {len(df):,}" if len(df) > len(head) else f"all {len(df):,}"
    return f'<h3>{esc(title)} <span class="muted">({shown})</span></h3>' + \
        table(heads, rows, cls="records samples", wide_cols=[text_col], col_class=col_class, sortable=True,
              scroll_cls="x")


def samples(d: RunData) -> str:
    acc = d.accepted
    if acc is None:
        return ""
    with_label = "label" in acc.columns and bool(acc["label"].notna().any())
    scores = d.score_columns()
    status = acc["status"]
    excluded = acc["excluded"].fillna(False).astype(bool) if "excluded" in acc.columns else \
        pd.Series(False, index=acc.index)
    if d.has_selection:
        body = _sample_table(acc[status == "selected"], "Selected", with_label, scores)
        body += _sample_table(acc[(status == "not_selected") & ~excluded], "Not selected", with_label, scores)
        if excluded.any():
            body += _sample_table(acc[excluded & (status != "selected")], "Excluded by a rule", with_label,
                                  scores)
        lead = "Ordered by the selector's priority (records it never ranked come last); text cut to " \
               f"{TEXT_CHARS} characters."
    else:
        body = _sample_table(acc, "Scored records", with_label, scores)
        lead = "This run had no selection step."
    if len(scores) > 2:
        lead += f" All {len(scores)} score columns follow the reason: scroll a table sideways to see them; " \
                "click a heading to sort."
    return section("samples", "Sample records", body, esc(lead))


def rejected(d: RunData) -> str:
    if d.rejected is not None:
        n = d.n_rejected_lines
        if not n:
            return section("rejected", "Rejected records", "<p class='muted'>No records were rejected: every "
                           "record read was usable.</p>")
        rows = [(f"{r.get('file', '')}:{'' if r.get('line') is None else r.get('line')}", r.get("reason"),
                 Html(f"<code>{esc(truncate(r.get('raw'), TEXT_CHARS))}</code>"))
                for r in d.rejected[:N_SAMPLE]]
        body = table(["file:line", "reason", "raw"], rows, cls="records", text_cols=[1], wide_cols=[2])
        lead = f"{n:,} records could not be used; showing the first {min(n, N_SAMPLE):,} " \
               "(from rejected.jsonl)."
        return section("rejected", "Rejected records", body, esc(lead))
    rej = d.records[d.records["status"] == "rejected"] if d.records is not None else None
    if rej is None or not len(rej):
        return missing("No rejected.jsonl in this run directory: rejected records are not listed.")
    rows = [(f"{r.get('source_file', '')}:{'' if pd.isna(r.get('source_line')) else r.get('source_line')}",
             r.get("reason")) for _, r in rej.head(N_SAMPLE).iterrows()]
    lead = f"{len(rej):,} records could not be used (from records.parquet; rejected.jsonl with the raw " \
           "lines is missing)."
    body = table(["file:line", "reason"], rows, text_cols=[1])
    return section("rejected", "Rejected records", body, esc(lead))


def _timings_table(timings: dict, total) -> str:
    rows = []
    for stage, t in timings.items():
        t = t if isinstance(t, dict) else {"seconds": t}
        extra = ", ".join(f"{k}={fmt(v)}" for k, v in t.items() if k not in ("seconds", "cached"))
        rows.append((stage, t.get("seconds"), "cached" if t.get("cached") else "computed", extra))
    if total is not None:
        rows.append((Html("<b>total</b>"), total, "", ""))
    return "<h3>Timings</h3>" + table(["stage", "seconds", "", "details"], rows, cls="narrow")


def command_line(argv) -> str:
    """The recorded command, shell-quoted so it can be pasted back into a POSIX shell."""
    if isinstance(argv, str):
        return argv
    return shlex.join(str(a) for a in argv)


def footer(d: RunData) -> str:
    m, s = d.manifest or {}, d.summary or {}
    timings = s.get("timings") or m.get("timings") or {}
    versions = {k: v for k, v in (m.get("versions") or {}).items() if v}
    if m.get("python"):
        versions = {"python": m["python"], **versions}
    parts = []
    if timings:
        parts.append(_timings_table(timings, s.get("seconds")))
    if versions:
        items = "".join(f"<span><b>{esc(k)}</b> {esc(v)}</span>" for k, v in versions.items())
        parts.append(f'<h3>Package versions</h3><div class="versions">{items}</div>')
    machine = m.get("machine") or {}
    if machine.get("platform"):
        parts.append(f'<p class="muted">Machine: {esc(machine["platform"])}</p>')
    if m.get("argv"):
        cmd = esc(command_line(m["argv"]))
        parts.append(f'<p class="muted">Command: <code class="command">{cmd}</code></p>')
    if d.config_text is not None:
        parts.append(f"<details><summary>config.yaml</summary><pre>{esc(d.config_text)}</pre></details>")
    if not parts:
        return missing("No manifest.json, timings or config.yaml: versions and timings are not shown.")
    return section("environment", "Environment and timings", "".join(parts))

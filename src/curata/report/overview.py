"""The report's top: run header, accounting banner with its check, notes, and why records were not chosen."""

from __future__ import annotations

import json

import pandas as pd

from curata.report.load import RunData
from curata.report.markup import Html, esc, fmt, is_missing, kv_grid, missing, pct, section, table, truncate


def header(d: RunData) -> str:
    m, s = d.manifest or {}, d.summary or {}
    inputs = m.get("inputs") or {}

    def source(x: dict | None):
        if not x:
            return None
        sha = x.get("sha256")
        tail = f' <span class="muted">sha256 {esc(sha[:12])}…</span>' if sha else ""
        return Html(f"<code>{esc(x.get('path'))}</code>{tail}")

    sel = s.get("selector") or {}
    labels = s.get("labels") or []
    label_txt = f"{len(labels)}: " + ", ".join(str(x) for x in labels[:12]) + \
        (" …" if len(labels) > 12 else "")
    pairs = [
        ("created", m.get("created_at")), ("task", s.get("task")), ("input", source(inputs.get("pool"))),
        ("target", source(inputs.get("target"))), ("selector", sel.get("describe") or m.get("selector")),
        ("budget", s.get("budget")), ("seed", m.get("seed")), ("embedder", m.get("embedder")),
        ("scorers", ", ".join(str(x) for x in m.get("scorers") or []) or None),
        ("labels", label_txt if labels else None),
    ]
    extra = ""
    if sel.get("summary"):
        rows = [(k, truncate(v if isinstance(v, str) else json.dumps(v, default=str), 300))
                for k, v in sel["summary"].items()]
        extra = "<details><summary>selector summary</summary>" + \
            table(["key", "value"], rows, text_cols=[1]) + "</details>"
    note = "" if (d.manifest or d.summary) else missing(
        "No manifest.json or summary.json in this run directory: run details are not known.")
    n_alerts = len(run_alerts(d))
    badge = f' <a class="alert-badge" href="#alerts">⚠ {n_alerts} alert{"s" if n_alerts != 1 else ""}</a>' \
        if n_alerts else ""
    return (f'<header class="card top"><div class="eyebrow">curata run report</div>'
            f"<h1>{esc(d.root.resolve().name)}{badge}</h1>{kv_grid(pairs)}{extra}{note}</header>")


def accounting_from_records(df: pd.DataFrame) -> dict:
    st = df["status"].value_counts()
    n_sel, n_not, n_rej = (int(st.get(k, 0)) for k in ("selected", "not_selected", "rejected"))
    chosen = n_sel + n_not > 0
    return {"records_in": len(df), "accepted": len(df) - n_rej, "selected": n_sel,
            "not_selected": n_not if chosen else None,
            "excluded": int(df["excluded"].sum()) if chosen and "excluded" in df.columns else None,
            "rejected": n_rej}


def _tile(label: str, value, cls: str = "") -> str:
    return f'<div class="tile {cls}"><b>{esc(fmt(value))}</b><span>{esc(label)}</span></div>'


def _proportion_bar(acc: dict) -> str:
    total = acc.get("records_in") or 0
    if not total:
        return ""
    excluded = acc.get("excluded") or 0
    parts = [("selected", acc.get("selected") or 0, "seg-sel"),
             ("not selected", max(0, (acc.get("not_selected") or 0) - excluded), "seg-not"),
             ("excluded by a rule", excluded, "seg-exc"), ("rejected", acc.get("rejected") or 0, "seg-rej")]
    if acc.get("not_selected") is None:
        parts = [("scored", acc.get("accepted") or 0, "seg-not"), parts[3]]
    segs = "".join(f'<div class="{c}" style="width:{100 * n / total:.3f}%" title="{esc(name)}: {n:,}"></div>'
                   for name, n, c in parts if n)
    legend = "".join(f'<span><i class="{c}"></i>{esc(name)} {esc(fmt(n))} ({pct(n, total)})</span>'
                     for name, n, c in parts if n)
    return f'<div class="propbar">{segs}</div><div class="proplegend">{legend}</div>'


def accounting(d: RunData) -> str:
    from_records = accounting_from_records(d.records) if d.records is not None else None
    if d.summary and d.summary.get("accounting"):
        acc, source = d.summary["accounting"], "summary.json"
    elif from_records is not None:
        acc, source = from_records, "records.parquet (summary.json is missing)"
    else:
        return missing("No accounting: neither summary.json nor records.parquet is in this run directory.")
    n_in = acc.get("records_in") or 0
    if acc.get("not_selected") is None:
        parts = [("scored", acc.get("accepted")), ("rejected", acc.get("rejected"))]
    else:
        parts = [("selected", acc.get("selected")), ("not selected", acc.get("not_selected")),
                 ("rejected", acc.get("rejected"))]
    total = sum(int(v or 0) for _, v in parts)
    problems = []
    if total != n_in:
        problems.append(f"records in {n_in:,} ≠ " + " + ".join(f"{k} {int(v or 0):,}" for k, v in parts)
                        + f" = {total:,}")
    if from_records is not None and source == "summary.json":
        for key in ("records_in", "selected", "not_selected", "rejected"):
            a, b = acc.get(key), from_records.get(key)
            if a is not None and b is not None and int(a) != int(b):
                problems.append(f"summary.json says {key.replace('_', ' ')} = {int(a):,} "
                                f"but records.parquet has {int(b):,}")
    ops = ['<span class="op">=</span>'] + ['<span class="op">+</span>'] * (len(parts) - 1)
    tiles = _tile("records in", n_in, "total") + "".join(
        op + _tile(name, v, "sel" if name == "selected" else "") for op, (name, v) in zip(ops, parts))
    line = d.summary.get("accounting_line") if d.summary else None
    line_html = f'<p class="accline"><code>{esc(line)}</code></p>' if line else ""
    if acc.get("excluded"):
        line_html += f'<p class="muted">of the not selected, {int(acc["excluded"]):,} were excluded by ' \
                     "rules before selection</p>"
    if problems:
        check = '<div class="warn"><b>✗ The accounting does not add up.</b><ul>' + \
                "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul></div>"
    else:
        check = '<p class="ok">✓ Every record is accounted for: in = ' + \
                " + ".join(name for name, _ in parts) + \
                f'. <span class="muted">Source: {esc(source)}.</span></p>'
    body = f'<div class="tiles">{tiles}</div>{_proportion_bar(acc)}{line_html}{check}'
    return f'<section class="card banner{" bad" if problems else ""}" id="accounting"><h2>Accounting</h2>' \
           f"{body}</section>"


def _unique(items) -> list[str]:
    """Non-empty strings of ``items`` (a list, or one string), each once, in first-seen order."""
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, (list, tuple)):
        return []
    return list(dict.fromkeys(str(x).strip() for x in items if not is_missing(x) and str(x).strip()))


def _alert_key(text: str) -> str:
    """An alert's text without an ``ALERT:`` prefix, to spot the same alert repeated among the notes."""
    text = text.strip()
    return text[6:].strip() if text[:6].lower() == "alert:" else text


def run_alerts(d: RunData) -> list[str]:
    return _unique((d.summary or {}).get("alerts"))


def alerts(d: RunData) -> str:
    """Loud run-level problems (``summary.json`` ``alerts``), in a warning box at the very top."""
    items = run_alerts(d)
    if not items:
        return ""
    lis = "".join(f"<li>{esc(a)}</li>" for a in items)
    what = "1 alert" if len(items) == 1 else f"{len(items)} alerts"
    return (f'<section class="card alerts" id="alerts"><h2>Alerts</h2>'
            f'<p class="alerts-lead"><b>⚠ This run has {what}:</b> look at these before using the '
            f'selection.</p><ul>{lis}</ul></section>')


def notes(d: RunData) -> str:
    shown_as_alert = {_alert_key(a) for a in run_alerts(d)}
    items = [n for n in _unique((d.summary or {}).get("notes")) if _alert_key(n) not in shown_as_alert]
    problems = [p for p in _unique(d.problems) if p not in items]
    if not items and not problems:
        return ""
    lis = "".join(f"<li>{esc(n)}</li>" for n in items) + \
        "".join(f'<li class="problem">{esc(p)}</li>' for p in problems)
    return section("notes", "Notes and warnings", f'<ul class="notes">{lis}</ul>')


def why_not_chosen(d: RunData) -> str:
    if d.records is None:
        return missing("No records.parquet in this run directory: the per-record sections "
                       "(reasons, labels, scores, map, clusters, samples) are not shown.")
    df = d.records
    status = df["status"]
    n = len(df)
    excluded = df["excluded"].fillna(False).astype(bool) if "excluded" in df.columns else \
        pd.Series(False, index=df.index)
    not_sel = status == "not_selected"
    rows = [("selected", int((status == "selected").sum()), "chosen by the selector within the budget")]
    ex_label, ex_meaning = "not selected: excluded by a rule", "an exclude rule matched"
    if "select_rank" in df.columns:
        ranked = df["select_rank"].to_numpy(dtype="int64", na_value=-1) >= 0
        rows += [(ex_label, int((not_sel & excluded).sum()), ex_meaning),
                 ("not selected: below the budget cut", int((not_sel & ~excluded & ranked).sum()),
                  "ranked by the selector, but past the budget"),
                 ("not selected: not reached", int((not_sel & ~excluded & ~ranked).sum()),
                  "the selector stopped before ranking it")]
    else:
        rows += [(ex_label, int((not_sel & excluded).sum()), ex_meaning),
                 ("not selected: other", int((not_sel & ~excluded).sum()), "not chosen within the budget")]
    rows += [("scored only", int((status == "scored").sum()), "the run had no selection step"),
             ("rejected when read", int((status == "rejected").sum()), "unreadable or invalid input")]
    body = table(["outcome", "records", "share", "meaning"],
                 [(k, v, pct(v, n), m) for k, v, m in rows if v], cls="narrow")
    if "exclude_rule" in df.columns and excluded.any():
        ex = df[excluded]
        rule = ex["exclude_rule"].astype(object).where(ex["exclude_rule"].notna(), "(no rule recorded)")
        counts = rule.value_counts()
        example = ex.assign(_rule=rule.to_numpy()).groupby("_rule", sort=False)["reason"].first()
        body += "<h3>By exclusion rule</h3>" + table(
            ["rule", "records", "example reason"],
            [(Html(f"<code>{esc(r)}</code>"), int(c), truncate(example.get(r), 160))
             for r, c in counts.items()],
            text_cols=[2])
    rej = df.loc[status == "rejected", "reason"]
    if len(rej):
        counts = rej.fillna("(no reason)").astype(str).value_counts()
        more = f'<p class="muted">{len(counts) - 10:,} other reasons not shown.</p>' \
            if len(counts) > 10 else ""
        body += "<h3>Rejected when read, by reason</h3>" + table(
            ["reason", "records"], [(truncate(r, 200), int(c)) for r, c in counts.head(10).items()],
            text_cols=[0]) + more
    return section("why", "Why records were not chosen", body)


"""``render_report(run_dir)``: one self-contained, offline HTML page explaining a run from its files alone."""

from __future__ import annotations

import re
from pathlib import Path

from curata.report import evaluation, overview, samples, sections
from curata.report.load import load_run
from curata.report.markup import esc

CSS = """
:root{--fg:#1f2933;--muted:#66727f;--bg:#f3f5f8;--card:#fff;--line:#e3e7ec;--accent:#2563eb;--ok:#0f7b3f;
--bad:#b91c1c;--exc:#f59e0b;--rej:#dc2626;--pool:#aab3bf}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:20px 24px 40px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:14px 0;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
h1{font-size:24px;margin:2px 0 10px}h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:18px 0 6px}
.eyebrow{font-size:11px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
.lead{color:var(--muted);margin:-4px 0 10px}.muted{color:var(--muted)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f8fafc;border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;
max-height:420px}
nav{position:sticky;top:0;z-index:2;background:rgba(243,245,248,.94);backdrop-filter:blur(4px);
padding:8px 0;font-size:13px;border-bottom:1px solid var(--line)}
nav{display:flex;flex-wrap:wrap;gap:2px 16px}
nav a{color:var(--accent);text-decoration:none;white-space:nowrap}
nav a:hover{text-decoration:underline}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-word}
.banner{border-left:5px solid var(--ok)}.banner.bad{border-left-color:var(--bad)}
.tiles{display:flex;align-items:center;flex-wrap:wrap;gap:8px;margin:4px 0 12px}
.tile{background:#f8fafc;border:1px solid var(--line);border-radius:8px;padding:6px 16px;text-align:center;
min-width:110px}.tile b{display:block;font-size:26px;line-height:1.2;font-variant-numeric:tabular-nums}
.tile span{font-size:12px;color:var(--muted)}.tile.total{background:#eef2ff;border-color:#c7d2fe}
.tile.sel b{color:var(--accent)}.op{font-size:22px;color:var(--muted);padding:0 2px}
.propbar{display:flex;height:12px;border-radius:6px;overflow:hidden;background:var(--line)}
.seg-sel{background:var(--accent)}.seg-not{background:var(--pool)}.seg-exc{background:var(--exc)}
.seg-rej{background:var(--rej)}.proplegend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;
color:var(--muted);margin:6px 0}.proplegend i{display:inline-block;width:10px;height:10px;border-radius:2px;
margin-right:5px;vertical-align:-1px}
.accline{margin:8px 0 4px}.ok{color:var(--ok);margin:6px 0 0}
.warn{background:#fdecec;color:var(--bad);border:1px solid #f5c2c2;border-radius:6px;padding:8px 12px;
margin-top:8px}
.warn ul{margin:4px 0 0 18px;padding:0}
ul.notes{margin:0;padding-left:20px}ul.notes li.problem{color:var(--bad)}
.card.alerts{background:#fff7ed;border:1px solid #fdba74;border-left:6px solid #ea580c}
.alerts h2{color:#9a3412}.alerts-lead{margin:0 0 4px;color:#9a3412}
.alerts ul{margin:0;padding-left:22px}.alerts li{color:#7c2d12;font-weight:600;margin:2px 0}
a.alert-badge{display:inline-block;vertical-align:middle;margin-left:12px;font-size:13px;font-weight:600;
color:#9a3412;background:#ffedd5;border:1px solid #fdba74;border-radius:999px;padding:1px 10px;
text-decoration:none}
.missing{color:var(--muted);font-size:13px;margin:6px 4px;padding-left:10px;border-left:3px solid var(--line)}
.scroll{overflow-x:auto}
.scroll.x{background:linear-gradient(to right,#fff 30%,rgba(255,255,255,0)) left/40px 100% no-repeat local,
linear-gradient(to left,#fff 30%,rgba(255,255,255,0)) right/40px 100% no-repeat local,
radial-gradient(farthest-side at 0 50%,rgba(16,24,40,.18),transparent) left/12px 100% no-repeat scroll,
radial-gradient(farthest-side at 100% 50%,rgba(16,24,40,.18),transparent) right/12px 100% no-repeat scroll}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f8fafc;font-weight:600;white-space:nowrap;position:sticky;top:0}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#eef2f7}
th[data-dir=asc]::after{content:" ▲";font-size:9px}th[data-dir=desc]::after{content:" ▼";font-size:9px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.records{width:100%}td.text{max-width:320px;white-space:pre-wrap;word-break:break-word}
table.samples{width:auto;min-width:100%}
th.reason,td.reason{min-width:15em;max-width:24em;white-space:normal;word-break:normal;
overflow-wrap:break-word;hyphens:none}
td.score{min-width:5.5em}
table.samples tr>:nth-child(-n+2){position:sticky;background:var(--card);z-index:1}
table.samples tr>th:nth-child(-n+2){background:#f8fafc;z-index:2}
table.samples tr>:first-child{left:0;width:6.4em;min-width:6.4em;max-width:6.4em}
table.samples tr>:nth-child(2){left:6.4em;box-shadow:inset -1px 0 0 var(--line)}
td.wide{min-width:380px;max-width:640px}td.wide code{font-size:11.5px}
td .pos,td.pos{color:var(--ok);font-weight:600}td .neg{color:var(--bad);font-weight:600}
img.chart{display:block;width:100%;height:auto;margin:4px 0 8px}
.split{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:18px;align-items:start}
@media (max-width:900px){.split{grid-template-columns:1fr}}
details{margin:8px 0}summary{cursor:pointer;color:var(--accent);font-size:13px}
.versions{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:12.5px}.versions b{font-weight:600}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:18px}
"""

JS = """
document.querySelectorAll("table.sortable th").forEach(function(th){th.addEventListener("click",function(){
var b=th.closest("table").tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),
asc=th.dataset.dir!=="asc";th.parentNode.querySelectorAll("th").forEach(function(h){delete h.dataset.dir;});
th.dataset.dir=asc?"asc":"desc";var v=function(r){var s=r.children[i].textContent.trim(),
n=parseFloat(s.replace(/[,%]/g,""));return isNaN(n)?[1,s.toLowerCase()]:[0,n];};
Array.from(b.rows).sort(function(a,c){var x=v(a),y=v(c);if(x[0]!==y[0])return x[0]-y[0];
return (x[1]<y[1]?-1:x[1]>y[1]?1:0)*(asc?1:-1);}).forEach(function(r){b.appendChild(r);});});});
"""

_HEADING = re.compile(r'<section class="card[^"]*" id="([^"]+)"><h2>([^<]+)</h2>')


def _nav(parts: list[str]) -> str:
    links = [f'<a href="#{a}">{t}</a>' for a, t in _HEADING.findall("".join(parts))]
    return f"<nav>{''.join(links)}</nav>" if links else ""


def build_html(run_dir: str | Path) -> str:
    """The report page as a string (``render_report`` writes it into the run directory)."""
    d = load_run(run_dir)
    seed = (d.manifest or {}).get("seed")
    seed = seed if isinstance(seed, int) else 0
    parts = [
        overview.alerts(d), overview.accounting(d), overview.notes(d), overview.why_not_chosen(d),
        sections.labels(d), sections.scores(d), sections.pool_map(d, seed=seed), sections.clusters(d),
        sections.bandit(d), evaluation.learning_curves(d), samples.samples(d), samples.rejected(d),
        samples.footer(d),
    ]
    try:
        from importlib.metadata import version

        made_by = f"curata {version('curata')}"
    except Exception:  # noqa: BLE001 - only a label
        made_by = "curata"
    name = esc(d.root.resolve().name)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>curata report · {name}</title><style>{CSS}</style></head><body><main>"
        f"{overview.header(d)}{_nav(parts)}{''.join(parts)}"
        f"<footer>Generated by {esc(made_by)} from the files in this run directory; works offline.</footer>"
        f"</main><script>{JS}</script></body></html>\n"
    )


def render_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.html`` from the run's files and return its path."""
    from curata.engine.atomic import write_text

    from curata.engine.lock import run_lock

    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory {root} does not exist")
    out = root / "report.html"
    with run_lock(root, "report"):  # never a report of a run half rewritten by another process
        write_text(out, build_html(run_dir))
    return out

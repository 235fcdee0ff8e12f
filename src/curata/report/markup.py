"""Small HTML building blocks for the report; every value from a run is escaped unless wrapped in ``Html``."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import pandas as pd


class Html(str):
    """A string that is already safe markup and must not be escaped again."""


def esc(value) -> str:
    if isinstance(value, Html):
        return value
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, set, str)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value, digits: int = 3) -> str:
    """Numbers for tables: thousands separators for counts, ``digits`` significant-ish decimals otherwise."""
    if is_missing(value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if isinstance(value, Real):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e5 else f"{v:.{digits}g}"
    return str(value)


def truncate(text, n: int = 200) -> str:
    if is_missing(text):
        return ""
    text = str(text)
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _cell(value, numeric: bool) -> str:
    if isinstance(value, Html):
        return f"<td>{value}</td>"
    if numeric or (isinstance(value, Real) and not isinstance(value, bool)):
        return f'<td class="num">{esc(fmt(value))}</td>'
    return f"<td>{esc(value)}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence], cls: str = "", text_cols: Sequence[int] = (),
          sortable: bool = False, wide_cols: Sequence[int] = (), col_class: dict[int, str] | None = None,
          scroll_cls: str = "") -> str:
    """A compact table: ``text_cols`` wrap (``wide_cols`` get more room); numbers align right.

    ``col_class`` gives whole columns a class of their own (on the ``th`` and every ``td``), e.g.
    ``{4: "reason"}``; ``scroll_cls`` is added to the horizontally scrolling box around the table.
    """
    col_class = col_class or {}
    classes = " ".join(c for c in (cls, "sortable" if sortable else "") if c)
    head = "".join(f'<th class="{esc(col_class[i])}">{esc(h)}</th>' if i in col_class
                   else f"<th>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            c = _cell(v, False)
            extra = [col_class[i]] if i in col_class else []
            if i in wide_cols:
                extra = ["text", "wide", *extra]
            elif i in text_cols:
                extra = ["text", *extra]
            if extra:
                if c.startswith('<td class="'):
                    c = c.replace('<td class="', f'<td class="{esc(" ".join(extra))} ', 1)
                else:
                    c = c.replace("<td>", f'<td class="{esc(" ".join(extra))}">', 1)
            cells.append(c)
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls_attr = f' class="{classes}"' if classes else ""
    box = " ".join(c for c in ("scroll", scroll_cls) if c)
    return f'<div class="{box}"><table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}' \
           f"</tbody></table></div>"


def section(anchor: str, title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section class="card" id="{esc(anchor)}"><h2>{esc(title)}</h2>{lead_html}{body}</section>'


def missing(note: str) -> str:
    """The one line shown in place of a section whose inputs are absent (``note`` is already markup)."""
    return f'<p class="missing">{note}</p>'


def kv_grid(pairs: Iterable[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v if isinstance(v, Html) else esc(v)}</dd>"
                    for k, v in pairs if not is_missing(v) and v != "")
    return f'<dl class="kv">{items}</dl>'


def pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100 * part / whole:.1f}%"

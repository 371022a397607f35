"""A report: plain-language summary lines, then sections of text, tables and Plotly charts.

``to_dict()`` gives the numbers (for the app, the CLI and tests); ``to_html()`` a single
self-contained HTML file that opens offline: plotly.js is embedded once, every chart reuses it.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from automl.atomic import atomic_path, check_output_file


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    level: str = "info"  # info, warning

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": list(self.text),
            "tables": {t: _records(df) for t, df in self.tables},
            "figures": [t for t, _ in self.figures],
            "data": _plain(self.data),
        }


@dataclass
class Report:
    kind: str  # "data" or "performance"
    title: str
    summary: list[str]
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def section(self, title: str) -> Section:
        for s in self.sections:
            if s.title == title:
                return s
        raise KeyError(title)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "created_at": self.created_at,
            "summary": list(self.summary),
            "notes": list(self.notes),
            "sections": [s.to_dict() for s in self.sections],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False, default=str)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The whole report as one HTML page (written to ``path`` when given)."""
        from plotly.offline import get_plotlyjs

        parts = [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{_CSS}</style>",
            f"<script type='text/javascript'>{get_plotlyjs()}</script>",
            "</head><body><main>",
            f"<h1>{html.escape(self.title)}</h1>",
            f"<p class='meta'>Made by Easel on {html.escape(self.created_at)} (UTC).</p>",
            "<section class='summary'><ul>",
            *[f"<li>{_inline(s)}</li>" for s in self.summary],
            "</ul></section>",
        ]
        if self.notes:
            parts.append("<p class='note'>" + " ".join(_inline(n) for n in self.notes) + "</p>")
        parts.append("<nav><b>Contents</b><ol>")
        parts += [f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>"
                  for i, s in enumerate(self.sections)]  # fmt: skip
        parts.append("</ol></nav>")
        for i, s in enumerate(self.sections):
            parts.append(f"<section id='s{i}' class='{s.level}'><h2>{html.escape(s.title)}</h2>")
            parts += [f"<p>{_inline(t)}</p>" for t in s.text]
            for title, fig in s.figures:
                parts.append(f"<div class='chart'>{_figure_html(fig, title)}</div>")
            for title, df in s.tables:
                parts.append(f"<h3>{html.escape(title)}</h3>")
                parts.append(_table(df))
            parts.append("</section>")
        parts.append("</main></body></html>")
        text = "\n".join(parts)
        if path is not None:
            out = check_output_file(path, "report file")
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp:  # nothing half-written, whatever happens
                tmp.write_text(text, encoding="utf-8")
        return text


_CONFIG = {"displaylogo": False, "responsive": True}
_MARGIN = {"l": 40, "r": 20, "t": 40, "b": 40}


def _figure_html(fig: go.Figure, title: str) -> str:
    """One chart of the page: ``fig`` with its title, the report's margins and the white
    template, every string from the data escaped as :func:`safe_figure` does. Built from the
    figure's JSON, not as a new Figure: Plotly would validate it again and copy its template,
    which cost more than the rest of the page (about 15 ms a chart)."""
    import plotly.io as pio

    spec = fig.to_plotly_json()
    layout = {**spec["layout"], "margin": dict(_MARGIN), "title": {"text": title}}
    shown = _escape({"data": spec["data"], "layout": layout})
    shown["layout"]["template"] = _white_template()
    out: str = pio.to_html(
        shown, full_html=False, include_plotlyjs=False, config=_CONFIG, validate=False
    )
    return out


_WHITE: dict[str, Any] = {}


def _white_template() -> dict[str, Any]:
    """Plotly's "plotly_white" template as JSON, made once (it is only read)."""
    if not _WHITE:
        import plotly.io as pio

        _WHITE.update(pio.templates["plotly_white"].to_plotly_json())
    return _WHITE


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2430;margin:0;
background:#f6f7f9}main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:28px;margin:8px 0}h2{font-size:21px;border-bottom:1px solid #e3e5ea;padding-bottom:6px;
margin-top:36px}h3{font-size:15px;margin:18px 0 6px}.meta{color:#6b7280;font-size:13px}
.summary{background:#eef6f4;border-left:4px solid #2a9d8f;padding:8px 16px;margin:16px 0}
.summary li{margin:6px 0}.note{color:#6b7280;font-size:13px}nav{font-size:14px;margin:12px 0}
nav ol{columns:2}section.warning h2{color:#9a3412}table{border-collapse:collapse;font-size:13px;
margin:6px 0 14px;width:100%}th,td{border-bottom:1px solid #eceef2;padding:4px 8px;text-align:left}
th{background:#f3f4f6;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.chart{margin:8px 0 16px}
.tag{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px}
.scroll{overflow-x:auto}.passed{background:#dcfce7}.fixed{background:#e0f2fe}.alert,.blocked{background:#fee2e2}
"""


# Plotly draws a little HTML in chart text (<a href>, <b>, <br>, <span style>): a cell value or
# column name such as <a href="https://evil.example/login"> would become a live link. Every
# string of a figure is escaped (Plotly shows &lt; as <); the templates Plotly writes itself keep
# their line breaks and the <extra> box, with the names inside them escaped.
_TEMPLATE_KEYS = {"hovertemplate", "texttemplate"}
_TEMPLATE_TAGS = re.compile(r"&lt;(br|/?extra)&gt;")


def safe_figure(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` whose every string from the data (categories, labels, names, titles,
    hover text) is HTML-escaped, so that no user value becomes markup in the chart."""
    return go.Figure(_escape(fig.to_plotly_json()))


def _escape(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        out = html.escape(value, quote=False)
        return _TEMPLATE_TAGS.sub(r"<\1>", out) if key in _TEMPLATE_KEYS else out
    if isinstance(value, dict):
        return {k: v if k == "template" else _escape(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape(v, key) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return np.array([_escape(v, key) for v in value.ravel().tolist()], dtype=object).reshape(
            value.shape
        )
    return value


def _inline(text: str) -> str:
    """Escape, then allow **bold** (the only markup reports use)."""
    out = html.escape(text)
    pieces = out.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(pieces))


def _table(df: pd.DataFrame, max_rows: int = 200) -> str:
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for _, r in shown.iterrows():
        cells = []
        for v in r.tolist():
            if isinstance(v, float | np.floating) and not isinstance(v, bool):
                cells.append(f"<td class='num'>{fmt(float(v))}</td>")
            elif isinstance(v, int | np.integer) and not isinstance(v, bool):
                cells.append(f"<td class='num'>{int(v):,}</td>")
            elif isinstance(v, str) and v in ("passed", "fixed", "alert", "blocked"):
                cells.append(f"<td><span class='tag {v}'>{v}</span></td>")
            else:
                cells.append(f"<td>{html.escape('' if v is None else str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p class='note'>First {max_rows} of {len(df):,} rows.</p>" if len(df) > max_rows else ""
    )
    body = "".join(rows)
    return (
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        f"</table></div>{more}"
    )


def fmt(v: float) -> str:
    """A number for a reader: 1,234 / 12.3 / 0.0412 / missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:.4g}"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v

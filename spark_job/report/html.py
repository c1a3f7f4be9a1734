"""``report.html``: the report as one self-contained page (inline CSS and SVG, no script, no
network), readable from disk in any browser."""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#5a6270}.grid{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #dde1e7;border-radius:6px;padding:10px 12px;width:360px}
.card h3{font-size:15px;margin:0 0 6px}table{border-collapse:collapse}
td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eef0f3}
th{text-align:left;font-weight:600}td.l{text-align:left}
.flag{color:#fff;background:#c0392b;border-radius:3px;padding:0 5px}
.ok{color:#1e7d32}svg{display:block;margin-top:6px}
"""
_BAR = "#4a7bd0"
_REF = "#b9c3d3"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def _histogram_svg(edges: list[float], counts: list[int], width: int = 336) -> str:
    height, top = 110, max(counts) or 1
    step = width / len(counts)
    bars = "".join(
        f'<rect x="{i * step + 1:.1f}" y="{90 - 86 * c / top:.1f}" width="{max(step - 2, 1):.1f}"'
        f' height="{86 * c / top:.1f}" fill="{_BAR}"><title>{_number(edges[i])} – '
        f"{_number(edges[i + 1])}: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f'{bars}<line x1="0" y1="90.5" x2="{width}" y2="90.5" stroke="#888"/>'
        f'<text x="0" y="106" font-size="11">{_number(edges[0])}</text>'
        f'<text x="{width}" y="106" font-size="11" text-anchor="end">{_number(edges[-1])}</text>'
        "</svg>"
    )


def _bars_svg(rows: list[tuple[str, float, float | None]], width: int = 336) -> str:
    """Horizontal bars: (label, value, reference value or None), values as shares 0…1."""
    line, height = 18, 18 * len(rows) + 4
    top = max([v for _, v, _ in rows] + [r for *_, r in rows if r is not None] + [1e-12])
    parts = []
    for i, (label, value, ref) in enumerate(rows):
        y = i * line + 2
        length = (width - 150) * value / top
        parts.append(
            f'<text x="0" y="{y + 12}" font-size="11">{escape(label[:22])}</text>'
            f'<rect x="110" y="{y + 2}" width="{length:.1f}" height="11" fill="{_BAR}"/>'
        )
        if ref is not None:
            tick = 110 + (width - 150) * ref / top
            parts.append(f'<rect x="{tick - 1:.1f}" y="{y}" width="3" height="15" fill="{_REF}"/>')
        parts.append(
            f'<text x="{width}" y="{y + 12}" font-size="11" text-anchor="end">{value:.1%}</text>'
        )
    return f'<svg width="{width}" height="{height}" role="img">{"".join(parts)}</svg>'


def _stats_table(summary: dict[str, Any]) -> str:
    keys = ["count", "nulls", "min", "max", "mean", "stddev"]
    rows = [(k, summary[k]) for k in keys if k in summary]
    quantiles = summary.get("quantiles") or {}
    rows += [
        (f"q{float(q) * 100:g}", v) for q, v in quantiles.items() if q in ("0.05", "0.5", "0.95")
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{_number(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _chart(summary: dict[str, Any], drift: dict[str, Any] | None) -> str:
    if drift is not None and summary.get("kind") != "number":
        rows = [(b["bin"], b["current"], b["reference"]) for b in drift["bins"]]
        return _bars_svg(rows)
    if "histogram" in summary:
        hist = summary["histogram"]
        return _histogram_svg(hist["edges"], hist["counts"])
    top = (summary.get("top") or {}).get("values") or []
    present = summary.get("count") or 0
    if top and present:
        return _bars_svg([(str(v), c / present, None) for v, c in top[:10]])
    return ""


def _drift_line(drift: dict[str, Any] | None) -> str:
    if drift is None:
        return ""
    badge = '<span class="flag">drift</span>' if drift["flagged"] else '<span class="ok">ok</span>'
    return f"<p>PSI {drift['psi']:.3f} · JS distance {drift['js_distance']:.3f} {badge}</p>"


def _cards(columns: dict[str, Any], drifts: dict[str, Any]) -> str:
    cards = []
    for name, summary in columns.items():
        drift = drifts.get(name)
        cards.append(
            f'<div class="card"><h3>{escape(name)} <span class="meta">'
            f"{escape(summary.get('kind', ''))}</span></h3>{_drift_line(drift)}"
            f"{_chart(summary, drift)}{_stats_table(summary)}</div>"
        )
    return f'<div class="grid">{"".join(cards)}</div>'


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{_number(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _drift_section(drift: dict[str, Any] | None) -> str:
    if not drift:
        return ""
    rows = []
    for section in ("prediction", "features"):
        for name, d in drift[section].items():
            flag = '<span class="flag">drift</span>' if d["flagged"] else ""
            rows.append(
                f'<tr><td class="l">{escape(section)}</td><td class="l">{escape(name)}</td>'
                f"<td>{d['psi']:.3f}</td><td>{d['js_distance']:.3f}</td><td>{flag}</td></tr>"
            )
    head = "<tr><th>section</th><th>column</th><th>PSI</th><th>JS distance</th><th></th></tr>"
    return (
        f"<h2>Drift</h2><p class=meta>against {escape(str(drift['reference']))}; flagged above"
        f" PSI {drift['threshold']:g}: {len(drift['flagged'])} column(s)</p>"
        f"<table>{head}{''.join(rows)}</table>"
    )


def render(document: dict[str, Any]) -> str:
    job = document["job"]
    drift = document.get("drift") or {}
    failures = document.get("failures") or {}
    stages = [(k, round(v, 2)) for k, v in document.get("stage_seconds", {}).items()]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Job report: {escape(job['name'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>Job report: {escape(job['name'])}</h1>"
        f'<p class="meta">run {escape(job["run_id"])} · model {escape(job["model"])} → '
        f"{escape(job['destination'])} · {escape(job['generated_at'])}</p>"
        '<div class="grid"><div class="card"><h3>Rows</h3>'
        f"{_table(list(document['rows'].items()))}</div>"
        f'<div class="card"><h3>Seconds per stage</h3>{_table(stages)}</div>'
        '<div class="card"><h3>Failed instances by kind</h3>'
        f"{_table(list(failures.items())) if failures else '<p>none</p>'}</div></div>"
        f"{_drift_section(drift)}"
        f"<h2>Prediction</h2>{_cards(document['prediction'], drift.get('prediction', {}))}"
        f"<h2>Features</h2>{_cards(document['features'], drift.get('features', {}))}"
        "</body></html>\n"
    )

"""The HTML report: one self-contained file (inline CSS and SVG, no network) that opens anywhere.

Sections: the ranked table, learning curves of the top K, parallel coordinates of the params
against the metric, one scatter plot per param, importance bars, compute accounting.
"""

from html import escape

from tuning import svg
from tuning.formats import compute_line, headline, human_bytes, relative, status_text
from tuning.report import Report, finite
from tuning.space import parse_domain

CURVES = 10  # learning curves drawn at most: more lines are unreadable

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;
white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.errored{white-space:normal}
.errored{color:#b00}.wide{overflow-x:auto}.plots{display:flex;flex-wrap:wrap;gap:16px}
svg text{font-size:11px;fill:#333;paint-order:stroke;stroke:#fff;stroke-width:3px}.axis{stroke:#555}.grid{stroke:#eee}.dot{fill:#1f77b4;fill-opacity:.75}
"""

# Marks the page once the browser has laid out every chart, so a headless browser can check it.
CHECK = """<script>
addEventListener('load',()=>{const s=[...document.querySelectorAll('svg.plot')];
document.body.dataset.plots=s.length;document.body.dataset.drawn=s.filter(e=>{const b=e.getBBox();
return b.width>0&&b.height>0&&e.querySelectorAll('path,polyline,circle,rect').length>0}).length;});
</script>"""


def _kind(spec) -> str:
    kind = parse_domain(spec).kind
    return "category" if kind in ("choice", "grid") else "log" if "log" in kind else "linear"


def _table(report: Report, top: int | None) -> str:
    params = list(report.space)
    extra = sorted({k for t in report.trials for k in t.metrics})
    head = ["rank", "trial", "status", report.metric, "epoch", *extra, "epochs",
            *(p.split(".")[-1] for p in params), "time s", "node", "checkpoints", "best checkpoint"]
    rows = []
    for t in report.shown(top):
        cells = [t.rank, t.trial_id, status_text(t), t.metric, t.epoch, *(t.metrics.get(m) for m in extra),
                 t.iterations, *(t.config.get(p) for p in params), t.time_s, t.node,
                 f"{t.checkpoints} ({human_bytes(t.checkpoint_bytes)})", relative(report, t.checkpoint)]
        tds = "".join(f'<td class="num">{svg.num(c)}</td>' if isinstance(c, float) else f"<td>{escape(str(c))}</td>"
                      if c is not None else "<td>-</td>" for c in cells)
        error = f'<tr><td></td><td colspan="{len(head) - 1}" class="errored">{escape(t.error)}</td></tr>' \
            if t.error else ""
        rows.append(f'<tr class="{t.status}">{tds}</tr>{error}')
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<div class='wide'><table><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def _curves(report: Report, top: int | None) -> str:
    ids = [t.trial_id for t in report.shown(top) if t.metric is not None][:CURVES]
    series = [(f"#{r.rank} {r.trial_id}", [(row["training_iteration"], row[report.metric])
                                          for row in report.results if row["trial_id"] == r.trial_id
                                          and finite(row.get(report.metric)) and row.get("training_iteration")])
              for r in report.trials if r.trial_id in ids]
    series = [s for s in series if s[1]]
    if not series:
        return "<p>No finite results yet.</p>"
    return svg.line_chart(series, f"{report.metric} per epoch, top {len(series)}", "epoch", report.metric)


def _param_scale(report: Report, key: str, scored, a: float, b: float):
    """(scale, ticks, value -> axis position) for one param, categorical or numeric."""
    kind = _kind(report.space[key])
    if kind == "category":
        cats = [str(v) for v in parse_domain(report.space[key]).args]
        return svg.Scale([-0.5, len(cats) - 0.5], a, b), list(enumerate(cats)), \
            lambda v: cats.index(str(v)) if str(v) in cats else 0, cats
    values = [t.config[key] for t in scored]
    return svg.Scale(values, a, b, log=kind == "log"), None, float, None


def _parallel(report: Report, scored) -> str:
    if not report.space or len(scored) < 2:
        return ""
    axes, mappers = [], []
    for key in report.space:
        scale, ticks, to_pos, _ = _param_scale(report, key, scored, svg.H - svg.PAD, 14)
        axes.append((key.split(".")[-1], scale, ticks))
        mappers.append(to_pos)
    axes.append((report.metric, svg.Scale([t.metric for t in scored], svg.H - svg.PAD, 14), None))
    lines = [([m(t.config[k]) for m, k in zip(mappers, report.space)] + [t.metric],
              svg.color(i / max(1, len(scored) - 1))) for i, t in enumerate(scored)]
    return svg.parallel(axes, lines[::-1], f"params against {report.metric} (dark: best)")


def _scatters(report: Report, scored) -> str:
    plots = []
    for key in report.space:
        _scale, _ticks, to_pos, cats = _param_scale(report, key, scored, 0, 1)
        points = [(to_pos(t.config[key]), t.metric, f"#{t.rank} {t.trial_id}: {t.config[key]}") for t in scored]
        plots.append(svg.scatter(points, f"{key} against {report.metric}", key, report.metric,
                                 log_x=_kind(report.space[key]) == "log", categories=cats))
    return "".join(plots)


def _importance(imp: dict | None) -> str:
    groups = {k: imp[k] for k in ("fanova", "ped_anova") if imp and imp.get(k)}
    note = f"<p>{escape(imp['note'])}</p>" if imp and imp.get("note") else ""
    if not groups:
        return note or "<p>Not computed.</p>"
    return svg.bars(groups, "hyperparameter importance") + note


def _compute(report: Report) -> str:
    c = report.compute()
    rows = [("trials", c["trials"]), ("trial-seconds", c["trial_s"]), ("GPU-seconds", c["gpu_s"]),
            ("saved by early stopping (estimated trial-seconds)", c["saved_s"]), ("wall seconds", c["wall_s"]),
            ("seconds to the best result", c["time_to_best_s"])]
    body = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{'-' if v is None else v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table><p>{escape(compute_line(c))}</p>"


def html(report: Report, top: int | None = None, importance: dict | None = None) -> str:
    """The whole report as one HTML page."""
    scored = [t for t in report.trials if finite(t.metric) and set(report.space) <= set(t.config)]
    sections = [("Ranked trials", _table(report, top)), ("Learning curves", _curves(report, top)),
                ("Parameters against the metric", f'<div class="plots">{_parallel(report, scored)}</div>'),
                ("Each parameter", f'<div class="plots">{_scatters(report, scored)}</div>'),
                ("Importance", _importance(importance)), ("Compute", _compute(report))]
    body = "".join(f"<h2>{escape(title)}</h2>{content}" for title, content in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(report.experiment)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(report.experiment)}</h1>"
            f"<p>{escape(headline(report))}</p>{body}{CHECK}</body></html>")

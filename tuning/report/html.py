"""The HTML report: one self-contained file (inline CSS, SVG and a few lines of script, no network).

Sections: the ranked table (scrolls in its own box, sortable by any column, sticky header),
with several objectives their Pareto front (a scatter of two, the front joined; parallel coordinates
of more), learning curves of the top K, parallel coordinates of the params against the metric, one scatter
plot per param, importance bars, compute accounting. Clicking a row, a line or a dot highlights
that trial everywhere. The page reads on a phone (390 px) as on a wide screen.
"""

from html import escape

from tuning.report import svg
from tuning.report.baseline import baseline_line
from tuning.report.ending import ending_line
from tuning.report.load import Report, finite
from tuning.report.text import columns, compute_line, headline
from tuning.sweep.space import Domain, parse_domain

CURVES = 10  # learning curves drawn at most: more lines are unreadable

STYLE = r"""
body{font:14px system-ui,sans-serif;margin:24px auto;padding:0 24px;color:#222;max-width:1560px}
h1{margin:0 0 4px}.desc{margin:0 0 4px;font-size:16px}.path{margin:0 0 12px;color:#666;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;
white-space:nowrap}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.wide{overflow:auto;max-height:70vh;border:1px solid #ddd}.wide thead th{position:sticky;top:0;z-index:1;
cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" \25B2"}
th[aria-sort=descending]::after{content:" \25BC"}tbody tr{cursor:pointer}tbody tr:hover{background:#f3f6ff}
tr.hl,tr.hl:hover{background:#ffe7a0}tr.err td{white-space:normal}.errored{color:#b00}
.kv th{white-space:normal;font-weight:normal}.plots{display:flex;flex-wrap:wrap;gap:16px}
svg.plot{max-width:100%;height:auto}
svg text{font-size:11px;fill:#333;paint-order:stroke;stroke:#fff;stroke-width:3px}.axis{stroke:#555}
.grid{stroke:#eee}.dot{fill:#1f77b4;fill-opacity:.75}.series{fill:none}.curve{stroke-width:1.8}
.par{stroke-opacity:.75;stroke-width:1.5}.series,.dot,.legend{cursor:pointer}
.picking .series{stroke-opacity:.1}.picking .dot{fill-opacity:.12}.picking .series.hl{stroke-opacity:1;stroke-width:4}
.dot.hl{fill:#d62728;fill-opacity:1;r:7px}.legend.hl text{font-weight:bold}
@media (max-width:600px){body{padding:0 10px;margin:12px auto}h1{font-size:22px}}
"""

# Sorting: a header click sorts by its column (again: the other way), missing values last, an error
# line stays under its trial. Picking: a click on anything with data-t highlights that trial in the
# table and every chart (its marks are moved last, so they are drawn on top); again: off.
SCRIPT = """<script>
(()=>{const table=document.getElementById('trials');if(!table)return;
const box=table.parentNode,rows=table.tBodies[0],heads=[...table.tHead.rows[0].cells];
heads.forEach((th,col)=>{const sort=()=>{const up=th.getAttribute('aria-sort')!=='ascending',num='num' in th.dataset;
heads.forEach(h=>h.removeAttribute('aria-sort'));th.setAttribute('aria-sort',up?'ascending':'descending');
const groups=[];for(const r of rows.rows)r.classList.contains('err')?groups[groups.length-1].push(r):groups.push([r]);
const key=g=>{const c=g[0].cells[col],t=c.dataset.v??c.textContent;return t==='-'||(num&&isNaN(+t))?null:num?+t:t;};
const keyed=groups.map(g=>[key(g),g]);keyed.sort(([a],[b])=>a===null?(b===null?0:1):b===null?-1:
(up?1:-1)*(num?a-b:a.localeCompare(b,undefined,{numeric:true})));for(const[,g]of keyed)rows.append(...g);};
th.addEventListener('click',sort);
th.addEventListener('keydown',e=>{if(e.key==='Enter'){e.preventDefault();sort();}});});
let picked=null;
addEventListener('click',e=>{const el=e.target.closest('[data-t]');if(!el)return;
picked=picked===el.dataset.t?null:el.dataset.t;document.body.classList.toggle('picking',picked!==null);
for(const m of document.querySelectorAll('[data-t]')){const on=m.dataset.t===picked;m.classList.toggle('hl',on);
if(on&&m.ownerSVGElement)m.parentNode.append(m);}
const row=rows.querySelector('tr.hl');
if(row&&!el.closest('table'))box.scrollTop=row.offsetTop-table.tHead.offsetHeight;});
})();
</script>"""

# Marks the page once the browser has laid it out, so a headless browser can check it: charts drawn,
# the page's width against the window's (horizontal overflow), and the milliseconds it took to open.
CHECK = """<script>
addEventListener('load',()=>{const s=[...document.querySelectorAll('svg.plot')],d=document.body.dataset;
d.plots=s.length;d.drawn=s.filter(e=>{const b=e.getBBox();
return b.width>0&&b.height>0&&e.querySelectorAll('path,polyline,circle,rect').length>0}).length;
d.pageWidth=document.documentElement.scrollWidth;d.windowWidth=document.documentElement.clientWidth;
d.openMs=Math.round(performance.now());});
</script>"""


def _domain(spec) -> Domain | None:
    try:
        return parse_domain(spec)
    except ValueError:  # an entry this report cannot chart (a newer kind): it stays in the table
        return None


def _about(report: Report) -> tuple[str, str]:
    """(name, description) of the sweep, as the report read them from its sweep.yaml (never read again here:
    the experiment's files are read once, by its checked reader); the directory's name when it has none."""
    return report.name or report.experiment.rstrip("/").rsplit("/", 1)[-1], report.description


def _cell(value) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, float):
        return f'<td class="num">{svg.num(value)}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def _is_num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(report: Report, top: int | None) -> str:
    cols = columns(report)  # every metric: the page scrolls sideways
    head = [label for label, _ in cols]
    shown = report.shown(top)
    table = [[value(t) for _, value in cols] for t in shown]
    # A column sorts as numbers when it holds numbers and nothing else but gaps; checkpoints sort by bytes.
    numeric = [
        any(_is_num(row[i]) for row in table)
        and all(_is_num(row[i]) or row[i] is None for row in table)
        or label == "ckpts"
        for i, label in enumerate(head)
    ]
    rows = []
    for t, cells in zip(shown, table):
        tds = "".join(
            f'<td class="num" data-v="{t.checkpoint_bytes}">{escape(c)}</td>' if label == "ckpts" else _cell(c)
            for label, c in zip(head, cells)
        )
        key = escape(t.trial_id)
        error = (
            f'<tr class="err" data-t="{key}"><td></td><td colspan="{len(head) - 1}" class="errored">'
            f"{escape(t.error)}</td></tr>"
            if t.error
            else ""
        )
        rows.append(f'<tr class="{escape(t.status)}" data-t="{key}">{tds}</tr>{error}')
    ths = "".join(f'<th tabindex="0"{" data-num" if n else ""}>{escape(h)}</th>' for h, n in zip(head, numeric))
    return (
        f"<div class='wide'><table id='trials'><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div><p><small>Click a header to sort, a row to highlight its trial in every chart.</small></p>"
    )


def _curves(report: Report, top: int | None) -> str:
    ids = [t.trial_id for t in report.shown(top) if t.metric is not None][:CURVES]
    series = [
        (
            f"#{r.rank} {r.trial_id}",
            [
                (row["training_iteration"], row[report.metric])
                for row in report.results
                if row["trial_id"] == r.trial_id and finite(row.get(report.metric)) and row.get("training_iteration")
            ],
            r.trial_id,
        )
        for r in report.trials
        if r.trial_id in ids
    ]
    series = [s for s in series if s[1]]
    if not series:
        return "<p>No finite results yet.</p>"
    return svg.line_chart(series, f"{report.metric} per epoch, top {len(series)}", "epoch", report.metric)


def _param_axis(key: str, domain: Domain, scored, a: float, b: float):
    """(scale, ticks or None for the scale's own, value -> position) of one param on pixels [a, b].

    A numeric axis spans the searched range (and any value outside it), on a log scale for the
    log-uniform kinds, with whole-number ticks for integer ones.
    """
    if domain.kind in ("choice", "grid"):
        cats = [str(v) for v in domain.args]
        return (
            svg.Scale([-0.5, len(cats) - 0.5], a, b),
            list(enumerate(cats)),
            lambda v: cats.index(str(v)) if str(v) in cats else 0,
        )
    low, high, *q = domain.args
    high = high - 1 if domain.kind == "randint" else high  # randint excludes its high bound
    integer = domain.kind == "randint" or bool(q) and float(q[0]).is_integer() and float(low).is_integer()
    values = [t.config[key] for t in scored if finite(t.config.get(key))] + [low, high]
    return svg.Scale(values, a, b, log="log" in domain.kind, integer=integer), None, float


def _charted(report: Report) -> dict[str, Domain]:
    return {key: d for key, d in ((k, _domain(s)) for k, s in report.space.items()) if d is not None}


def _parallel(report: Report, scored) -> str:
    charted = _charted(report)
    if not charted or len(scored) < 2:
        return ""
    axes, mappers = [], []
    for key, domain in charted.items():
        scale, ticks, to_pos = _param_axis(key, domain, scored, svg.H - svg.PAD, 14)
        axes.append((key.split(".")[-1], scale, ticks))
        mappers.append(to_pos)
    axes.append((report.metric, svg.Scale([t.metric for t in scored], svg.H - svg.PAD, 14, nice=True), None))
    # a key a trial's branch did not sample is absent: its line has a gap there (None), not a position
    lines = [
        (
            [m(t.config[k]) if k in t.config else None for m, k in zip(mappers, charted)] + [t.metric],
            svg.color(i / max(1, len(scored) - 1)),
            t.trial_id,
        )
        for i, t in enumerate(scored)
    ]
    return svg.parallel(axes, lines[::-1], f"params against {report.metric} (dark: best)")


def _scatters(report: Report, scored) -> str:
    plots = []
    for key, domain in _charted(report).items():
        xs, ticks, to_pos = _param_axis(key, domain, scored, svg.PAD + 8, svg.W - 18)
        points = [
            (to_pos(t.config[key]), t.metric, f"#{t.rank} {t.trial_id}: {t.config[key]}", t.trial_id)
            for t in scored
            if key in t.config
        ]
        plots.append(
            svg.scatter(
                points,
                f"{key} against {report.metric}",
                key,
                report.metric,
                xs,
                categories=[c for _, c in ticks] if ticks else None,
            )
        )
    return "".join(plots)


def _pareto(report: Report) -> str:
    """Several objectives: the Pareto front, a scatter of two (the front joined) or parallel coordinates of more."""
    ranked = [t for t in report.trials if t.pareto_rank is not None]
    if not ranked:
        return "<p>No trial has a finite value for every objective yet.</p>"
    names = [f"{m} ({mode})" for m, mode in report.objectives]
    if len(names) == 2:
        points = [
            (
                t.values[0],
                t.values[1],
                f"#{t.rank} {t.trial_id}: Pareto rank {t.pareto_rank}",
                t.trial_id,
                t.pareto_rank == 1,
            )
            for t in ranked
        ]
        return svg.front_scatter(points, f"Pareto front (red, joined) of {len(ranked)} trials", names[0], names[1])
    worst = max(t.pareto_rank for t in ranked)
    axes = [
        (name, svg.Scale([t.values[i] for t in ranked], svg.H - svg.PAD, 14, nice=True), None)
        for i, name in enumerate(names)
    ]
    lines = [(t.values, svg.color((t.pareto_rank - 1) / max(1, worst - 1)), t.trial_id) for t in ranked]
    return svg.parallel(axes, lines[::-1], "objectives of each trial (dark: the Pareto front)")


def _importance(imp: dict | None) -> str:
    groups = {k: imp[k] for k in ("fanova", "ped_anova") if imp and imp.get(k)}
    note = f"<p>{escape(imp['note'])}</p>" if imp and imp.get("note") else ""
    if not groups:
        return note or "<p>Not computed.</p>"
    return svg.bars(groups, "hyperparameter importance") + note


def _compute(report: Report) -> str:
    c = report.compute()
    rows = [
        ("trials", c["trials"]),
        ("trial-seconds", c["trial_s"]),
        ("GPU-seconds", c["gpu_s"]),
        ("saved by early stopping (estimated trial-seconds)", c["saved_s"]),
        ("wall seconds", c["wall_s"]),
        ("seconds to the best result", c["time_to_best_s"]),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{'-' if v is None else v}</td></tr>" for k, v in rows)
    ended = f"<p class='ended'>{escape(ending_line(report.ended))}</p>" if report.ended else ""
    return f"<table class='kv'>{body}</table><p>{escape(compute_line(c))}</p>{ended}"


def html(report: Report, top: int | None = None, importance: dict | None = None) -> str:
    """The whole report as one HTML page."""
    always = set(report.space) - set(report.conditional)  # a conditional choice's branch keys: only some trials
    scored = [t for t in report.trials if finite(t.metric) and always <= set(t.config)]
    sections = [
        ("Ranked trials", _table(report, top)),
        *([("Pareto front", f'<div class="plots">{_pareto(report)}</div>')] if report.objectives else []),
        ("Learning curves", _curves(report, top)),
        ("Parameters against the metric", f'<div class="plots">{_parallel(report, scored)}</div>'),
        ("Each parameter", f'<div class="plots">{_scatters(report, scored)}</div>'),
        ("Importance", _importance(importance)),
        ("Compute", _compute(report)),
    ]
    body = "".join(f"<h2>{escape(title)}</h2>{content}" for title, content in sections)
    name, description = _about(report)
    title = f"{name}: {description}" if description else name
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(name)}</h1>"
        + (f'<p class="desc">{escape(description)}</p>' if description else "")
        + f'<p class="path"><small>{escape(report.experiment)}</small></p>'
        f"<p>{escape(headline(report))}</p>"
        + (f'<p class="baseline">{escape(baseline_line(report))}</p>' if report.baseline is not None else "")
        + f"{body}{SCRIPT}{CHECK}</body></html>"
    )

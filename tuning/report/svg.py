"""Small hand-written SVG charts for the HTML report: no chart library in the page, nothing fetched.

Each function returns an `<svg>` element as text, to be inlined in an HTML page. Tick values are
the round numbers plotting libraries pick: matplotlib's locators compute them (imported on first
use, so only the HTML report pays for it; nothing is drawn with matplotlib). Marks that belong to a
trial carry `data-t="<trial id>"`, which the page's script uses to highlight a trial in every chart.
"""

import math
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
W, H, PAD = 560, 300, 48  # chart size and the margin that holds the axes' labels
STEPS = (1, 2, 2.5, 5, 10)  # mantissas of a tick step: 0.25 and 50 are round, 0.3 and 7 are not


def num(value: float) -> str:
    """A short number for a table cell or a hover label."""
    return f"{value:.3g}"


def tick_label(value: float) -> str:
    """A tick value as written on an axis: `0.25`, `40`, `1e-4` (tiny and huge ones in short e-form)."""
    if value and not 1e-3 <= abs(value) < 1e6:
        mantissa, _, exponent = f"{value:.6e}".partition("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.6g}"


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round values covering [lo, hi] in at most `n` steps (the first <= lo, the last >= hi)."""
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(nbins=n, steps=list(STEPS), integer=integer, min_n_ticks=1).tick_values(lo, hi)
    return [float(f"{t:.12g}") for t in ticks]  # 0.3, not 0.30000000000000004


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks inside [lo, hi] (both > 0) for a log axis: decades, else 1-2-5 in each decade, else round numbers."""
    from matplotlib.ticker import LogLocator

    for subs in ((1.0,), (1.0, 2.0, 5.0)):
        ticks = _inside(LogLocator(base=10, subs=subs, numticks=7).tick_values(lo, hi), lo, hi)
        if len(ticks) >= 2:
            return ticks
    return _inside(nice_ticks(lo, hi), lo, hi)  # a stretch shorter than a decade is nearly linear


def _inside(ticks, lo: float, hi: float) -> list[float]:
    slack = (hi - lo) * 1e-9
    return [float(f"{t:.12g}") for t in ticks if lo - slack <= t <= hi + slack]


class Scale:
    """Maps data values in [lo, hi] (linear or log) onto pixels [a, b], with round ticks.

    `nice` widens a linear range to the round ticks around it (a metric axis from 0 to 2.5 rather
    than from 0.031 to 2.21); `integer` ticks whole numbers only (epochs, integer parameters).
    """

    def __init__(self, values, a: float, b: float, log: bool = False, integer: bool = False, nice: bool = False):
        values = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)] or [0.0, 1.0]
        self.log, self.integer, self.a, self.b = log, integer, a, b
        lo, hi = min(values), max(values)
        if lo == hi:
            lo, hi = (lo / 10**0.5, hi * 10**0.5) if log else (lo - 0.5, hi + 0.5)
        if nice and not log:
            ticks = nice_ticks(lo, hi, integer=integer)
            lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
        self.vmin, self.vmax = lo, hi
        tf = math.log10 if log else float
        self.lo, self.hi = tf(lo), tf(hi)

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return round(self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a), 1)

    def ticks(self) -> list[float]:
        """Round values inside the range (in data units): decades on a log scale."""
        if self.log:
            return log_ticks(self.vmin, self.vmax)
        n = 8 if self.integer else 5  # epochs 1..8 read best one by one
        return _inside(nice_ticks(self.vmin, self.vmax, n, self.integer), self.vmin, self.vmax)


def color(fraction: float) -> str:
    """Dark blue (0, the best) to light yellow (1): a perceptually ordered ramp."""
    stops = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
    f = min(max(fraction, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(f), len(stops) - 2)
    mix = [round(lo + (hi - lo) * (f - i)) for lo, hi in zip(stops[i], stops[i + 1])]
    return "#%02x%02x%02x" % tuple(mix)


def _frame(body: list[str], title: str, x_label: str, y_label: str, width: int = W, height: int = H) -> str:
    head = (
        f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{escape(title)}</title>"
    )
    labels = [
        f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">'
        f"{escape(y_label)}</text>",
    ]
    return "".join([head, *body, *labels, "</svg>"])


def _axes(xs: Scale, ys: Scale, x_ticks: list[tuple[float, str]] | None = None) -> list[str]:
    out = [
        f'<line class="axis" x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}"/>',
        f'<line class="axis" x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}"/>',
    ]
    for value in ys.ticks():
        y = ys(value)
        out.append(f'<text class="tick" x="{PAD - 4}" y="{y + 4}" text-anchor="end">{tick_label(value)}</text>')
        out.append(f'<line class="grid" x1="{PAD}" y1="{y}" x2="{W - 10}" y2="{y}"/>')
    for value, label in x_ticks or [(v, tick_label(v)) for v in xs.ticks()]:
        out.append(f'<text class="tick" x="{xs(value)}" y="{H - PAD + 16}" text-anchor="middle">{escape(label)}</text>')
    return out


def _key(trial: str | None) -> str:
    return f' data-t="{escape(trial)}"' if trial is not None else ""


def line_chart(
    series: list[tuple[str, list[tuple[float, float]], str | None]], title: str, x_label: str, y_label: str
) -> str:
    """One line per (name, [(epoch, y), ...], trial id); whole-epoch ticks; a legend in the top right corner."""
    points = [p for _, pts, _t in series for p in pts if math.isfinite(p[1])]
    xs = Scale([p[0] for p in points], PAD, W - 150, integer=True)
    ys = Scale([p[1] for p in points], H - PAD, 14, nice=True)
    body = _axes(xs, ys)
    for i, (name, pts, trial) in enumerate(series):
        c, key = PALETTE[i % len(PALETTE)], _key(trial)
        finite = [(x, y) for x, y in pts if math.isfinite(y)]
        if finite:
            path = " ".join(f"{'M' if j == 0 else 'L'}{xs(x)},{ys(y)}" for j, (x, y) in enumerate(finite))
            body.append(f'<path class="series curve" d="{path}" stroke="{c}"{key}/>')
        body.append(
            f'<g class="legend"{key}><rect x="{W - 140}" y="{14 + 14 * i}" width="10" height="10" '
            f'fill="{c}"/><text x="{W - 126}" y="{23 + 14 * i}">{escape(name)}</text></g>'
        )
    return _frame(body, title, x_label, y_label)


def scatter(
    points: list[tuple[float, float, str, str | None]],
    title: str,
    x_label: str,
    y_label: str,
    xs: Scale,
    categories: list[str] | None = None,
) -> str:
    """Dots at (x, y) with a hover label and a trial id, on the x scale `xs` (categorical: indices into
    `categories`, a scale made with the pixel range PAD + 8 .. W - 18)."""
    ys = Scale([p[1] for p in points], H - PAD, 14, nice=True)
    ticks = [(i, c) for i, c in enumerate(categories)] if categories else None
    body = _axes(xs, ys, ticks)
    for x, y, label, trial in points:
        body.append(
            f'<circle class="dot" cx="{xs(x)}" cy="{ys(y)}" r="4"{_key(trial)}><title>{escape(label)}</title></circle>'
        )
    return _frame(body, title, x_label, y_label)


def front_scatter(
    points: list[tuple[float, float, str, str | None, bool]], title: str, x_label: str, y_label: str
) -> str:
    """Two objectives: a dot per (x, y, hover label, trial id, on the front); the front's dots (Pareto rank 1)
    are red and joined by a line in the order of x."""
    xs = Scale([p[0] for p in points], PAD + 8, W - 18, nice=True)
    ys = Scale([p[1] for p in points], H - PAD, 14, nice=True)
    body = _axes(xs, ys)
    front = sorted((x, y) for x, y, _l, _t, on in points if on)
    if len(front) > 1:
        path = " ".join(f"{'M' if j == 0 else 'L'}{xs(x)},{ys(y)}" for j, (x, y) in enumerate(front))
        body.append(f'<path class="front" d="{path}" fill="none" stroke="#d62728" stroke-width="1.5"/>')
    for x, y, label, trial, on in sorted(points, key=lambda p: p[4]):  # the front's dots on top
        style = ' style="fill:#d62728"' if on else ""
        body.append(
            f'<circle class="dot" cx="{xs(x)}" cy="{ys(y)}" r="{5 if on else 4}"{style}{_key(trial)}>'
            f"<title>{escape(label)}</title></circle>"
        )
    return _frame(body, title, x_label, y_label)


def bars(groups: dict[str, dict[str, float]], title: str) -> str:
    """Horizontal bars, one block per group (evaluator), one bar per key (parameter)."""
    keys = list(dict.fromkeys(k for g in groups.values() for k in g))
    height = 30 + len(keys) * len(groups) * 16 + len(groups) * 10
    body, y = [], 20
    for gi, (group, values) in enumerate(groups.items()):
        for key in keys:
            share = values.get(key) or 0.0
            body.append(
                f'<text class="tick" x="170" y="{y + 10}" text-anchor="end">{escape(key)}</text>'
                f'<rect class="bar" x="176" y="{y}" width="{max(1.0, share * 300):.1f}" height="12" '
                f'fill="{PALETTE[gi]}"/><text class="tick" x="{182 + share * 300:.1f}" y="{y + 10}">'
                f"{share:.2f} {escape(group)}</text>"
            )
            y += 16
        y += 10
    return _frame(body, title, "importance (each evaluator sums to 1)", "", width=W, height=height)


def parallel(
    axes: list[tuple[str, Scale, list[tuple[float, str]] | None]],
    lines: list[tuple[list[float], str, str | None]],
    title: str,
) -> str:
    """Parallel coordinates: a vertical axis per (name, scale, ticks); each line is (values, colour, trial id).

    A value None (a parameter the trial did not sample) leaves a gap in its line at that axis."""
    step = (W - 2 * PAD) / max(1, len(axes) - 1)
    body = []
    for values, c, trial in lines:
        pts = [
            f"{PAD + i * step:.1f},{scale(v)}" if v is not None else None
            for i, ((_, scale, _t), v) in enumerate(zip(axes, values))
        ]
        if None not in pts:
            body.append(f'<polyline class="series par" points="{" ".join(pts)}" stroke="{c}"{_key(trial)}/>')
            continue
        # a value alone between gaps is a short tick across its axis, so it still shows
        runs = " ".join(
            "M" + " L".join(run)
            if len(run) > 1
            else f"M{float(run[0].split(',')[0]) - 4:.1f},{run[0].split(',')[1]} h8"
            for run in _runs(pts)
        )
        body.append(f'<path class="series par" d="{runs}" fill="none" stroke="{c}"{_key(trial)}/>')
    for i, (name, scale, ticks) in enumerate(axes):
        x = PAD + i * step
        body.append(
            f'<line class="axis" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{H - PAD}"/>'
            f'<text x="{x:.1f}" y="{H - PAD + 18}" text-anchor="middle">{escape(name)}</text>'
        )
        for value, label in ticks or [(v, tick_label(v)) for v in scale.ticks()]:
            body.append(f'<text class="tick" x="{x + 3:.1f}" y="{scale(value) + 4}">{escape(label)}</text>')
    return _frame(body, title, "", "")


def _runs(points: list) -> list[list]:
    """The stretches of consecutive points between gaps (None)."""
    runs = [[]]
    for p in points:
        if p is None:
            runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if r]

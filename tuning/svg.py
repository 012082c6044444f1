"""Small hand-written SVG charts for the HTML report: no library, no script, nothing fetched.

Each function returns an `<svg>` element as text, to be inlined in an HTML page.
"""

import math
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
W, H, PAD = 560, 300, 48  # chart size and the margin that holds the axes' labels


def num(value: float) -> str:
    """A short tick label."""
    return f"{value:.3g}"


class Scale:
    """Maps data values in [lo, hi] (linear or log) onto pixels [a, b]."""

    def __init__(self, values, a: float, b: float, log: bool = False):
        values = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)] or [0.0, 1.0]
        self.log = log
        tf = math.log10 if log else float
        self.lo, self.hi = tf(min(values)), tf(max(values))
        if self.lo == self.hi:
            self.lo, self.hi = self.lo - 0.5, self.hi + 0.5
        self.a, self.b = a, b

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return round(self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a), 1)

    def ticks(self, n: int = 5) -> list[float]:
        """n values spread over the range (in data units)."""
        steps = [self.lo + i * (self.hi - self.lo) / (n - 1) for i in range(n)]
        return [10 ** s for s in steps] if self.log else steps


def color(fraction: float) -> str:
    """Dark blue (0, the best) to light yellow (1): a perceptually ordered ramp."""
    stops = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
    f = min(max(fraction, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(f), len(stops) - 2)
    mix = [round(lo + (hi - lo) * (f - i)) for lo, hi in zip(stops[i], stops[i + 1])]
    return "#%02x%02x%02x" % tuple(mix)


def _frame(body: list[str], title: str, x_label: str, y_label: str, width: int = W, height: int = H) -> str:
    head = (f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
            f'<title>{escape(title)}</title>')
    labels = [f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>',
              f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">'
              f'{escape(y_label)}</text>']
    return "".join([head, *body, *labels, "</svg>"])


def _axes(xs: Scale, ys: Scale, x_ticks: list[tuple[float, str]] | None = None) -> list[str]:
    out = [f'<line class="axis" x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}"/>',
           f'<line class="axis" x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}"/>']
    for value in ys.ticks():
        y = ys(value)
        out.append(f'<text class="tick" x="{PAD - 4}" y="{y + 4}" text-anchor="end">{num(value)}</text>')
        out.append(f'<line class="grid" x1="{PAD}" y1="{y}" x2="{W - 10}" y2="{y}"/>')
    for value, label in x_ticks or [(v, num(v)) for v in xs.ticks()]:
        out.append(f'<text class="tick" x="{xs(value)}" y="{H - PAD + 16}" text-anchor="middle">{escape(label)}</text>')
    return out


def line_chart(series: list[tuple[str, list[tuple[float, float]]]], title: str, x_label: str, y_label: str) -> str:
    """One line per (name, [(x, y), ...]); a legend in the top right corner."""
    points = [p for _, pts in series for p in pts if math.isfinite(p[1])]
    xs = Scale([p[0] for p in points], PAD, W - 150)
    ys = Scale([p[1] for p in points], H - PAD, 14)
    last = int(max(p[0] for p in points)) if points else 1
    epochs = sorted({round(1 + i * (last - 1) / 4) for i in range(5)})  # whole epochs only
    body = _axes(xs, ys, [(e, str(e)) for e in epochs])
    for i, (name, pts) in enumerate(series):
        c = PALETTE[i % len(PALETTE)]
        finite = [(x, y) for x, y in pts if math.isfinite(y)]
        if finite:
            path = " ".join(f"{'M' if j == 0 else 'L'}{xs(x)},{ys(y)}" for j, (x, y) in enumerate(finite))
            body.append(f'<path class="series" d="{path}" stroke="{c}" fill="none" stroke-width="1.8"/>')
        body.append(f'<rect x="{W - 140}" y="{14 + 14 * i}" width="10" height="10" fill="{c}"/>'
                    f'<text x="{W - 126}" y="{23 + 14 * i}">{escape(name)}</text>')
    return _frame(body, title, x_label, y_label)


def scatter(points: list[tuple[float, float, str]], title: str, x_label: str, y_label: str, log_x: bool = False,
            categories: list[str] | None = None) -> str:
    """Dots at (x, y) with a hover label; x is categorical (indices into `categories`) when given."""
    ys = Scale([p[1] for p in points], H - PAD, 14)
    xs = Scale([p[0] for p in points] if not categories else [-0.5, len(categories) - 0.5], PAD + 8, W - 18, log_x)
    ticks = [(i, c) for i, c in enumerate(categories)] if categories else None
    body = _axes(xs, ys, ticks)
    for x, y, label in points:
        body.append(f'<circle class="dot" cx="{xs(x)}" cy="{ys(y)}" r="4"><title>{escape(label)}</title></circle>')
    return _frame(body, title, x_label, y_label)


def bars(groups: dict[str, dict[str, float]], title: str) -> str:
    """Horizontal bars, one block per group (evaluator), one bar per key (parameter)."""
    keys = list(dict.fromkeys(k for g in groups.values() for k in g))
    height = 30 + len(keys) * len(groups) * 16 + len(groups) * 10
    body, y = [], 20
    for gi, (group, values) in enumerate(groups.items()):
        for key in keys:
            share = values.get(key) or 0.0
            body.append(f'<text class="tick" x="170" y="{y + 10}" text-anchor="end">{escape(key)}</text>'
                        f'<rect class="bar" x="176" y="{y}" width="{max(1.0, share * 300):.1f}" height="12" '
                        f'fill="{PALETTE[gi]}"/><text class="tick" x="{182 + share * 300:.1f}" y="{y + 10}">'
                        f'{share:.2f} {escape(group)}</text>')
            y += 16
        y += 10
    return _frame(body, title, "importance (each evaluator sums to 1)", "", width=W, height=height)


def parallel(axes: list[tuple[str, Scale, list[tuple[float, str]] | None]], lines: list[tuple[list[float], str]],
             title: str) -> str:
    """Parallel coordinates: a vertical axis per (name, scale, ticks); each line is (values, colour)."""
    step = (W - 2 * PAD) / max(1, len(axes) - 1)
    body = []
    for values, c in lines:
        pts = [f"{PAD + i * step:.1f},{scale(v)}" for i, ((_, scale, _t), v) in enumerate(zip(axes, values))]
        body.append(f'<polyline class="series" points="{" ".join(pts)}" stroke="{c}" fill="none" '
                    f'stroke-opacity="0.75" stroke-width="1.5"/>')
    for i, (name, scale, ticks) in enumerate(axes):
        x = PAD + i * step
        body.append(f'<line class="axis" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{H - PAD}"/>'
                    f'<text x="{x:.1f}" y="{H - PAD + 18}" text-anchor="middle">{escape(name)}</text>')
        for value, label in ticks or [(v, num(v)) for v in scale.ticks()]:
            body.append(f'<text class="tick" x="{x + 3:.1f}" y="{scale(value) + 4}">{escape(label)}</text>')
    return _frame(body, title, "", "")

"""The HTML report page: title, round ticks, table markup, trial marks, no network; then in headless Chromium.

Experiments are written file by file in Tune's layout (the 1000-trial report benchmark's writer), no Ray.
The browser tests open the page inside an iframe of the width under test: headless Chromium will not
make its window narrower than 500 px, an iframe can be 390 px wide (a phone).
"""

import importlib.util
import json
import math
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from tests.imports import fresh_imports
from tests.tuning.report.test_report import make_experiment
from tuning.report import svg
from tuning.report.formats import render, run_report
from tuning.report.load import load_report

BENCH = Path(__file__).parents[2] / "benchmarks" / "report_1000.py"
DESCRIPTION = "MLP on digits <b>TPE</b> & ASHA"
MAX_BYTES = 3_000_000  # "a few MB" for 1000 trials


def _bench():
    spec = importlib.util.spec_from_file_location("report_1000", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """n trials -> the HTML report of a synthetic experiment (4 params, lr log-uniform), as the CLI writes it."""
    bench, out = _bench(), {}
    for n in (16, 1000):
        root = tmp_path_factory.mktemp(f"html{n}")
        exp = bench.make_experiment(root, n)
        sweep = yaml.safe_load((exp / "sweep.yaml").read_text())
        (exp / "sweep.yaml").write_text(yaml.safe_dump({**sweep, "name": "digits-mlp", "description": DESCRIPTION}))
        page = root / "report.html"
        run_report(str(exp), "html", output=str(page))
        out[n] = page
    return out


class _Page(HTMLParser):
    """Every element as (tag, attrs, text directly inside it), in document order."""

    def __init__(self, text: str):
        super().__init__()
        self.elements, self._open = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = (tag, dict(attrs), [])
        self.elements.append(element)
        if tag != "meta":  # the one void element of the page; SVG's empty ones come self-closed
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), []))

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)


def _svgs(text: str) -> dict[str, str]:
    """Chart title -> its <svg> text."""
    return {re.search(r"<title>(.*?)</title>", s).group(1): s for s in re.findall(r"<svg.*?</svg>", text)}


def _ticks(chart: str, x: float | None = None, y: float | None = None) -> list[str]:
    """Tick labels of a chart, those at `x` or at height `y` only when given."""
    found = re.findall(r'<text class="tick" x="([^"]+)" y="([^"]+)"[^>]*>([^<]*)</text>', chart)
    return [label for at_x, at_y, label in found if (x is None or float(at_x) == x) and (y is None or float(at_y) == y)]


def test_the_title_is_the_sweep_name_and_description_with_the_path_in_small(pages):
    text = pages[16].read_text()
    escaped = "MLP on digits &lt;b&gt;TPE&lt;/b&gt; &amp; ASHA"
    assert f"<title>digits-mlp: {escaped}</title>" in text
    assert f'<h1>digits-mlp</h1><p class="desc">{escaped}</p>' in text
    path = (pages[16].parent / "bench").resolve()
    assert f'<p class="path"><small>{path}</small></p>' in text
    assert "<b>" not in text  # the description's markup is shown, never applied


def test_a_sweep_without_a_name_is_titled_by_its_directory(tmp_path):
    exp = make_experiment(tmp_path / "my-exp", {"a": ("TERMINATED", [0.5], {})})
    text = render(load_report(str(exp)), "html")
    assert "<title>my-exp</title>" in text and "<h1>my-exp</h1>" in text and 'class="desc"' not in text


def test_ticks_are_round_numbers_decades_on_log_axes_and_whole_epochs():
    assert svg.Scale([0.031, 2.21], 0, 1, nice=True).ticks() == [0, 0.5, 1, 1.5, 2, 2.5]
    assert svg.Scale([0.0, 0.5], 0, 1).ticks() == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert svg.Scale([1e-4, 3e-2], 0, 1, log=True).ticks() == [1e-4, 1e-3, 1e-2]
    assert svg.Scale([2e-3, 8e-3], 0, 1, log=True).ticks() == [2e-3, 5e-3]  # within one decade: 1-2-5
    assert svg.Scale([1, 8], 0, 1, integer=True).ticks() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert svg.Scale([1, 100], 0, 1, integer=True).ticks() == [20, 40, 60, 80, 100]
    assert svg.Scale([3, 3], 0, 1, integer=True).ticks() == [3]
    assert [svg.tick_label(v) for v in (1e-4, 2.5e-5, 0.001, 0.1 + 0.2, 40.0, 2e6)] == [
        "1e-4",
        "2.5e-5",
        "0.001",
        "0.3",
        "40",
        "2e6",
    ]


def test_the_page_charts_round_ticks(pages):
    charts = _svgs(pages[16].read_text())
    x_axis, y_axis = svg.H - svg.PAD + 16, svg.PAD - 4
    lr = charts["model.init_args.lr against val_loss"]
    assert _ticks(lr, y=x_axis) == ["1e-4", "0.001", "0.01"]  # loguniform [1e-4, 3e-2]: its decades
    assert _ticks(charts["model.init_args.dropout against val_loss"], y=x_axis) == [
        "0",
        "0.1",
        "0.2",
        "0.3",
        "0.4",
        "0.5",
    ]
    assert _ticks(charts["val_loss per epoch, top 10"], y=x_axis) == [str(e) for e in range(1, 9)]  # EPOCHS = 8
    metric = [float(v) for v in _ticks(lr, x=y_axis)]
    steps = {round(b - a, 9) for a, b in zip(metric, metric[1:])}
    assert metric[0] == 0 and len(steps) == 1 and steps <= {0.5, 1, 2, 2.5, 5}, metric


def test_the_ranked_table_is_sortable_and_every_mark_names_its_trial(tmp_path):
    exp = make_experiment(
        tmp_path / "e",
        {
            'x"<y>': ("TERMINATED", [0.5, 0.4, 0.3], {}),
            "b": ("TERMINATED", [0.6], {}, {"model.init_args.lr": 0.5}),
            "c": ("ERROR", [math.nan], {"error.txt": "Traceback\nValueError: <lr> | bad\n"}),
        },
    )
    text = render(load_report(str(exp)), "html")
    page = _Page(text)
    heads = [
        (e[2][0], "data-num" in e[1], e[1].get("tabindex"))
        for e in page.elements
        if e[0] == "th" and "tabindex" in e[1]
    ]
    assert [h for h, num, _ in heads if num] == [
        "rank",
        "val_loss",
        "epoch",
        "val_acc",
        "epochs",
        "lr",
        "time_s",
        "ckpts",
    ]
    assert {tab for *_, tab in heads} == {"0"} and heads[1][:2] == ("trial", False)
    rows = [e[1] for e in page.elements if e[0] == "tr" and "data-t" in e[1]]
    assert [(r["data-t"], r["class"]) for r in rows] == [
        ('x"<y>', "completed"),
        ("b", "stopped_early"),
        ("c", "errored"),
        ("c", "err"),
    ]  # the error line follows
    assert 'data-t="x&quot;&lt;y&gt;"' in text and 'x"<y>' not in text
    assert "ValueError: &lt;lr&gt; | bad" in text
    marks = [
        (e[0], e[1]["data-t"])
        for e in page.elements
        if e[0] in ("path", "polyline", "circle", "g") and "data-t" in e[1]
    ]
    assert sorted(marks) == sorted(
        [
            ("path", 'x"<y>'),
            ("path", "b"),
            ("g", 'x"<y>'),
            ("g", "b"),  # curve, legend
            ("polyline", 'x"<y>'),
            ("polyline", "b"),
            ("circle", 'x"<y>'),
            ("circle", "b"),
        ]
    )


def test_the_page_is_self_contained(pages):
    for n, page in pages.items():
        text = page.read_text()
        assert not re.search(r"[a-z][a-z0-9+.-]*://", text, re.I), n  # no URL of any scheme
        assert not re.search(r"<(link|img|iframe|object|embed|base)\b|\bsrc=|\bhref=|url\(|@import", text), n
        assert text.count("<script>") == 2 and "<style>" in text


def test_the_json_report_imports_no_matplotlib_and_the_html_one_does(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5], {}), "b": ("TERMINATED", [0.4], {})})
    report = "import sys; from tuning.cli.commands import main; main(['report', sys.argv[1], '--format', 'json'])"
    out, _, imported = fresh_imports(report, ("matplotlib",), str(exp))
    assert json.loads(out)["trials"][0]["trial_id"] == "b" and imported == []
    page = (
        "import sys; from tuning.report.formats import render; from tuning.report.load import load_report; "
        "render(load_report(sys.argv[1]), 'html')"
    )
    assert fresh_imports(page, ("matplotlib",), str(exp))[2] == ["matplotlib"]  # the probe sees it when it is there


CHROMIUM = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
]  # the test harness reads the report's DOM in its iframe
needs_chromium = pytest.mark.needs("chromium", reason="Debian's chromium renders the page (.ci/run installs it)")

# Opens the report in an iframe WIDTH px wide, then copies what the report measured about itself
# (charts drawn, its width against the frame's, milliseconds to open) onto this page's body.
VIEW = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="PAGE" style="width:WIDTHpx;height:2400px;border:0;display:block"></iframe>
<script>addEventListener('load',()=>{const doc=document.getElementById('f').contentDocument,d=document.body.dataset;
Object.assign(d,doc.body.dataset);const box=doc.querySelector('.wide');d.boxScrolls=box.scrollWidth>box.clientWidth;
ACT});</script></body></html>"""

# Clicks as a user would: a row (then its dot again), a header twice; records what each click changed.
ACT = """const rows=()=>[...doc.querySelectorAll('#trials tbody tr')];
const row=rows()[1],id=row.dataset.t;row.click();d.picked=id;
const top=m=>[...m.parentNode.children].filter(c=>c.tagName===m.tagName).at(-1)===m;
d.lit=[...doc.querySelectorAll('svg .hl')].map(m=>m.tagName+(top(m)?'-on-top':'')).join(' ');
d.rowLit=row.classList.contains('hl');d.fading=doc.body.classList.contains('picking');
row.click();d.afterSecondClick=doc.querySelectorAll('.hl').length;
const dots=[...doc.querySelectorAll('circle[data-t]')],has=r=>dots.some(c=>c.dataset.t===r.dataset.t);
const last=rows().filter(has).at(-1).dataset.t;
dots.find(c=>c.dataset.t===last).dispatchEvent(new MouseEvent('click',{bubbles:true}));
d.dotLitRow=rows().find(r=>r.classList.contains('hl')).dataset.t===last;d.boxScrolled=box.scrollTop>0;
const head=doc.querySelector('#trials th').getBoundingClientRect().top-box.getBoundingClientRect().top;
d.headerStuck=box.scrollTop>0&&Math.abs(head)<2;
const th=[...doc.querySelectorAll('#trials th')].find(h=>h.textContent==='val_loss');th.click();
d.ascending=rows()[0].cells[0].textContent;th.click();d.descending=rows()[0].cells[0].textContent;
d.sortMark=th.getAttribute('aria-sort');"""


def _open(page: Path, width: int, tmp: Path, act: bool = False) -> tuple[dict, float]:
    """(what the page recorded on its body, wall seconds of the browser run) for `page` at `width` px."""
    harness = page.with_name(f"view-{width}{'-act' if act else ''}.html")
    harness.write_text(VIEW.replace("PAGE", page.name).replace("WIDTH", str(width)).replace("ACT", ACT if act else ""))
    start = time.perf_counter()
    dom = subprocess.run(
        [
            *CHROMIUM,
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={max(width, 500)},2400",
            "--dump-dom",
            harness.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    wall = time.perf_counter() - start
    body = re.search(r"<body[^>]*>", dom).group(0)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body)), wall


def _screenshot(page: Path, width: int, tmp: Path) -> Path:
    harness = page.with_name(f"view-{width}.html")
    harness.write_text(VIEW.replace("PAGE", page.name).replace("WIDTH", str(width)).replace("ACT", ""))
    shot = tmp / f"{page.parent.name}-{width}.png"
    subprocess.run(
        [
            *CHROMIUM,
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={width},2400",
            f"--screenshot={shot}",
            harness.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return shot


@pytest.mark.integration
@needs_chromium
@pytest.mark.parametrize("width", [390, 1600])
@pytest.mark.parametrize("n", [16, 1000])
def test_the_page_fits_the_width_and_renders_in_a_real_browser(pages, n, width, tmp_path, capsys):
    from PIL import Image

    page = pages[n]
    seen, wall = _open(page, width, tmp_path)
    # curves, parallel coordinates, one scatter per param (4), importance: each laid out with marks in it
    assert seen["plots"] == seen["drawn"] == "7"
    assert int(seen["window-width"]) == width and int(seen["page-width"]) <= width  # no horizontal page scroll
    assert seen["box-scrolls"] == ("true" if width == 390 else seen["box-scrolls"])  # the table scrolls in its box
    size = page.stat().st_size
    assert n < 1000 or size < MAX_BYTES
    image = Image.open(_screenshot(page, width, tmp_path)).convert("RGB")
    assert image.size == (width, 2400)
    pixels = list(image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata())
    ink = sum(1 for p in pixels if min(p) < 200) / len(pixels)
    colour = sum(1 for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 60)  # chart lines and dots, not text
    assert ink > 0.02 and colour > 2000, (ink, colour)
    with capsys.disabled():  # the figures a reader wants; wall time is measured, never asserted
        print(
            "\n"
            + json.dumps(
                {
                    "trials": n,
                    "width": width,
                    "page_bytes": size,
                    "open_ms": int(seen["open-ms"]),
                    "browser_run_s": round(wall, 2),
                }
            )
        )


@pytest.mark.integration
@needs_chromium
def test_clicks_highlight_a_trial_everywhere_and_sort_the_table(pages, tmp_path):
    seen, _ = _open(pages[1000], 1600, tmp_path, act=True)
    # the row's trial: its curve, legend, parallel line and one dot per scatter, each drawn on top
    assert sorted(seen["lit"].split()) == sorted(["path-on-top", "g-on-top", "polyline-on-top"] + ["circle-on-top"] * 4)
    assert seen["row-lit"] == "true" and seen["fading"] == "true" and seen["after-second-click"] == "0"
    assert seen["dot-lit-row"] == "true" and seen["box-scrolled"] == "true"  # a dot brings its row into view
    assert seen["header-stuck"] == "true"  # scrolled down, the header stays at the top of the box
    worst = max(t.rank for t in load_report(str(pages[1000].parent / "bench")).trials if t.metric is not None)
    assert (seen["ascending"], seen["descending"], seen["sort-mark"]) == ("1", str(worst), "descending")

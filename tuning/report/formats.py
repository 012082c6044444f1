"""Rendering a Report: console table, Markdown, CSV, JSON, Parquet, self-contained HTML.

CSV and Parquet come as two tables: one row per trial, and a long table of every reported
result (trial, iteration, metrics) for pandas or Arrow. With --output PATH the long table goes
next to PATH as `<stem>_results<suffix>`.

Reports carry text from outside (param values and names from the sweep, error messages from
trials), so the text formats are safe to open: a CSV cell a spreadsheet would run as a formula is
neutralised, Markdown cells have HTML and pipes escaped, and in every text format control characters
show as escapes (tuning.text.inert: `\x1b`), so printing a report never runs a terminal escape.
"""

import html
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tuning.errors import UserError
from tuning.report.baseline import baseline_line
from tuning.report.ending import ending_line
from tuning.report.load import Report
from tuning.report.text import cell, columns, compute_line, headline, param_keys
from tuning.search.registry import names_with
from tuning.text import inert, inert_lines

MAX_EXTRA_METRICS = 3  # the table stays readable; csv/json/parquet carry every metric
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _cells(report: Report) -> list[list[str]]:
    """The header and one row per shown trial, as text."""
    cols = columns(report, MAX_EXTRA_METRICS)
    return [[label for label, _ in cols], *([cell(value(t)) for _, value in cols] for t in report.shown())]


def importance_lines(imp: dict) -> list[str]:
    """`importance (fanova): lr 0.88, hidden_dim 0.04, ...` per evaluator."""
    lines = []
    for name in ("fanova", "ped_anova"):
        if imp.get(name):
            shares = ", ".join(f"{k.split('.')[-1]} {v:.2f}" for k, v in imp[name].items() if v is not None)
            lines.append(f"importance ({name}, {imp['trials']} trials): {shares}")
    if imp.get("note"):
        lines.append(f"importance: {imp['note']}")
    return lines


def _notes(report: Report, top: int | None) -> list[str]:
    shown, everything = report.shown(top), report.shown()
    out = [f"... {len(everything) - len(shown)} more (--top)"] if len(everything) > len(shown) else []
    return out + [f"{t.trial_id}: {t.error}" for t in shown if t.error]


def table(report: Report, top: int | None = 10, importance: dict | None = None) -> str:
    """A plain-text table of the top trials, with a header saying what is ranked and how."""
    rows = _cells(report)[: None if top is None else top + 1]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    head = [report.experiment, headline(report)] + ([baseline_line(report)] if report.baseline is not None else [])
    out = [*head, "", *lines, *_notes(report, top), "", compute_line(report.compute()), *_ending_lines(report)]
    # The table's own lines are inert already (cell, columns); the path, error notes and param names here too.
    return "\n".join(inert(line) for line in out + importance_lines(importance or {}))


def _ending_lines(report: Report) -> list[str]:
    """The footer line saying which budget or stop rule ended the sweep (tuning.report.ending), if one did."""
    return [ending_line(report.ended)] if report.ended else []


def _md_text(text: str) -> str:
    """Text with HTML made inert (`<`, `>`, `&` as entities), line breaks as spaces, other controls escaped."""
    return inert(re.sub(r"[\r\n]+", " ", html.escape(text, quote=False)))


def _md_cell(text: str) -> str:
    """A table cell: _md_text, with backslashes and pipes escaped so the cell stays one cell."""
    return _md_text(text).replace("\\", "\\\\").replace("|", "\\|")


def markdown(report: Report, top: int | None = None, importance: dict | None = None) -> str:
    """A GitHub-flavoured Markdown table, with the same columns as the console table."""
    rows = _cells(report)[: None if top is None else top + 1]
    lines = ["| " + " | ".join(_md_cell(text) for text in r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join(" --- " for _ in rows[0]) + "|")
    notes = [
        f"- {_md_text(line)}"
        for line in [
            *_notes(report, top),
            compute_line(report.compute()),
            *_ending_lines(report),
            *importance_lines(importance or {}),
        ]
    ]
    base = ["", _md_text(baseline_line(report))] if report.baseline is not None else []
    head = [f"# {_md_text(report.experiment)}", "", _md_text(headline(report)), *base]
    return "\n".join([*head, "", *lines, "", *notes])


def trial_records(report: Report, top: int | None = None) -> list[dict]:
    """One flat dict per shown trial: the columns of the CSV/Parquet trial table."""
    extra = sorted({k for t in report.trials for k in t.metrics})
    params = param_keys(report)
    # Several objectives: a pareto_rank column; the other objectives' values are among the metrics at `epoch`.
    return [
        {
            "rank": t.rank,
            "trial_id": t.trial_id,
            **({"baseline": t.baseline} if (report.baseline or {}).get("trial_id") else {}),
            "status": t.status,
            "stopped_at": t.stopped_at,
            **({"pareto_rank": t.pareto_rank} if report.objectives else {}),
            report.metric: t.metric,
            "epoch": t.epoch,
            **{m: t.metrics.get(m) for m in extra},
            **{p: t.config.get(p) for p in params},
            "iterations": t.iterations,
            "time_s": t.time_s,
            "gpu_s": t.gpu_s,
            "node": t.node,
            "seed": t.seed,
            "checkpoints": t.checkpoints,
            "checkpoint_bytes": t.checkpoint_bytes,
            "checkpoint": t.checkpoint,
            "error": t.error,
            **({"sweep_ended_by": report.ended["by"]} if report.ended else {}),  # the same on every row
        }
        for t in report.shown(top)
    ]


def _as_text(value) -> str | None:
    """One cell of a column written as text: a string as it is, null as null, anything else as its JSON."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):  # a mapping with keys JSON has no spelling for
        return str(value)


def _column(name: str, values: list, nested: bool = True):
    """`values` as one Arrow column of the type they share (ints and floats together are floats).

    Values of mixed types (a sweep's `choice: [32, "wide", null]`, a param that is an int in one trial and a
    string in another) share none: Arrow cannot hold them in one column, so the column is written as text
    (_as_text), with one warning naming it. `nested` False (CSV, which has no lists or mappings): a column of
    lists or mappings is written as their JSON text."""
    import pyarrow as pa

    try:
        column = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        kinds = sorted({type(v).__name__ for v in values if v is not None})
        what = f"values of mixed types ({', '.join(kinds)})" if len(kinds) > 1 else f"{kinds[0]}s of mixed types"
        warnings.warn(f"{name}: {what}, written as text")
        return pa.array([_as_text(v) for v in values], pa.string())
    if not nested and pa.types.is_nested(column.type):
        return pa.array([_as_text(v) for v in values], pa.string())
    return column


def _table(rows: list[dict], nested: bool = True):
    """`rows` as a pyarrow Table, one column per key in first-seen order (a row without a key is null there)."""
    import pyarrow as pa

    keys = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table([_column(k, [r.get(k) for r in rows], nested) for k in keys], names=keys)


def _trial_table(report: Report, top: int | None = None, nested: bool = True):
    """The shown trials as a pyarrow Table, one row each (trial_records)."""
    return _table(trial_records(report, top), nested)


def _results_table(report: Report, top: int | None = None, nested: bool = True):
    """Every reported row of the shown trials as a pyarrow Table."""
    ids = {t.trial_id for t in report.shown(top)}
    return _table([r for r in report.results if r["trial_id"] in ids], nested)


def spreadsheet_safe(value):
    """A string a spreadsheet would run as a formula, with a `'` in front (OWASP); anything else as it is.

    Plain numbers written as text (`-0.5`) stay as they are: a spreadsheet reads them as numbers.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _spreadsheet_table(tbl):
    """`tbl` with every string cell and column name passed through spreadsheet_safe, then inert; numbers untouched.

    In that order: a cell that starts with a tab or CR gets its quote (OWASP) and then shows them as `\\t`, `\\r`."""
    import pyarrow as pa

    columns = []
    for column in tbl.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pa.array(
                [None if v is None else inert(spreadsheet_safe(v)) for v in column.to_pylist()], type=column.type
            )
        columns.append(column)
    return pa.table(columns, names=[inert(spreadsheet_safe(name)) for name in tbl.column_names])


def _csv_text(tbl) -> str:
    import io

    import pyarrow.csv as pacsv

    sink = io.BytesIO()
    pacsv.write_csv(_spreadsheet_table(tbl), sink)
    return sink.getvalue().decode()


def _parquet(tbl) -> bytes:
    """A pyarrow Table as the bytes of a Parquet file."""
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(tbl, sink)
    return sink.getvalue()


def _html(report: Report, top: int | None, importance: dict | None) -> str:
    """The HTML page (tuning.report.html, imported only when asked for)."""
    from tuning.report.html import html

    # HTML-escaped already; printed without --output it reaches a terminal, so no raw control character either.
    return inert_lines(html(report, top, importance))


@dataclass(frozen=True)
class Format:
    """A report format (`tuning report --format`): what renders it and what `tuning report` does around it."""

    renderer: Callable  # (report, top, importance) -> the report: text, or bytes for a binary format
    results: Callable | None = None  # (report, top) -> a second file, <stem>_results<suffix>: every reported result
    binary: bool = False  # bytes, not text: written to --output only, never printed
    importance: tuple[str, ...] = ()  # the importance evaluators (tuning.report.importance) it shows; (): none


FORMATS = {
    # fANOVA needs scikit-learn (~1.6 s to import) and a forest fit: the HTML report has room for it; the console
    # table and markdown show PED-ANOVA alone and stay quick on 1000 trials.
    "table": Format(table, importance=("ped_anova",)),
    "markdown": Format(markdown, importance=("ped_anova",)),
    "csv": Format(
        lambda report, top, importance: _csv_text(_trial_table(report, top, nested=False)),
        results=lambda report, top: _csv_text(_results_table(report, top, nested=False)),
    ),
    "json": Format(lambda report, top, importance: report.to_json(top, importance)),
    "parquet": Format(
        lambda report, top, importance: _parquet(_trial_table(report, top)),
        results=lambda report, top: _parquet(_results_table(report, top)),
        binary=True,
    ),
    "html": Format(_html, importance=("fanova", "ped_anova")),
}


def _format(fmt: str) -> Format:
    """The registry's entry, or a UserError naming the formats there are."""
    if fmt not in FORMATS:
        raise UserError(f"--format: unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def _to_stdout(fmt: str, output: str | None) -> None:
    """A UserError for a binary format without --output: it is never printed."""
    if _format(fmt).binary and not output:
        raise UserError(f"--format {fmt}: needs --output PATH (a binary file)")


def _ended(text: str) -> str:
    """The text with one final newline, as a file or the terminal wants it (csv's has its own)."""
    return text if text.endswith("\n") else text + "\n"


def results_path(output: str) -> Path:
    """Where the long table of every result goes, next to the trial table at `output`."""
    path = Path(output)
    return path.with_name(f"{path.stem}_results{path.suffix}")


def write(report: Report, fmt: str, top: int | None, output: str | None, importance: dict | None = None) -> list[str]:
    """Render `fmt`; print it or write it to `output` (plus the long results table for a format that has one).

    Returns the paths written (empty when printed).
    """
    entry = _format(fmt)
    _to_stdout(fmt, output)
    rendered = entry.renderer(report, top, importance)
    if not output:
        print(_ended(rendered), end="")
        return []
    files = {output: rendered} | ({str(results_path(output)): entry.results(report, top)} if entry.results else {})
    try:
        for path, data in files.items():
            if entry.binary:
                Path(path).write_bytes(data)
            else:
                Path(path).write_text(_ended(data))
    except OSError as exc:
        raise UserError(f"--output {output}: cannot write: {exc.strerror or exc}") from None
    return list(files)


def render(report: Report, fmt: str = "table", top: int | None = None, importance: dict | None = None) -> str:
    """The report as text in one of the text formats."""
    if _format(fmt).binary:
        raise UserError(
            f"--format {fmt}: not a text format; allowed here: {', '.join(names_with(FORMATS, binary=False))}"
        )
    return FORMATS[fmt].renderer(report, top, importance)


def run_report(
    experiment: str,
    fmt: str = "table",
    top: int | None = None,
    output: str | None = None,
    scope: str | None = None,
    status: str | None = None,
    force: bool = False,
) -> list[str]:
    """`tuning report`: read, rank, add importance where shown, and print or write; returns paths written."""
    from tuning.report.load import load_report
    from tuning.storage import check_output

    entry = _format(fmt)
    _to_stdout(fmt, output)
    if top is not None and top < 1:
        raise UserError(f"--top: must be at least 1, got {top}")
    if output:
        for path in [output] + ([str(results_path(output))] if entry.results else []):
            check_output(path, experiment, force)
    report = load_report(experiment, scope=scope, status=status)
    imp = None
    if entry.importance:
        from tuning.report.importance import importance

        imp = importance(report, evaluators=entry.importance)
    return write(report, fmt, top, output, imp)

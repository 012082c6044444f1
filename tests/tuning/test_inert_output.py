"""What the terminal shows is inert (issue 32, item 3): control characters that come from an experiment's files or
from a cluster's job metadata print as visible escapes, and every command printed for copying is shell-quoted.

Experiments are directories written file by file (tests/tuning/report/test_report.py's make_experiment); jobs are
the JobDetails that Ray's Jobs SDK builds from the JSON its REST API returns."""

import csv
import io
import json
import shlex
from pathlib import Path

import pytest

from tests.tuning.report.test_report import make_experiment
from tuning.cli import jobs as job_cli
from tuning.cli.commands import _finished, main
from tuning.report.formats import render
from tuning.report.load import load_report
from tuning.text import inert, inert_lines, shell_command

CLEAR = "\x1b[2J"  # erase the screen
TITLE = "\x1b]0;title\x07"  # set the window title (OSC ... BEL)
ACT = f"relu{CLEAR}\r\x08"  # a config value: ESC sequence, carriage return, backspace
PARAM = f"model.init_args.n{TITLE}"  # a param name
METRIC = f"acc{CLEAR}"  # a metric name
TRIAL = f"a{CLEAR}"  # a trial id (its directory's name too)
ERROR = f"ValueError: bad {TITLE} x\x08y <script>"  # an errored trial's last error line
NASTY = "; touch x"  # what must stay inside one argument of a printed command


def raw_controls(text: str) -> list[str]:
    """The control characters in `text` (newline aside: every text format needs it), checked on its bytes too."""
    data = text.encode()
    found = [chr(b) for b in data if (b < 0x20 and b != 0x0A) or b == 0x7F]
    return found + [c for c in text if 0x80 <= ord(c) <= 0x9F]


@pytest.fixture
def nasty_experiment(tmp_path) -> Path:
    """An experiment whose trial id, error text, config values, param and metric names, and path hold controls."""
    space = {
        "model.init_args.lr": {"uniform": [0, 1]},
        "model.init_args.act": {"choice": [ACT, "tanh"]},
        PARAM: {"choice": [1, 2]},
    }
    params = {"model.init_args.lr": 0.1, "model.init_args.act": ACT, PARAM: 1}
    exp = make_experiment(
        tmp_path / f"exp{TITLE}",
        {
            TRIAL: ("TERMINATED", [0.5, 0.4], {}, params),
            "b": ("ERROR", [0.9], {"error.txt": f"Traceback\n{ERROR}\n"}, params),
        },
        space=space,
    )
    for trial in (TRIAL, "b"):  # a metric whose name holds an ESC sequence
        path = exp / f"trial_{trial}" / "result.json"
        rows = [{**json.loads(line), METRIC: 0.5} for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return exp


def test_inert_escapes_every_control_character_and_leaves_text_alone():
    assert (
        inert(f"a{CLEAR}{TITLE}\r\x08\t\n\x7f\x9b\u202e")
        == "a\\x1b[2J\\x1b]0;title\\x07\\r\\x08\\t\\n\\x7f\\x9b\\u202e"
    )
    assert inert("plain text, ünïcode, 0.5") == "plain text, ünïcode, 0.5" and inert(3) == "3"
    assert inert_lines(f"one{CLEAR}\ntwo\tthree") == "one\\x1b[2J\ntwo\tthree"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_report_text_formats_print_no_raw_control_character(nasty_experiment, capsys, fmt):
    assert main(["report", str(nasty_experiment), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert raw_controls(out) == []
    # every piece shows, escaped (Markdown doubles the backslash of a cell: it renders as one)
    escaped = out.replace("\\\\", "\\")
    for text in (ACT, PARAM.rsplit(".", 1)[-1], METRIC, TRIAL):
        assert inert(text) in escaped, (text, out)
    if fmt != "csv":  # the CSV carries the error in a cell of its own; table and markdown as a note
        assert inert(ERROR).replace("<script>", "&lt;script&gt;" if fmt == "markdown" else "<script>") in escaped
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {r["trial_id"] for r in rows} == {inert(TRIAL), "b"}
        assert {r["model.init_args.act"] for r in rows} == {inert(ACT)} and inert(METRIC) in rows[0]
        assert [r["error"] for r in rows if r["trial_id"] == "b"] == [inert(ERROR)]


def test_json_stays_exact_and_html_stays_escaped(nasty_experiment, tmp_path):
    report = load_report(str(nasty_experiment))
    text = render(report, "json")
    assert raw_controls(text) == []
    data = json.loads(text)  # json.dumps escapes: the values come back exactly as the experiment holds them
    assert {t["trial_id"] for t in data["trials"]} == {TRIAL, "b"}
    assert data["trials"][0]["config"]["model.init_args.act"] == ACT
    page = render(report, "html")  # printed without --output it reaches the terminal too
    assert raw_controls(page.replace("\t", "")) == []
    assert "y <script>" not in page and "x\\x08y &lt;script&gt;" in page  # the error's tag stays HTML-escaped
    assert inert(ACT) in page


def test_compare_prints_no_raw_control_character(nasty_experiment, tmp_path, capsys):
    other = make_experiment(tmp_path / "other", {"z": ("TERMINATED", [0.3], {}, {"model.init_args.lr": 0.2})})
    assert main(["compare", str(nasty_experiment), str(other)]) == 0
    out = capsys.readouterr().out
    assert raw_controls(out) == [] and inert(TRIAL) in out


def test_errored_trials_on_stderr_are_inert(nasty_experiment, capsys):
    assert _finished(load_report(str(nasty_experiment)), nasty_experiment) == 3
    captured = capsys.readouterr()
    assert raw_controls(captured.out) == [] and raw_controls(captured.err) == []
    assert f"trial b errored: {inert(ERROR)}" in captured.err


def _command(line: str, after: str, closing: str = "") -> list[str]:
    """The argv of the command printed after `after` on `line`, up to `closing` (the `)` of a note around it)."""
    text = line.split(after, 1)[1]
    return shlex.split(text.removesuffix(closing) if closing else text)


def test_the_resume_command_of_an_unfinished_sweep_parses_back(tmp_path, capsys):
    exp = make_experiment(tmp_path / f"runs{NASTY}" / "my exp $(id)", {"a": ("TERMINATED", [0.5], {})})
    (exp / "environment.json").write_text(json.dumps({"runs": [{"command": "run", "outcome": "interrupted"}]}))
    assert main(["report", str(exp)]) == 0
    line = [x for x in capsys.readouterr().err.splitlines() if "continue with: " in x]
    assert len(line) == 1 and _command(line[0], "continue with: ") == ["tuning", "resume", str(exp)]


def test_the_full_report_command_after_a_sweep_parses_back(tmp_path, capsys):
    exp = make_experiment(tmp_path / f"runs{NASTY}" / "my exp", {"a": ("TERMINATED", [0.5], {})})
    _finished(load_report(str(exp)), exp)
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("full report: ")]
    assert len(line) == 1 and _command(line[0], "full report: ") == ["tuning", "report", str(exp)]


def test_the_next_steps_of_init_parse_back(tmp_path, capsys):
    folder = tmp_path / f"my project{NASTY}"
    assert main(["init", str(folder)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert shlex.split(line.removeprefix("next: "))[:3] == ["cd", str(folder), "&&"]


def test_submitted_job_hints_parse_back():
    exp, address = f"/data/runs{NASTY}/my exp", "http://head:8265"
    hints = job_cli._job_hints("tuning-x-1", address, exp, stop=True).splitlines()
    assert [shlex.split(h.split(":", 1)[1]) for h in hints[:3]] == [
        ["tuning", "logs", "tuning-x-1", "--follow", "--address", address],
        ["tuning", "status", "tuning-x-1", "--address", address],
        ["tuning", "stop", "tuning-x-1", "--address", address],
    ]
    assert _command(hints[3], "(then: ", ")") == ["tuning", "report", exp]


def _job(**fields):
    """A job as `tuning jobs` and `tuning status` get it: Ray's JobDetails, built as its SDK builds it from the
    REST API's JSON."""
    from ray.job_submission import JobDetails

    return JobDetails(
        **{
            "type": "SUBMISSION",
            "job_id": "02000000",
            "submission_id": "tuning-x-1",
            "status": "FAILED",
            "entrypoint": "tuning run sweep.yaml",
            "message": None,
            "start_time": 1,
            "end_time": 2,
            "metadata": None,
            **fields,
        }
    )


NASTY_JOB = {
    "submission_id": f"tuning-{CLEAR}x",
    "entrypoint": f"tuning run s.yaml{TITLE}\r\x08",
    "message": f"Job failed{CLEAR}\nline two\r\x08{TITLE}",
    "metadata": {"tuning_storage": f"/data/runs{NASTY}", "tuning_experiment": f"my exp{CLEAR}"},
}


def test_jobs_lines_are_inert_and_the_resume_command_parses_back():
    address = "http://head:8265"
    plain = {
        "metadata": {"tuning_storage": f"/data/runs{NASTY}", "tuning_experiment": "my exp $(id)"},
        "submission_id": "tuning-y-2",
    }
    unresolvable = {"metadata": {"tuning_storage": "~nobody-here/runs", "tuning_experiment": "a\x00b"}}
    lines = job_cli.jobs_lines(
        [_job(**NASTY_JOB), _job(**plain), _job(submission_id=None, metadata=None), _job(**unresolvable)], address
    )
    text = "\n".join(lines)
    assert raw_controls(text) == [] and len(lines) == 8
    assert inert(NASTY_JOB["entrypoint"]) in text and inert(NASTY_JOB["submission_id"]) in text
    resume = [line for line in lines if "resume with: " in line]
    assert _command(resume[1], "resume with: ") == [
        "tuning",
        "resume",
        f"/data/runs{NASTY}/my exp $(id)",
        "--address",
        address,
    ]


def test_status_lines_are_inert_and_their_commands_parse_back():
    address = "http://head:8265"
    lines = job_cli.status_lines("tuning-x-1", _job(**NASTY_JOB), address)
    text = "\n".join(lines)
    assert raw_controls(text) == []
    assert inert_lines(NASTY_JOB["message"]) in text  # the message keeps its lines, not its escapes
    exp = f"/data/runs{NASTY}/my exp $(id)"
    lines = job_cli.status_lines(
        "tuning-x-1",
        _job(metadata={"tuning_storage": f"/data/runs{NASTY}", "tuning_experiment": "my exp $(id)"}),
        address,
    )
    report = [x for x in lines if x.startswith("experiment: ")][0]
    assert _command(report, f"{exp} (", ")") == ["tuning", "report", exp]
    resume = [x for x in "\n".join(lines).splitlines() if x.startswith("continue with: ")][0]
    assert _command(resume, "continue with: ") == ["tuning", "resume", exp, "--address", address]


def test_shell_command_quotes_each_argument_and_escapes_controls():
    assert shlex.split(shell_command("tuning", "resume", f"a b{NASTY}", "--x", "$(id)")) == [
        "tuning",
        "resume",
        f"a b{NASTY}",
        "--x",
        "$(id)",
    ]
    assert raw_controls(shell_command("tuning", "report", f"e{CLEAR}")) == []


def test_the_progress_lines_and_live_view_are_inert(capsys, monkeypatch):
    """The sweep's own progress: trial ids, metric names and the best config's values are the sweep's text."""
    from ray.tune.experiment import Trial

    from tuning.driver.progress import Progress, ProgressLines

    trial = Trial("trainable", config={"model.init_args.act": ACT}, trial_id=TRIAL, stub=True)
    lines = ProgressLines(METRIC, "min", 2)
    lines.on_trial_result(0, [trial], trial, {METRIC: 0.5})
    lines.on_trial_complete(0, [trial], trial)
    live = Progress(METRIC, "min", 2)
    live.on_trial_result(0, [trial], trial, {METRIC: 0.5})
    monkeypatch.setenv("COLUMNS", "400")  # the live status line is cut to the terminal's width
    live._draw([trial], force=True)
    out = capsys.readouterr().out
    assert inert(TRIAL) in out and inert(ACT) in out and inert(METRIC) in out
    # the status line's own control is the carriage return tqdm redraws it after; nothing else is raw
    assert raw_controls(out.replace("\r", "")) == []

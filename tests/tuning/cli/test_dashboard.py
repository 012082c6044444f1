"""`tuning dashboard`: optuna-dashboard started on a finished sweep's study, its HTTP API read for the trials, stopped
with Ctrl-C; and its bad input. One synthetic sweep serves the module: a URI experiment (file://), served both as
its URI (a downloaded copy of the study its driver published) and as the directory it is on this machine."""

import concurrent.futures
import contextlib
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tests.imports import fresh_imports
from tests.synthetic_sweeps import branin_sweep
from tuning.cli.commands import main
from tuning.compat.study_attrs import set_by_tune_id
from tuning.report.load import load_report
from tuning.storage import upload_file


@pytest.fixture(scope="module")
def experiment(ray_session, tmp_path_factory):
    """(experiment directory, what the sweep printed) of a finished 6-trial sweep on file:// storage, stdout piped."""
    from tuning.driver.tuner import run_sweep
    from tuning.sweep.config import parse_sweep

    sweep = branin_sweep({"name": "optuna", "seed": 0}, {"name": "asha", "grace_period": 1}, num_samples=6)
    storage = tmp_path_factory.mktemp("dash")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_sweep(parse_sweep(sweep), storage=f"file://{storage}", name="dash") == f"file://{storage}/dash"
    return storage / "dash", out.getvalue()


@pytest.fixture(scope="module")
def dashboards(experiment, tmp_path_factory):
    """The URLs of dashboards of the experiment as a path and as its file:// URI (downloaded again every 0.5 s), both
    started at once (each imports optuna-dashboard for seconds); stopped at the end if still up."""
    exp, _ = experiment
    tmp = tmp_path_factory.mktemp("dash-tmp")
    procs = {"path": _popen(str(exp), tmp=tmp), "uri": _popen(f"file://{exp}", "--refresh", "0.5", tmp=tmp)}
    urls = {}
    for name, proc in procs.items():
        line = proc.stdout.readline()
        assert "/dashboard" in line, proc.stderr.read() if proc.poll() is not None else line
        urls[name] = line.rsplit(": ", 1)[1].strip().removesuffix("/dashboard")
    yield {"urls": urls, "procs": procs, "tmp": tmp}
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _popen(*args: str, tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tuning", "dashboard", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},  # where its temporary copy goes
    )


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def trials(url: str) -> list[dict]:
    """The study's trials as the dashboard serves them, each with its user attributes as a dict."""
    [study] = get(f"{url}/api/studies")["study_summaries"]
    return [
        {**t, "attrs": {a["key"]: a["value"] for a in t["user_attrs"]}}
        for t in get(f"{url}/api/studies/{study['study_id']}")["trials"]
    ]


def test_the_dashboards_trials_carry_the_reports_trial_ids_and_ranks(experiment, dashboards):
    exp, _ = experiment
    ranks = {t.trial_id: str(t.rank) for t in load_report(str(exp)).trials}
    for url in dashboards["urls"].values():  # the experiment itself, and its copy downloaded from a URI
        served = trials(url)
        assert {t["attrs"]["tune_trial_id"]: t["attrs"]["rank"] for t in served} == ranks
        assert len(served) == len(ranks) == 6


def test_the_study_is_served_read_only(experiment, dashboards):
    """A study made from the dashboard's page (a write) fails: SQLite opened the file read-only."""
    exp, _ = experiment
    url = dashboards["urls"]["path"]
    made = urllib.request.Request(
        f"{url}/api/studies",
        data=json.dumps({"study_name": "another", "directions": ["minimize"]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(made, timeout=30)
    assert refused.value.code == 500
    assert [s["study_name"] for s in get(f"{url}/api/studies")["study_summaries"]] == ["tuning"]


def test_a_uri_experiments_study_is_downloaded_again_while_it_runs(experiment, dashboards, tmp_path):
    """What a sweep's driver publishes to the URI later (here: an attribute set on a copy of the study, uploaded
    whole as the driver uploads it) shows up."""
    exp, _ = experiment
    first = next(t for t in trials(dashboards["urls"]["uri"]) if t["attrs"]["rank"] == "1")
    staged = tmp_path / "optuna.db"
    with closing(sqlite3.connect(exp / "optuna.db")) as study, closing(sqlite3.connect(staged)) as copy:
        study.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # every change in the one file uploaded
    assert set_by_tune_id(staged, "probe", {first["attrs"]["tune_trial_id"]: 7}) == 1
    upload_file(staged, f"file://{exp}/optuna.db")
    deadline = time.monotonic() + 20  # refreshed every 0.5 s; optuna-dashboard keeps trials for 2 s
    while time.monotonic() < deadline:
        if any(t["attrs"].get("probe") == "7" for t in trials(dashboards["urls"]["uri"])):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the dashboard never showed what was published after it started")


def test_every_read_answers_while_the_study_is_downloaded_again_and_again(experiment, tmp_path):
    """Requests in threads of their own meet a copy swapped every 20 ms: each reads the old copy or the new one
    whole. (Pooled connections closed under a request's thread killed the server with SIGSEGV.)"""
    exp, _ = experiment
    proc = _popen(f"file://{exp}", "--refresh", "0.02", tmp=tmp_path)
    try:
        line = proc.stdout.readline()
        assert "/dashboard" in line, proc.stderr.read()
        url = line.rsplit(": ", 1)[1].strip().removesuffix("/dashboard")
        deadline = time.monotonic() + 6

        def read_until_deadline(_):
            reads = 0
            while time.monotonic() < deadline:
                assert len(trials(url)) == 6
                reads += 1
            return reads

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert min(pool.map(read_until_deadline, range(4))) > 0
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()


def test_ctrl_c_stops_it_with_exit_0_and_removes_the_downloaded_copy(dashboards):
    for proc in dashboards["procs"].values():
        proc.send_signal(signal.SIGINT)
    for proc in dashboards["procs"].values():
        assert proc.wait(timeout=30) == 0
        assert "tuning dashboard: stopped" in proc.stderr.read()
    assert list(dashboards["tmp"].iterdir()) == []


def test_the_sweep_printed_plain_lines_when_piped(experiment):
    """stdout not a terminal (here a StringIO, as a log file): one line per trial, no live status line."""
    _, out = experiment
    assert [line.split(" trial ")[0] for line in out.splitlines() if " trial " in line][-1] == "[6/6]"
    assert "elapsed" not in out and "\r" not in out


def test_bad_input_exits_2_with_nothing_started(experiment, tmp_path, capsys):
    exp, _ = experiment
    assert main(["dashboard", str(tmp_path)]) == 2
    assert "has no sweep.yaml (not a tuning experiment)" in capsys.readouterr().err
    random = tmp_path / "random"  # an experiment whose searcher keeps no study
    random.mkdir()
    sweep = yaml.safe_load((exp / "sweep.yaml").read_text())
    sweep["search"]["searcher"] = {"name": "random"}
    (random / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    assert main(["dashboard", str(random)]) == 2
    assert "its searcher is random, which keeps no Optuna study" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", str(exp), "--port", str(port)]) == 2
    assert f"--port {port}: already in use on 127.0.0.1" in capsys.readouterr().err


def test_without_the_extra_the_message_names_it_before_anything_heavy_is_imported(experiment):
    """optuna_dashboard's import blocked (as where it is not installed): exit 2 naming the extra; and the verb,
    like `tuning --help`, imports no torch, Ray, Optuna or optuna-dashboard on its way there."""
    exp, _ = experiment
    code = (
        "import sys; sys.modules['optuna_dashboard'] = None; from tuning.cli import main; "
        f"assert main(['dashboard', {str(exp)!r}]) == 2"
    )
    _, err, imported = fresh_imports(code, ("torch", "ray", "optuna", "optuna_dashboard", "sqlalchemy"))
    assert imported == ["optuna_dashboard"]  # the blocking None entry alone
    assert "pip install 'tuning[dashboard]'" in err and "Traceback" not in err

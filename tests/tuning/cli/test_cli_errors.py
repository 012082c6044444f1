"""Bad input and faults around the cluster commands and a few arguments (issue 32, items 6 and 7): exit 2 with
one line naming the argument or the address (exit 1 where the cluster itself failed), no traceback, nothing
written. Every server is a real HTTP server (or socket) this file starts on 127.0.0.1; no Ray cluster is needed:
what is tested happens before, or instead of, reaching one."""

import contextlib
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tuning.cli.commands import main
from tuning.driver import jobs_api

pytestmark = pytest.mark.timeout(60)  # a request without a timeout hangs: the test fails instead of waiting

LOOPBACK = "127.0.0.1"
NGINX = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1>"
    b"</body></html>\n"
)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer):
        super().__init__((LOOPBACK, 0), _Handler)
        self.answer, self.seen, self.released = answer, [], threading.Event()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Each request goes to the server's `answer(method, path, body)`: (status, content type, bytes), or None
    to accept it and never answer (until the test ends)."""

    def _serve(self):
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        self.server.seen.append((self.command, self.path))
        answer = self.server.answer(self.command, self.path, body)
        if answer is None:
            self.server.released.wait(120)
            return
        status, kind, data = answer
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(answer):
    """A real HTTP server on 127.0.0.1 answering with `answer`; yields it (its address: `address(server)`)."""
    server = _Server(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


def address(server) -> str:
    return f"http://{LOOPBACK}:{server.server_address[1]}"


def _json(data, status=200):
    return status, "application/json", json.dumps(data).encode()


def _job(job_id: str) -> dict:
    return {
        "type": "SUBMISSION",
        "job_id": None,
        "submission_id": job_id,
        "status": "RUNNING",
        "entrypoint": "tuning run x.yaml",
        "message": "Job is currently running.",
        "metadata": {},
    }


class RayLike:
    """The Ray Jobs API as Ray 2.60's dashboard answers it (paths, bodies, a 404 text for an unknown job), for
    the jobs in `jobs`; `hang` is a path prefix it accepts and never answers, `html` one it answers with a page."""

    def __init__(self, jobs=(), hang=None, html=None):
        self.jobs, self.hang, self.html = set(jobs), hang, html

    def __call__(self, method, path, body):
        if self.hang and path.startswith(self.hang):
            return None
        if self.html and path.startswith(self.html):
            return 200, "text/html", NGINX
        if path == "/api/version":
            return _json({"version": "5", "ray_version": "2.60.0", "ray_commit": "0" * 40})
        if path.startswith("/api/packages/"):
            return 200, "text/plain", b"Package exists"  # nothing to upload
        if (method, path) == ("GET", "/api/jobs/"):
            return _json([_job(job) for job in sorted(self.jobs)])
        if (method, path) == ("POST", "/api/jobs/"):
            job = json.loads(body)["submission_id"]
            self.jobs.add(job)
            return _json({"job_id": job, "submission_id": job})
        match = re.fullmatch(r"/api/jobs/([^/]+)(/.*)?", path)
        if not match or match.group(1) not in self.jobs:
            return 404, "text/plain", f"Job {match.group(1) if match else path} does not exist".encode()
        return {
            None: _json(_job(match.group(1))),
            "/stop": _json({"stopped": True}),
            "/logs": _json({"logs": "epoch 1\n"}),
            "/logs/tail": None,
        }[match.group(2)]


@contextlib.contextmanager
def silent_head():
    """A port that accepts connections (the kernel completes them) and never answers a byte."""
    with socket.socket() as head:
        head.bind((LOOPBACK, 0))
        head.listen(64)
        yield f"http://{LOOPBACK}:{head.getsockname()[1]}"


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return f"http://{LOOPBACK}:{sock.getsockname()[1]}"


@pytest.fixture(autouse=True)
def no_real_cluster(tmp_path, monkeypatch):
    """No token, no RAY_ADDRESS from the environment; short timeouts, so a silent head ends the test quickly."""
    for name in ["RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"]:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ["CONNECT_TIMEOUT_S", "VERSION_TIMEOUT_S", "ANSWER_TIMEOUT_S"]:
        monkeypatch.setattr(jobs_api, name, 1, raising=False)  # raising=False: the same test runs on the code before


@pytest.fixture
def project(tmp_path, tiny_sweep):
    """A user's project with a sweep whose storage every node could reach; its files, to see nothing is added."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "sweep.yaml").write_text(yaml.safe_dump({**tiny_sweep, "run": {"storage": str(tmp_path / "runs")}}))
    return root


@pytest.fixture
def experiment(tmp_path, tiny_sweep):
    """An experiment `tuning resume` would accept: the sweep tuning wrote and Ray Tune's saved state."""
    exp = tmp_path / "runs" / "tiny"
    exp.mkdir(parents=True)
    (exp / "sweep.yaml").write_text(yaml.safe_dump({**tiny_sweep, "run": {"storage": str(tmp_path / "runs")}}))
    (exp / "experiment_state-2025-01-01_00-00-00.json").write_text("{}")
    return exp


def listing(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def one_error_line(capsys, verb: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith(f"tuning {verb}: error: "), err
    return lines[0]


# --- every request to a cluster: bounded, and what goes wrong is one line naming the address ----------------------


def _verbs(project, experiment):
    """Every verb that talks to the Jobs API, as argv without --address."""
    return {
        "submit": ["submit", str(project / "sweep.yaml"), "--working-dir", str(project)],
        "jobs": ["jobs"],
        "status": ["status", "raysubmit_x"],
        "logs": ["logs", "raysubmit_x"],
        "logs --follow": ["logs", "raysubmit_x", "--follow"],
        "stop": ["stop", "raysubmit_x"],
        "resume": ["resume", str(experiment), "--working-dir", str(project)],
    }


FAULTS = {  # what answers -> (exit code, what the line says)
    "HTTP 500": (1, "failed the request (HTTP 500): Internal Server Error"),
    "an HTML page": (2, "does not answer as a Ray dashboard (GET /api/version answered HTTP 200, an HTML page)"),
    "JSON of another server": (
        2,
        "does not answer as a Ray dashboard (GET /api/version answered HTTP 200, application/json",
    ),
    "a head that never answers": (2, "no answer to GET /api/version within 1 s"),
    "a closed port": (2, "cannot reach the Ray dashboard at"),
}
ANSWERS = {
    "HTTP 500": lambda *_: (500, "text/plain", b"Internal Server Error"),
    "an HTML page": lambda *_: (200, "text/html", NGINX),
    "JSON of another server": lambda *_: _json({"status": "ok", "service": "grafana"}),
}


@contextlib.contextmanager
def head(fault: str):
    """The address of a head with this fault (a real server or socket on 127.0.0.1)."""
    if fault in ANSWERS:
        with serving(ANSWERS[fault]) as server:
            yield address(server)
    elif fault == "a head that never answers":
        with silent_head() as where:
            yield where
    else:
        yield closed_port()


@pytest.mark.parametrize("verb", ["submit", "jobs", "status", "logs", "logs --follow", "stop", "resume"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_of_the_head_is_one_line_naming_its_address(verb, fault, project, experiment, capsys):
    before = listing(project)
    code, says = FAULTS[fault]
    with head(fault) as where:
        assert main(_verbs(project, experiment)[verb] + ["--address", where]) == code
    line = one_error_line(capsys, verb.split()[0])
    assert where in line and says in line, line
    assert listing(project) == before  # the staged sweep is gone again


@pytest.mark.parametrize(
    "fault, code, says",
    [
        ({"hang": "/api/jobs/"}, 1, "no answer to GET /api/jobs/ within 1 s; is the head node healthy?"),
        (
            {"html": "/api/jobs/"},
            2,
            "does not answer as a Ray dashboard (GET /api/jobs/ answered HTTP 200, an HTML page)",
        ),
    ],
)
def test_a_head_that_answers_its_version_and_then_fails_is_one_line(fault, code, says, capsys):
    # a proxy in front of the dashboard, or a head that stopped answering after the first request
    with serving(RayLike(**fault)) as server:
        assert main(["jobs", "--address", address(server)]) == code
    line = one_error_line(capsys, "jobs")
    assert address(server) in line and says in line, line


def test_an_unknown_job_is_one_line_also_when_following_its_logs(capsys):
    with serving(RayLike(jobs=["raysubmit_known"])) as server:
        for argv in (["logs", "UNKNOWN", "--follow"], ["logs", "UNKNOWN"], ["status", "UNKNOWN"], ["stop", "UNKNOWN"]):
            assert main(argv + ["--address", address(server)]) == 2, argv
            line = one_error_line(capsys, argv[0])
            assert "Job UNKNOWN does not exist" in line and address(server) in line, line
        assert not [path for _, path in server.seen if path.endswith("/logs/tail")]  # asked before following


@pytest.mark.parametrize("verb", ["status", "logs", "stop"])
@pytest.mark.parametrize(
    "job", ["", "../../api/jobs", "..", "a/b", "x?y=1", "raysubmit_x#", " x", "x y", "x\x1b[2J", "x" * 231]
)
def test_a_job_id_is_checked_before_any_request(verb, job, capsys):
    with serving(RayLike(jobs=["raysubmit_x"])) as server:
        assert main([verb, job, "--address", address(server)]) == 2
    line = one_error_line(capsys, verb)
    assert f"JOB {job!r}: not a job id" in line, line
    assert server.seen == []  # it never became a path on the server


def test_job_ids_of_ray_and_of_tuning_pass(capsys):
    name = "n" * 200  # the longest --name: tuning-NAME-xxxxxxxx
    jobs = ["raysubmit_4LamXRuQpYdSMg7J", "02000000", f"tuning-{name}-0a1b2c3d", "my.job_1-2"]
    with serving(RayLike(jobs=jobs)) as server:
        for job in jobs:
            assert main(["status", job, "--address", address(server)]) == 0, job
    assert capsys.readouterr().out.count(": RUNNING") == len(jobs)


@pytest.mark.parametrize("where", ["http://", "http://:8265", "http://127.0.0.1:port", "http://127.0.0.1:8265?x=1"])
def test_an_address_that_is_no_url_is_refused_before_any_request(where, capsys):
    assert main(["jobs", "--address", where]) == 2
    assert f"--address {where}: " in one_error_line(capsys, "jobs")


# --- a few arguments ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["", " ", "!", "\\", "#comment", "/"])
@pytest.mark.parametrize("dry_run", [True, False])
def test_an_include_that_is_no_pattern_names_include_and_writes_nothing(pattern, dry_run, project, capsys):
    before = listing(project)
    with serving(RayLike()) as server:
        extra = ["--dry-run"] if dry_run else ["--address", address(server)]
        argv = ["submit", str(project / "sweep.yaml"), "--working-dir", str(project), "--include", pattern]
        assert main(argv + extra) == 2
    assert f"--include {pattern!r}: " in one_error_line(capsys, "submit")
    assert listing(project) == before and server.seen == []


def test_an_include_that_is_no_pattern_is_refused_by_resume_on_a_cluster(project, experiment, capsys):
    with serving(RayLike()) as server:
        argv = ["resume", str(experiment), "--address", address(server), "--working-dir", str(project)]
        assert main(argv + ["--include", ""]) == 2
    assert "--include '': empty" in one_error_line(capsys, "resume")
    assert server.seen == []


@pytest.mark.parametrize("verb", ["run", "confirm"])
def test_the_dashboard_url_as_a_ray_address_points_at_submit(verb, project, experiment, capsys):
    target = str(project / "sweep.yaml") if verb == "run" else str(experiment)
    with serving(RayLike()) as server:
        with pytest.raises(SystemExit) as done:
            main([verb, target, "--address", address(server), "--storage", str(project / "runs")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err, err
    assert "--address" in err and "tuning submit" in err and "HEAD:6379" in err, err
    assert server.seen == [] and not (project / "runs").exists()


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_ray_address_where_nothing_listens_is_one_line_and_writes_nothing(scheme, project, capsys):
    """ray.init would wait minutes for a head that is not there (and take no SIGTERM meanwhile)."""
    where = scheme + closed_port().split("://", 1)[1]
    assert main(["run", str(project / "sweep.yaml"), "--address", where, "--storage", str(project / "runs")]) == 2
    assert f"--address {where}: nothing answers there" in one_error_line(capsys, "run")
    assert not (project / "runs").exists()


def test_a_ray_address_type_takes_ray_addresses_and_refuses_urls():
    import argparse

    from tuning.cli.args import ray_address

    for good in ["auto", "127.0.0.1:6379", "head:6379", "ray://head:10001"]:
        assert ray_address(good) == good
    for bad in ["http://head:8265", "HTTPS://head:8265", "s3://bucket", ""]:
        with pytest.raises(argparse.ArgumentTypeError):
            ray_address(bad)


@pytest.mark.parametrize("verb", ["run", "submit"])
def test_a_name_longer_than_a_file_name_may_be_is_refused(verb, project, capsys):
    argv = [verb, str(project / "sweep.yaml"), "--name", "a" * 300, "--storage", str(project / "runs")]
    with pytest.raises(SystemExit) as done:
        main(argv + (["--dry-run", "--working-dir", str(project)] if verb == "submit" else []))
    err = capsys.readouterr().err
    assert done.value.code == 2 and "argument --name" in err and "300 characters long, 200 at most" in err, err
    assert "Traceback" not in err and listing(project) == ["sweep.yaml"]


def test_a_name_of_200_characters_is_an_experiment_name():
    from tuning.cli.args import experiment_name

    assert experiment_name("a" * 200) == "a" * 200


def test_init_into_an_existing_file_names_it_and_writes_nothing(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine\n")
    for target in [work / "notes.txt", work / "notes.txt" / "project"]:
        assert main(["init", str(target)]) == 2
        line = one_error_line(capsys, "init")
        assert f"DIR {target}: " in line and "notes.txt" in line and "nothing was written" in line, line
    assert listing(work) == ["notes.txt"] and (work / "notes.txt").read_text() == "mine\n"


def test_init_where_the_template_needs_a_folder_and_finds_a_file_writes_nothing(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "data").write_text("mine\n")  # the tabular template writes data/train.csv
    assert main(["init", str(project), "--force"]) == 2
    assert "data exists and is not a folder; nothing was written" in one_error_line(capsys, "init")
    assert listing(project) == ["data"]


def test_init_with_an_empty_directory_writes_nothing_here(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["init", ""]) == 2
    assert "DIR '': empty; name the project folder (`.` for the current directory)" in one_error_line(capsys, "init")
    assert listing(work) == []


# --- SIGTERM while submit waits on the cluster ------------------------------------------------------------------


def _tuning(argv, cwd: Path, home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "tuning", *argv],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition, process, what: str):
    deadline = time.monotonic() + 45
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not condition():
        process.kill()
        pytest.fail(f"never {what}: {process.communicate(timeout=10)}")


def test_sigterm_while_submitting_exits_143_with_one_line_and_leaves_nothing(project, tmp_path):
    with silent_head() as where:
        process = _tuning(["submit", "sweep.yaml", "--address", where], project, tmp_path / "home")
        _wait_for(lambda: list(project.glob(".tuning-job-*")), process, "staged the sweep")
        time.sleep(0.5)  # now waiting on the head's answer
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 143 and "Traceback" not in err, err
    assert "tuning submit: stopped by SIGTERM while submitting; nothing is left in the project" in err, err
    assert listing(project) == ["sweep.yaml"]


def test_sigterm_while_following_a_submitted_job_says_the_job_goes_on(project, tmp_path):
    with serving(RayLike()) as server:
        argv = ["submit", "sweep.yaml", "--address", address(server), "--follow", "--job-id", "tuning-tiny-1"]
        process = _tuning(argv, project, tmp_path / "home")
        _wait_for(lambda: ("GET", "/api/jobs/tuning-tiny-1/logs/tail") in server.seen, process, "followed the logs")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 143 and "Traceback" not in err, err
    assert "submitted job tuning-tiny-1" in out
    assert (
        f"tuning submit: stopped by SIGTERM; job tuning-tiny-1 goes on on the cluster; stop it with: tuning stop "
        f"tuning-tiny-1 --address {address(server)}"
    ) in err, err
    assert listing(project) == ["sweep.yaml"]

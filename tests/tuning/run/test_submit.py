"""What `tuning submit` uploads, how big it may be, which token it sends, what it refuses locally."""

import pytest
import yaml

from tuning.run import submit
from tuning.errors import UserError


@pytest.fixture
def project(tmp_path, tiny_sweep):
    """A user's project with things that must stay home."""
    (tmp_path / "my_models.py").write_text("X = 1\n")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    for path in [".git/config", ".env", ".env.local", "runs/old/result.json", "lightning_logs/v0/x",
                 "ckpts/best.ckpt", "data/big.bin", "data/keep.csv", "pkg/__pycache__/m.pyc", "out/run/x.json"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    (tmp_path / ".gitignore").write_text("*.bin\n")
    (tmp_path / "data" / ".rayignore").write_text("keep.csv\n")  # nested ignore files apply below them
    return tmp_path


def test_the_upload_leaves_out_secrets_results_and_ignored_files(project):
    files = submit.package_files(project, submit.upload_excludes(project, "out/run"))
    assert set(files) == {"my_models.py", "sweep.yaml", ".gitignore", "data/.rayignore"}


def test_storage_outside_the_project_adds_no_exclude(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert submit.upload_excludes(project, str(elsewhere)) == submit.DEFAULT_EXCLUDES
    assert submit.upload_excludes(project, "s3://bucket/runs") == submit.DEFAULT_EXCLUDES


def test_an_oversized_upload_names_the_biggest_files(project):
    (project / "weights.pt").write_bytes(b"0" * 3 * 2**20)
    files = submit.package_files(project, submit.DEFAULT_EXCLUDES)
    with pytest.raises(UserError, match=r"3\.0 MiB \(limit 2 MiB.*weights\.pt \(3\.0 MiB\)"):
        submit.check_size(files, limit_mib=2)
    submit.check_size(files, limit_mib=4)


def test_the_token_comes_from_the_environment_then_a_token_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert submit.auth_token() == (None, "no token")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert submit.auth_token() == ("from-home", str(tmp_path / ".ray" / "auth_token"))
    (tmp_path / "t").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "t"))
    assert submit.auth_token()[0] == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert submit.auth_token() == ("from-env", "RAY_AUTH_TOKEN")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="RAY_AUTH_TOKEN_PATH .*missing: no such file"):
        submit.auth_token()


def test_relative_storage_is_refused_before_anything_is_sent(project):
    with pytest.raises(UserError, match=r"run.storage './runs' is relative"):
        submit.resolve(str(project / "sweep.yaml"), [], None, None, project)
    cfg = submit.resolve(str(project / "sweep.yaml"), [], "s3://bucket/runs", "other", project)
    assert (cfg.run.storage, cfg.name) == ("s3://bucket/runs", "other")
    with pytest.raises(UserError, match="name"):
        submit.resolve(str(project / "sweep.yaml"), [], "/mnt/x", "bad name!", project)


def test_the_users_own_classes_are_checked_from_the_working_dir(project):
    (project / "my_models.py").write_text((__import__("pathlib").Path(__file__).parents[2] / "user_models.py")
                                          .read_text())
    ok = ["model.class_path=my_models.LinearClassifier", "model.init_args={width: 64}", "search.space={}"]
    assert submit.resolve(str(project / "sweep.yaml"), ok, "/mnt/x", None, project).model.class_path
    with pytest.raises(UserError, match="widht"):
        submit.resolve(str(project / "sweep.yaml"), ok[:1] + ["model.init_args={widht: 64}", "search.space={}"],
                       "/mnt/x", None, project)


def test_a_non_http_address_is_refused():
    with pytest.raises(UserError, match="http://HEAD:8265"):
        submit.connect("127.0.0.1:6379")


def test_an_address_where_nothing_listens_is_a_clear_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match="cannot reach the Ray dashboard"):
        submit.connect(f"http://127.0.0.1:{port}")


def test_requirements_merge_pip_flags_and_a_file(tmp_path):
    (tmp_path / "req.txt").write_text("# comment\nnumpy>=1.26\n\nscipy\n")
    assert submit.read_requirements(["rich"], str(tmp_path / "req.txt")) == ["rich", "numpy>=1.26", "scipy"]
    with pytest.raises(UserError, match="--requirements"):
        submit.read_requirements([], str(tmp_path / "nope.txt"))


@pytest.fixture
def secrets_project(tmp_path, tiny_sweep):
    """A project with a file of every secret kind, links out of it, a loop, and the sweep."""
    from tests.cluster.secret_project import make_secret_project

    root = make_secret_project(tmp_path / "project", tmp_path / "outside")
    (root / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    return root


def test_every_secret_pattern_has_a_file_in_the_tests():
    from ray._private.thirdparty.pathspec import PathSpec

    from tests.cluster.secret_project import SECRET_FILES

    assert len(submit.SECRET_PATTERNS) >= 15
    for pattern in submit.SECRET_PATTERNS:
        spec = PathSpec.from_lines("gitwildmatch", [pattern])
        assert any(spec.match_file(rel) for rel in SECRET_FILES), pattern
        assert "/" not in pattern.rstrip("/"), f"{pattern}: rsync and gitignore read a middle '/' differently"


def test_secrets_and_links_out_of_the_project_stay_home(secrets_project):
    from tests.cluster import secret_project as sp

    upload = submit.plan_upload(secrets_project, "s3://bucket/runs")
    assert set(upload.files) == {*sp.CODE_FILES, sp.LINK_OK, "sweep.yaml"}
    assert set(upload.secrets) == {*sp.SECRET_FILES, ".env.example", sp.LINK_TO_SECRET}
    assert set(upload.skipped) == {*sp.LINKS_OUT, sp.LOOP}
    assert upload.skipped["outside_file"].endswith("outside/stolen.txt")


def test_the_listing_is_exactly_what_rays_own_packaging_zips(secrets_project, tmp_path):
    # Ray follows symlinks when it zips (out of the project, and round a loop until the OS stops it):
    # the excludes name each link by path, and the zip Ray makes with them holds exactly the listing.
    import zipfile

    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import create_package

    from tests.cluster.secret_project import SECRET_TEXT

    upload = submit.plan_upload(secrets_project, "s3://bucket/runs", includes=[".env.example"])
    package = tmp_path / "package.zip"
    create_package(str(secrets_project), package, include_gitignore=True,
                   excludes=ray_constants.get_runtime_env_default_excludes() + upload.excludes)
    with zipfile.ZipFile(package) as zipped:
        names = {name for name in zipped.namelist() if not name.endswith("/")}
        assert names == set(upload.files)
        assert not any(SECRET_TEXT in zipped.read(name).decode(errors="replace") for name in names - {".env.example"})


def test_a_secret_looking_file_is_uploaded_on_purpose_with_include(secrets_project):
    upload = submit.plan_upload(secrets_project, "s3://bucket/runs", includes=[".env.example", "tls/*.pem"])
    assert {".env.example", "tls/server.pem"} <= set(upload.files)
    assert "tls/server.key" in upload.secrets and ".env.example" not in upload.secrets
    assert upload.excludes.index("!.env.example") > upload.excludes.index(".env.*")  # the later pattern wins


def test_odd_link_names_are_excluded_by_their_exact_path(tmp_path):
    (tmp_path / "outside.txt").write_text("x")
    project = tmp_path / "p"
    project.mkdir()
    (project / "keep [1].py").write_text("x")
    for name in ["we*ird [x] ", "#hash", "!bang", "back\\slash"]:
        (project / name).symlink_to(tmp_path / "outside.txt")
    upload = submit.plan_upload(project, "s3://b/r")
    assert set(upload.files) == {"keep [1].py"} and len(upload.skipped) == 4


def test_dry_run_lists_uploads_and_secrets_and_contacts_no_cluster(secrets_project):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.cluster import secret_project as sp

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}  # no address anywhere
    result = subprocess.run([str(Path(sys.executable).parent / "tuning"), "submit", "sweep.yaml", "--dry-run",
                             "--storage", "/mnt/shared/runs", "--include", ".env.example"],
                            cwd=secrets_project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    uploaded = {line.split(None, 1)[1] for line in lines if line.startswith("upload  ")}
    assert uploaded == {*sp.CODE_FILES, sp.LINK_OK, "sweep.yaml", ".env.example", ".tuning-job-tuning-tiny-dry-run.yaml"}
    secrets = {line.split(None, 1)[1] for line in lines if line.startswith("secret  ")}
    assert secrets == {*sp.SECRET_FILES, sp.LINK_TO_SECRET}
    assert {line.split()[1] for line in lines if line.startswith("skip    ")} == {*sp.LINKS_OUT, sp.LOOP}
    assert lines[-1].startswith(f"would upload {len(uploaded)} files") and f"{len(secrets)} left out as likely secrets" in lines[-1]
    assert "nothing was sent" in lines[-1] and not list(secrets_project.glob(".tuning-job-*"))


def test_plain_http_to_another_machine_warns_that_the_token_travels_unencrypted():
    assert "travels unencrypted" in submit.plain_http_warning("http://10.0.0.5:8265", "t")
    assert "travels unencrypted" in submit.plain_http_warning("http://head.example:8265", "t")
    for address in ["http://127.0.0.1:8265", "http://localhost:8265", "http://[::1]:8265", "https://10.0.0.5:8265"]:
        assert submit.plain_http_warning(address, "t") is None, address
    assert submit.plain_http_warning("http://10.0.0.5:8265", None) is None  # no token, nothing to leak


def test_the_warning_comes_before_the_connection_to_this_machines_own_address(monkeypatch, capsys):
    import socket

    import psutil

    own = next((a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                if a.family == socket.AF_INET and not a.address.startswith("127.")), None)
    if own is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with socket.socket() as sock:
        sock.bind((own, 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret-token")
    with pytest.raises(UserError, match="cannot reach"):
        submit.connect(f"http://{own}:{port}")
    assert "token travels unencrypted" in capsys.readouterr().err


class _Source:
    tuning_source = "RAY_AUTH_TOKEN"


def test_a_head_without_a_job_agent_yet_is_retried_for_a_bounded_time(monkeypatch, capsys):
    busy = RuntimeError("Request failed with status code 500: No available agent to submit job, please try "
                        "again later..")
    answers = [busy, busy, "job-1"]

    def request():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert submit.call(_Source(), "http://127.0.0.1:1", request) == "job-1"
    assert capsys.readouterr().err.count("job agent is not ready yet") == 2
    monkeypatch.setattr(submit, "AGENT_RETRY_S", 2)

    def always_busy():
        raise busy

    with pytest.raises(submit.ClusterError, match="no job agent ready after 2 s"):
        submit.call(_Source(), "http://127.0.0.1:1", always_busy)


def test_a_5xx_from_the_cluster_is_one_line():
    text = ("Request failed with status code 500: Traceback (most recent call last):\n  File \"x\", line 1\n"
            "RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n"
            "ValueError: Job with submission_id j already exists. Please use a different submission_id.\n.")

    def request():
        raise RuntimeError(text)

    with pytest.raises(submit.ClusterError) as caught:
        submit.call(_Source(), "http://127.0.0.1:1", request)
    message = str(caught.value)
    assert "\n" not in message and "(HTTP 500)" in message and "j already exists" in message

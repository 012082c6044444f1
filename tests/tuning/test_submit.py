"""What `tuning submit` uploads, how big it may be, which token it sends, what it refuses locally."""

import pytest
import yaml

from tuning import submit
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
    (project / "my_models.py").write_text((__import__("pathlib").Path(__file__).parents[1] / "user_models.py")
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

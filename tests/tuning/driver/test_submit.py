"""What `tuning submit` uploads, how big it may be, which token it sends, what it refuses locally."""

import pytest
import yaml

from tuning.driver import jobs_api, submit
from tuning.errors import UserError


@pytest.fixture
def project(tmp_path, tiny_sweep):
    """A user's project with things that must stay home."""
    (tmp_path / "my_models.py").write_text("X = 1\n")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    for path in [
        ".git/config",
        ".env",
        ".env.local",
        "runs/old/result.json",
        "lightning_logs/v0/x",
        "ckpts/best.ckpt",
        "data/big.bin",
        "data/keep.csv",
        "pkg/__pycache__/m.pyc",
        "out/run/x.json",
    ]:
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
    assert jobs_api.auth_token() == (None, "no token")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert jobs_api.auth_token() == ("from-home", str(tmp_path / ".ray" / "auth_token"))
    (tmp_path / "t").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "t"))
    assert jobs_api.auth_token()[0] == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert jobs_api.auth_token() == ("from-env", "RAY_AUTH_TOKEN")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="RAY_AUTH_TOKEN_PATH .*missing: no such file"):
        jobs_api.auth_token()


def test_relative_storage_is_refused_before_anything_is_sent(project):
    with pytest.raises(UserError, match=r"run.storage './runs' is relative"):
        submit.resolve(str(project / "sweep.yaml"), [], None, None, project)
    cfg = submit.resolve(str(project / "sweep.yaml"), [], "s3://bucket/runs", "other", project)
    assert (cfg.run.storage, cfg.name) == ("s3://bucket/runs", "other")
    with pytest.raises(UserError, match="name"):
        submit.resolve(str(project / "sweep.yaml"), [], "/mnt/x", "bad name!", project)


def test_the_users_own_classes_are_checked_from_the_working_dir(project):
    (project / "my_models.py").write_text(
        (__import__("pathlib").Path(__file__).parents[2] / "user_models.py").read_text()
    )
    ok = ["model.class_path=my_models.LinearClassifier", "model.init_args={width: 64}", "search.space={}"]
    assert submit.resolve(str(project / "sweep.yaml"), ok, "/mnt/x", None, project).model.class_path
    with pytest.raises(UserError, match="widht"):
        submit.resolve(
            str(project / "sweep.yaml"),
            ok[:1] + ["model.init_args={widht: 64}", "search.space={}"],
            "/mnt/x",
            None,
            project,
        )


def test_a_non_http_address_is_refused():
    with pytest.raises(UserError, match="http://HEAD:8265"):
        jobs_api.connect("127.0.0.1:6379")


def test_an_address_where_nothing_listens_is_a_clear_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match="cannot reach the Ray dashboard"):
        jobs_api.connect(f"http://127.0.0.1:{port}")


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
    create_package(
        str(secrets_project),
        package,
        include_gitignore=True,
        excludes=ray_constants.get_runtime_env_default_excludes() + upload.excludes,
    )
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
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "tuning"),
            "submit",
            "sweep.yaml",
            "--dry-run",
            "--storage",
            "/mnt/shared/runs",
            "--include",
            ".env.example",
        ],
        cwd=secrets_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    uploaded = {line.split(None, 1)[1] for line in lines if line.startswith("upload  ")}
    assert uploaded == {
        *sp.CODE_FILES,
        sp.LINK_OK,
        "sweep.yaml",
        ".env.example",
        ".tuning-job-tuning-tiny-dry-run.yaml",
    }
    secrets = dict(line[8:].rsplit("  (", 1) for line in lines if line.startswith("secret  "))
    assert set(secrets) == {*sp.SECRET_FILES, sp.LINK_TO_SECRET}
    assert secrets["tls/server.key"] == "name *.key)" and secrets[sp.LINK_TO_SECRET] == "a link to .env, name .env)"
    assert [line for line in lines if line.startswith("include ")] == [
        "include .env.example  (uploaded on purpose, though it looks like a secret: name .env.*; re-included by "
        "--include .env.example)"
    ]
    assert {line.split()[1] for line in lines if line.startswith("skip    ")} == {*sp.LINKS_OUT, sp.LOOP}
    assert (
        lines[-1].startswith(f"would upload {len(uploaded)} files")
        and f"{len(secrets)} left out as likely secrets" in lines[-1]
    )
    assert "nothing was sent" in lines[-1] and not list(secrets_project.glob(".tuning-job-*"))


def test_plain_http_to_another_machine_warns_that_the_token_travels_unencrypted():
    assert "travels unencrypted" in jobs_api.plain_http_warning("http://10.0.0.5:8265", "t")
    assert "travels unencrypted" in jobs_api.plain_http_warning("http://head.example:8265", "t")
    for address in ["http://127.0.0.1:8265", "http://localhost:8265", "http://[::1]:8265", "https://10.0.0.5:8265"]:
        assert jobs_api.plain_http_warning(address, "t") is None, address
    assert jobs_api.plain_http_warning("http://10.0.0.5:8265", None) is None  # no token, nothing to leak


def test_the_warning_comes_before_the_connection_to_this_machines_own_address(monkeypatch, capsys):
    import socket

    import psutil

    own = next(
        (
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        ),
        None,
    )
    if own is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with socket.socket() as sock:
        sock.bind((own, 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret-token")
    with pytest.raises(UserError, match="cannot reach"):
        jobs_api.connect(f"http://{own}:{port}")
    assert "token travels unencrypted" in capsys.readouterr().err


class _Source:
    tuning_source = "RAY_AUTH_TOKEN"


def test_a_head_without_a_job_agent_yet_is_retried_for_a_bounded_time(monkeypatch, capsys):
    busy = RuntimeError(
        "Request failed with status code 500: No available agent to submit job, please try again later.."
    )
    answers = [busy, busy, "job-1"]

    def request():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert jobs_api.call(_Source(), "http://127.0.0.1:1", request) == "job-1"
    assert capsys.readouterr().err.count("job agent is not ready yet") == 2
    monkeypatch.setattr(jobs_api, "AGENT_RETRY_S", 2)

    def always_busy():
        raise busy

    with pytest.raises(jobs_api.ClusterError, match="no job agent ready after 2 s"):
        jobs_api.call(_Source(), "http://127.0.0.1:1", always_busy)


def test_a_5xx_from_the_cluster_is_one_line():
    text = (
        'Request failed with status code 500: Traceback (most recent call last):\n  File "x", line 1\n'
        "RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n"
        "ValueError: Job with submission_id j already exists. Please use a different submission_id.\n."
    )

    def request():
        raise RuntimeError(text)

    with pytest.raises(jobs_api.ClusterError) as caught:
        jobs_api.call(_Source(), "http://127.0.0.1:1", request)
    message = str(caught.value)
    assert "\n" not in message and "(HTTP 500)" in message and "j already exists" in message


# --- secrets found by what they are (issue 32) -------------------------------------------------------------
# Every credential below is made at test time (keys generated, tokens random) or assembled from pieces, so that
# this file itself holds no secret shape and goes up with the repository (see the clean-repository test).


def _random(alphabet: str, n: int) -> str:
    import secrets as randomness

    return "".join(randomness.choice(alphabet) for _ in range(n))


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"
AWS_ID, AWS_SECRET = "AKIA" + "IOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"  # AWS's docs' example


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    """Private keys as ssh-keygen and openssl write them: RSA (PEM), ed25519 (OpenSSH), PKCS#8 (as in a GCP key)."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    none = ser.NoEncryption()
    return {
        "rsa": rsa_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, none).decode(),
        "pkcs8": rsa_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, none).decode(),
        "ed25519": ed_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, none).decode(),
    }


def _pgp_private_key() -> str:
    import base64
    import os

    body = base64.encodebytes(os.urandom(600)).decode()
    armor = "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----"
    return f"{armor}\n\n{body}={base64.b64encode(os.urandom(3)).decode()}\n-----END PGP PRIVATE KEY BLOCK-----\n"


def found_on_the_cluster(keys: dict[str, str]) -> dict[str, str]:
    """Path -> content of every secret issue 32 found unpacked on a cluster's nodes, as the tools write them."""
    import base64
    import json

    github, hf = "gh" + "p_" + _random(ALNUM, 36), "hf_" + _random(ALNUM, 34)
    gcp = {
        "type": "service_account",
        "project_id": "demo-123",
        "private_key_id": _random(HEX, 40),
        "private_key": keys["pkcs8"],
        "client_email": "trainer@demo-123.iam.gserviceaccount.com",
    }
    boto = f"[Credentials]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    return {
        ".vault-token": "hvs." + _random(ALNUM, 91),
        ".cache/huggingface/token": hf,
        "secrets.yaml": f"wandb_api_key: {_random(HEX, 40)}\n",
        "config/secrets.json": json.dumps({"hf_token": hf}),
        "secrets.toml": f'[openai]\napi_key = "{_random(ALNUM, 48)}"\n',
        ".kaggle/kaggle.json": json.dumps({"username": "someone", "key": _random(HEX, 32)}),
        ".databrickscfg": f"[DEFAULT]\nhost = https://dbc-1234.cloud.databricks.com\ntoken = dapi{_random(HEX, 32)}\n",
        ".boto": boto,
        ".s3cfg": f"[default]\naccess_key = {AWS_ID}\nsecret_key = {AWS_SECRET}\n",
        ".config/gh/hosts.yml": f"github.com:\n    oauth_token: {github}\n    user: someone\n    git_protocol: https\n",
        ".cargo/credentials.toml": f'[registry]\ntoken = "cio{_random(ALNUM, 32)}"\n',
        ".gem/credentials": f"---\n:rubygems_api_key: rubygems_{_random(HEX, 48)}\n",
        ".terraformrc": f'credentials "app.terraform.io" {{\n  token = "{_random(ALNUM, 14)}.atlasv1.'
        f'{_random(ALNUM, 60)}"\n}}\n',
        "infra/credentials.tfrc.json": json.dumps({"credentials": {"app.terraform.io": {"token": _random(ALNUM, 90)}}}),
        ".my.cnf": f"[client]\nuser = trainer\npassword = {_random(ALNUM, 16)}\n",
        "vpn/office.ovpn": "client\ndev tun\nremote vpn.example.com 1194\nauth-user-pass\n<tls-auth>\n-----BEGIN "
        f"OpenVPN Static key V1-----\n{_random(HEX, 64)}\n-----END OpenVPN Static key V1-----\n"
        "</tls-auth>\n",
        "wg0.conf": f"[Interface]\nPrivateKey = {base64.b64encode(bytes(32)).decode()}\nAddress = 10.0.0.2/24\n",
        "notes/signing.asc": _pgp_private_key(),
        ".dockercfg": json.dumps({"https://index.docker.io/v1/": {"auth": base64.b64encode(b"me:pw").decode()}}),
        "sa-key.json": json.dumps(gcp, indent=2),
        "ID_RSA": keys["rsa"],
        "tls/SERVER.PEM": keys["rsa"],
        ".ENV": "DB_PASSWORD=hunter2\n",
        "id_rsa.bak": keys["rsa"],
        "id_rsa~": keys["rsa"],
        "prod.env": "API_TOKEN=hunter2\n",
    }


def _write(root, files: dict[str, str]):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_every_secret_found_on_the_cluster_stays_home(tmp_path, keys):
    # the list, the hard link to a key of the project's .ssh under an innocent name, and code that travels
    code = {"train.py": "import os\nTOKEN = os.environ['HF_TOKEN']\n", "conf.yaml": "lr: 0.1\n"}
    project = _write(tmp_path / "p", {**found_on_the_cluster(keys), ".ssh/id_ed25519": keys["ed25519"], **code})
    (project / "docs").mkdir()
    (project / "docs" / "notes.txt").hardlink_to(project / ".ssh" / "id_ed25519")
    upload = submit.plan_upload(project, "s3://bucket/runs")
    assert set(upload.files) == {"train.py", "conf.yaml"}
    assert set(upload.secrets) == {*found_on_the_cluster(keys), ".ssh/id_ed25519", "docs/notes.txt"}
    assert upload.secrets["docs/notes.txt"] == "content: Private Key (PrivateKeyDetector)"
    assert upload.secrets["notes/signing.asc"] == "content: Private Key (PrivateKeyDetector)"
    assert upload.secrets["ID_RSA"] == "name id_rsa" and upload.secrets["id_rsa~"] == "name id_rsa"


def test_what_ray_zips_holds_none_of_them(tmp_path, keys):
    # Ray's own packaging, with the excludes the plan gives it: exactly the listed files, no secret inside
    import zipfile

    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import create_package

    found = found_on_the_cluster(keys)
    project = _write(tmp_path / "p", {**found, "train.py": "X = 1\n", "Notes.TXT": "see README\n"})
    (project / "innocent.cfg").hardlink_to(project / ".vault-token")
    upload = submit.plan_upload(project, "s3://bucket/runs")
    package = tmp_path / "package.zip"
    create_package(
        str(project),
        package,
        include_gitignore=True,
        excludes=ray_constants.get_runtime_env_default_excludes() + upload.excludes,
    )
    with zipfile.ZipFile(package) as zipped:
        names = {name for name in zipped.namelist() if not name.endswith("/")}
        assert names == set(upload.files) == {"train.py", "Notes.TXT"}


def test_names_match_in_any_case_and_through_backup_suffixes(tmp_path):
    # what the file holds is no secret shape: only its name can leave it out
    names = [
        "ID_RSA",
        "keys/Id_Ed25519",
        "SERVER.PEM",
        ".ENV",
        "Prod.Env",
        "id_rsa.bak",
        "id_rsa~",
        "id_rsa.orig",
        "id_rsa.old",
        ".id_rsa.swp",
        "#id_rsa#",
        "id_rsa.~1~",
        ".netrc.BAK",
        "secrets.yaml.save",
        ".SSH.old/config",
        "kubeconfig (1)",
        "credentials.toml.orig",
        "WG0.CONF",
        "id_rsa.bak~",
    ]
    kept = [
        "id_rsa.pub",
        "notes/id_rsa.md",
        "environment.yml",
        "secrets.py",
        "docs/credentials.md",
        "keys.py",
        "bakery.py",
        "tokenizer.json",
        "model.old.py",
        "auth/credentials/__init__.py",
    ]  # a package, not a file
    project = _write(tmp_path, {rel: "do-not-upload-7f3a\n" for rel in names + kept})
    upload = submit.plan_upload(project, "s3://bucket/runs")
    assert set(upload.secrets) == set(names) and set(upload.files) == set(kept)
    assert upload.secrets["Prod.Env"] == "name *.env" and upload.secrets[".SSH.old/config"] == "name .ssh/"


def test_a_secret_is_found_by_its_content_whatever_the_file_is_called(tmp_path, keys):
    github = "gh" + "p_" + _random(ALNUM, 36)
    project = _write(
        tmp_path,
        {
            "notes/readme.txt": keys["ed25519"],
            "gcp.json": found_on_the_cluster(keys)["sa-key.json"],
            "deploy/settings.yaml": f"storage:\n  key_id: {AWS_ID}\n",
            "ci/publish.py": f'TOKEN = "{github}"\n',
            "client.py": f'API_KEY = "{_random(ALNUM, 40)}"\n',
            "model.py": "import torch\nLR = 1e-3\n",
        },
    )
    upload = submit.plan_upload(project, "s3://bucket/runs")
    assert upload.secrets == {
        "notes/readme.txt": "content: Private Key (PrivateKeyDetector)",
        "gcp.json": "content: Private Key (PrivateKeyDetector)",
        "deploy/settings.yaml": "content: AWS Access Key (AWSKeyDetector)",
        "ci/publish.py": "content: GitHub Token (GitHubTokenDetector)",
        "client.py": "content: Base64 High Entropy String (Base64HighEntropyString)",
    }
    assert set(upload.files) == {"model.py"}
    assert (
        "5 left out as likely secrets (secrets: 5 by content (AWS Access Key 1, Base64 High Entropy String 1, "
        "GitHub Token 1, Private Key 2))"
    ) in submit.summary(upload, project)


def test_a_hard_link_is_the_file_it_is(tmp_path, monkeypatch):
    home, project = tmp_path / "home", tmp_path / "project"
    vault = "hvs." + _random(ALNUM, 91)  # no detector knows Vault's tokens: only the name or the inode tells
    _write(home, {".vault-token": vault, ".aws/credentials": "[default]\nregion = x\n"})
    _write(project, {".vault-token": vault + "2", "model.py": "X = 1\n"})
    monkeypatch.setenv("HOME", str(home))
    (project / "ci.txt").hardlink_to(project / ".vault-token")
    (project / "token.txt").hardlink_to(home / ".vault-token")
    (project / "aws.ini").hardlink_to(home / ".aws" / "credentials")
    (project / "alias.txt").symlink_to("ci.txt")
    upload = submit.plan_upload(project, "s3://bucket/runs")
    assert upload.secrets == {
        ".vault-token": "name .vault-token",
        "ci.txt": "same file as .vault-token",
        "alias.txt": "same file as .vault-token",
        "token.txt": "same file as ~/.vault-token",
        "aws.ini": "same file as ~/.aws/credentials",
    }
    assert set(upload.files) == {"model.py"}
    line = submit.summary(upload, project)
    assert "5 left out as likely secrets (secrets: 1 by name, 4 another name for one)" in line


def _repository_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[3]


def test_the_repository_and_the_init_templates_are_not_flagged(tmp_path):
    from tuning.cli.scaffold import init_project, templates

    repo = submit.plan_upload(_repository_root(), "s3://bucket/runs")
    assert len(repo.files) > 100
    assert not {rel: why for rel, why in repo.secrets.items() if not why.startswith("name ")}
    for template in templates():
        init_project(str(tmp_path / template), template)
        upload = submit.plan_upload(tmp_path / template, "s3://bucket/runs")
        assert upload.files and not upload.secrets, (template, upload.secrets)


def test_a_secret_goes_up_on_purpose_with_include_and_it_is_said(tmp_path, keys, capsys):
    project = _write(
        tmp_path, {"fixtures/test_key.pem": keys["rsa"], "fixtures/signer.txt": keys["ed25519"], "model.py": "X = 1\n"}
    )
    upload = submit.plan_upload(project, "s3://bucket/runs", includes=["fixtures/"])
    assert set(upload.files) == {"model.py", "fixtures/test_key.pem", "fixtures/signer.txt"} and not upload.secrets
    assert upload.reincluded == {
        "fixtures/signer.txt": "content: Private Key (PrivateKeyDetector); re-included by --include fixtures/",
        "fixtures/test_key.pem": "name *.pem; re-included by --include fixtures/",
    }
    err = capsys.readouterr().err
    assert "note: uploading fixtures/signer.txt on purpose, though it looks like a secret (content: Private Key" in err
    assert "2 re-included with --include" in submit.summary(upload, project)


def test_files_over_the_scan_limit_are_searched_for_keys_and_listed(tmp_path, keys, tiny_sweep):
    import io

    from tuning.sweep.config import parse_sweep

    filler = "x" * (submit.secret_scan.MAX_SCAN_BYTES + 1)
    project = _write(
        tmp_path,
        {
            "data/table.csv": filler,
            "data/keyed.csv": filler + keys["rsa"],
            "data/id_rsa": filler,
            "model.py": "X = 1\n",
        },
    )
    cfg = parse_sweep({**tiny_sweep, "run": {"storage": "s3://bucket/runs"}})
    out = io.StringIO()
    upload = submit.dry_run(cfg, project, out=out)
    assert upload.secrets == {"data/id_rsa": "name id_rsa", "data/keyed.csv": "content: Private Key (any file) (shape)"}
    assert "data/table.csv" in upload.files
    lines = out.getvalue().splitlines()
    assert (
        "big     data/table.csv  (1.0 MiB: over 1 MiB, checked by name and for private keys and tokens only)" in lines
    )
    assert "1 over 1 MiB checked by name and for private keys and tokens only" in lines[-1]


def test_a_key_or_token_is_found_in_files_detect_secrets_does_not_read(tmp_path, keys):
    """detect-secrets skips images, archives and lock files by name, and knows no Hugging Face token."""
    binary = ["logo.png", "styles.css", "deploy.lock", "go.sum", "model.bin", "diagram.svg", "poetry.lock"]
    hf_token = "hf_" + _random("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 34)
    project = _write(
        tmp_path,
        {**{name: keys["ed25519"] for name in binary}, "hf_token.txt": hf_token + "\n", "model.py": "X = 1\n"},
    )
    upload = submit.plan_upload(project, "s3://bucket/runs")
    assert upload.secrets == {
        **{name: "content: Private Key (any file) (shape)" for name in binary},
        "hf_token.txt": "content: Hugging Face Token (shape)",
    }
    assert set(upload.files) == {"model.py"}


def test_a_sweep_that_holds_a_token_is_refused_before_it_leaves(tmp_path, tiny_sweep):
    import io

    from tuning.sweep.config import parse_sweep

    token = "gh" + "p_" + _random(ALNUM, 36)
    cfg = parse_sweep({**tiny_sweep, "description": f"uses {token}", "run": {"storage": "s3://bucket/runs"}})
    with pytest.raises(UserError, match=r"the sweep itself looks like it holds a secret \(content: GitHub Token"):
        submit.dry_run(cfg, tmp_path, out=io.StringIO())
    assert list(tmp_path.iterdir()) == []


# --- staged files never go through links (issue 32) ---------------------------------------------------------


def test_a_link_or_a_file_at_the_staging_path_is_never_written_or_removed(tmp_path, tiny_sweep):
    import io

    from tuning.sweep.config import parse_sweep

    outside, project = tmp_path / "outside.txt", tmp_path / "project"
    outside.write_text("the user's own file\n")
    project.mkdir()
    (project / "model.py").write_text("X = 1\n")
    cfg = parse_sweep({**tiny_sweep, "run": {"storage": "s3://bucket/runs"}})
    staging = project / ".tuning-job-tuning-tiny-dry-run.yaml"
    for planted in ("link", "file"):
        staging.symlink_to(outside) if planted == "link" else staging.write_text("mine\n")
        try:
            upload = submit.dry_run(cfg, project, out=io.StringIO())
        finally:
            assert outside.read_text() == "the user's own file\n"
        assert staging.is_symlink() if planted == "link" else staging.read_text() == "mine\n"
        staged = [rel for rel in upload.files if rel.startswith(".tuning-job-tuning-tiny-dry-run-")]
        assert len(staged) == 1, upload.files  # another name was taken, and removed afterwards
        assert sorted(p.name for p in project.iterdir()) == sorted([staging.name, "model.py"])
        staging.unlink()


SUBMIT_AND_HANG = """
import signal
import sys
from pathlib import Path

signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal, even where the tests run under nohup

import yaml

from tuning.sweep.config import parse_sweep
from tuning.driver import submit

cfg = parse_sweep(yaml.safe_load(Path(sys.argv[1]).read_text()))
submit.submit(cfg, sys.argv[2], Path(sys.argv[1]).parent, pip=[])
"""


@pytest.mark.parametrize("ending", ["SIGTERM", "SIGHUP"])
def test_a_stop_while_submitting_removes_the_staged_sweep(tmp_path, tiny_sweep, ending):
    # a head that accepts the connection and never answers: submit waits there with the sweep staged
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({**tiny_sweep, "run": {"storage": "/mnt/shared/runs"}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(tmp_path)}
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen()
        address = f"http://127.0.0.1:{head.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-c", SUBMIT_AND_HANG, str(tmp_path / "sweep.yaml"), address],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".tuning-job-*")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(tmp_path.glob(".tuning-job-*")), process.communicate(timeout=5)
        head.settimeout(120)
        waiting, _ = head.accept()  # submit asks the head, which never answers
        process.send_signal(getattr(signal, ending))
        _, err = process.communicate(timeout=60)
        waiting.close()
    assert process.returncode == 128 + getattr(signal, ending), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]


def test_the_dry_run_shows_file_names_inert(tmp_path, keys):
    """A file name is the user's (or a cloned repository's): its escapes and newlines are shown, not acted on."""
    import io

    from tuning.sweep.config import parse_sweep

    (tmp_path / "file\x1b]0;T\x07\x1b[31m.txt").write_text("x")
    (tmp_path / "nl\nname.py").write_text("x")
    (tmp_path / "k\x1b[2Jey.txt").write_text(keys["ed25519"])
    from tests.synthetic_sweeps import branin_sweep

    cfg = parse_sweep(branin_sweep({"name": "optuna"}, {"name": "fifo"}, 1, name="n"))
    out = io.StringIO()
    submit.dry_run(cfg, tmp_path, out=out)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "upload  file\\x1b]0;T\\x07\\x1b[31m.txt" in text and "upload  nl\\nname.py" in text
    assert "secret  k\\x1b[2Jey.txt" in text

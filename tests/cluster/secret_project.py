"""A user's project holding one file of every kind of secret `tuning submit` must leave at home.

Shared by the packaging tests (tests/tuning/driver/test_submit.py) and the upload to the two-node cluster
(tests/cluster/test_jobs.py).
"""

from pathlib import Path

# One file per kind of secret; every pattern of tuning.driver.submit.SECRET_PATTERNS matches one of them.
SECRET_FILES = [
    ".ssh/config",
    "keys/id_rsa",
    "id_dsa",
    "deploy/id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    "putty.ppk",
    "tls/server.pem",
    "tls/server.key",
    "cert.p12",
    "cert.pfx",
    "app.jks",
    "release.keystore",
    "svc.keytab",
    ".gnupg/pubring.kbx",
    "backup.gpg",
    "secring.skr",
    "vault.kdbx",
    ".aws/credentials",
    ".azure/msal_token_cache.json",
    "gcloud/credentials.db",
    "application_default_credentials.json",
    "conf/credentials.json",
    "service-account-prod.json",
    "client_secret_123.apps.json",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".docker/config.json",
    ".kube/config",
    "kubeconfig",
    "prod.kubeconfig",
    ".ray/auth_token",
    ".pgpass",
    ".htpasswd",
    "infra/terraform.tfstate",
    "infra/terraform.tfstate.backup",
    ".env",
    ".env.local",
    ".envrc",
    "pkg/.env",
]
# Code that must travel, some of it with names close to a secret's.
CODE_FILES = ["my_models.py", "pkg/__init__.py", "pkg/keys.py", "notes/id_rsa.pub.md", "docs/credentials.md"]
SECRET_TEXT = "do-not-upload-7f3a"  # the content of every secret file and of the file outside the project
# Links: out of the project (a directory and a file), another name for a secret, a loop, one harmless.
LINKS_OUT = {"outside_dir": "", "outside_file": "stolen.txt"}
LINK_TO_SECRET, LOOP, LINK_OK = "alias.cfg", "self", "pkg/same_models.py"


def make_secret_project(root: Path, outside: Path) -> Path:
    """Fill `root` with CODE_FILES, SECRET_FILES, `.env.example`, and the links; `outside` gets stolen.txt."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "stolen.txt").write_text(SECRET_TEXT)
    for rel in SECRET_FILES + [".env.example"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(SECRET_TEXT)
    for rel in CODE_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if not (root / rel).exists():
            (root / rel).write_text("X = 1\n")
    for rel, target in LINKS_OUT.items():
        (root / rel).symlink_to(outside / target)
    (root / LINK_TO_SECRET).symlink_to(".env")
    (root / LOOP).symlink_to(".")
    (root / LINK_OK).symlink_to("../my_models.py")
    return root

"""Which files of an upload are likely secrets: by name, by content, and by being another name for one.

- Names: gitignore-style patterns matched case-insensitively (`ID_RSA`, `SERVER.PEM`) and through backup,
  swap and editor-copy suffixes (`id_rsa.bak`, `id_rsa~`, `.id_rsa.swp`, `#id_rsa#`).
- Content: detect-secrets' own detectors (private keys, cloud keys, service tokens, high-entropy strings),
  on text files up to MAX_SCAN_BYTES; and in every file, whatever its size or kind, the shapes of ANYWHERE
  (private keys, Hugging Face tokens).
- Identity: a hard link or symlink to a file left out is that file, and so is a hard link to a well-known
  credential file in the home directory (`~/.ssh/id_ed25519` under an innocent name).
"""

import contextlib
import dataclasses
import os
import re
from pathlib import Path

# Names beyond tuning.driver.submit.SECRET_PATTERNS (which the launcher configs' rsync_exclude also carry):
# matched here only, each file left out by its exact path. Lower case: names are compared lower-cased.
MORE_SECRET_PATTERNS = [
    ".vault-token",
    "**/huggingface/token",
    "**/huggingface/stored_tokens",
    ".kaggle/",
    "kaggle.json",
    ".databrickscfg",
    ".boto",
    ".s3cfg",
    "**/gh/hosts.yml",
    "credentials",
    "credentials.toml",
    "credentials.yaml",
    "credentials.yml",
    "credentials.ini",
    "credentials.tfrc.json",
    ".terraformrc",
    "terraform.rc",
    "*.tfvars",
    ".my.cnf",
    ".mylogin.cnf",
    "*.ovpn",
    "wg[0-9]*.conf",
    "**/wireguard/*.conf",
    ".dockercfg",
    "*sa-key*.json",
    "*-key.json",
    "*_key.json",
    "key.json",
    "keyfile.json",
    "*.env",
    *[
        f"{stem}.{ext}"
        for stem in ("secret", "secrets")
        for ext in ("yaml", "yml", "json", "toml", "ini", "cfg", "conf", "env", "txt")
    ],
]
# What a copy of a file is called by editors, `cp --backup`, merge tools and file managers.
BACKUP_SUFFIX = re.compile(
    r"(?:\.(?:bak|backup|orig|old|save|sav|swp|swo|swn|tmp|\d{1,3})|~|\.~\d+~"
    r"| - copy| copy| \(\d+\))$"
)
# detect-secrets' detectors that recognise a secret by its shape. Left out: KeywordDetector (`password =
# "testing"` in tests), BasicAuthDetector (user:password@host examples in docs), IPPublicDetector (not a
# secret), HexHighEntropyString (every sha256 and commit id in a lock file or an environment record), and the
# keyword-anchored IBM Cloud, SoftLayer, Cloudant and Artifactory patterns, three quarters of all the patterns'
# time on ordinary code (their keys are long random strings, which the high-entropy detector sees).
DETECTORS = [
    "PrivateKeyDetector",  # PEM/OpenSSH/PGP/PuTTY private keys, also inside a GCP service-account JSON
    "AWSKeyDetector",
    "AzureStorageKeyDetector",  # cloud keys
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "SlackDetector",
    "StripeDetector",
    "TwilioKeyDetector",
    "SendGridDetector",
    "MailchimpDetector",
    "NpmDetector",
    "PypiTokenDetector",
    "OpenAIDetector",
    "DiscordBotTokenDetector",
    "TelegramBotTokenDetector",
    "SquareOAuthDetector",
    "JwtTokenDetector",  # tokens
    "Base64HighEntropyString",  # anything else random enough, at detect-secrets' default limit of 4.5 bits
]
HIGH_ENTROPY = "Base64HighEntropyString"
# detect-secrets' default filters of false positives, less three that hide real secrets here:
# is_indirect_reference skips every line shaped `x = f(...)`, such as
# `boto3.client("s3", aws_access_key_id="AKIA...")`; is_swagger_file skips any file with "swagger" in its
# name; is_line_allowlisted obeys `pragma: allowlist secret` comments, where only --include re-includes a
# file here, and says so.
FILTERS = [
    f"detect_secrets.filters.heuristic.{name}"
    for name in (
        "is_sequential_string",
        "is_potential_uuid",
        "is_likely_id_string",
        "is_templated_secret",
        "is_prefixed_with_dollar_sign",
        "is_lock_file",
        "is_not_alphanumeric_string",
    )
]
MAX_SCAN_BYTES = (
    2**20
)  # bigger files are data or checkpoints: detect-secrets reads none of them, so a submit stays fast
# Shapes searched in every file, whatever its size, extension or kind (detect-secrets skips images, archives and
# lock files, and files over MAX_SCAN_BYTES here): a private key is a private key under any name, and a
# Hugging Face token (which detect-secrets has no detector for) is found unquoted too.
ANYWHERE = {
    "Private Key (any file)": re.compile(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY|PuTTY-User-Key-File-\d"),
    "Hugging Face Token": re.compile(rb"(?<![A-Za-z0-9_])hf_[A-Za-z]{34}(?![A-Za-z0-9])"),
}
_CHUNK, _OVERLAP = 1 << 20, 64  # read in chunks; a shape cut by a chunk's end is whole in the overlap
# Known places of credentials in a home directory: a hard link into the project is found by its inode.
HOME_SECRET_DIRS = [".ssh", ".aws", ".azure", ".config/gcloud", ".kube", ".gnupg/private-keys-v1.d", ".ray"]
HOME_SECRET_FILES = [
    ".cache/huggingface/token",
    ".huggingface/token",
    ".kaggle/kaggle.json",
    ".docker/config.json",
    ".config/gh/hosts.yml",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".gem/credentials",
    ".terraform.d/credentials.tfrc.json",
]


class NameMatcher:
    """Secret name patterns (gitignore-style), matched case-insensitively and through backup suffixes.

    A pattern without a trailing `/` names a file here: `credentials` leaves out a file of that name, not a
    package `credentials/` of code (Ray's own matching of SECRET_PATTERNS, which it also gets, would).
    """

    def __init__(self, patterns: list[str]):
        from tuning.compat import ray as ray_compat

        self.patterns = list(zip(patterns, ray_compat.gitwildmatch([p.lower() for p in patterns]).patterns))

    def __call__(self, rel: str, is_dir: bool = False) -> str | None:
        """`name PATTERN` for the first pattern `rel` (or what it is a copy of) matches; else None."""
        *parents, base = rel.split("/")
        parent = "".join(_strip_copies(part) + "/" for part in parents)
        tail = "/" if is_dir else ""
        candidates = {rel.lower() + tail} | {parent + name + tail for name in copies_of(base)}
        for text, pattern in self.patterns:
            if pattern.include and any(self._names(text, pattern, path) for path in candidates):
                return f"name {text}"
        return None

    @staticmethod
    def _names(text: str, pattern, path: str) -> bool:
        above = path.rstrip("/").rpartition("/")[0]  # a match there is a directory's
        return bool(pattern.regex.match(path)) and (text.endswith("/") or not above or not pattern.regex.match(above))


def _strip_copies(name: str) -> str:
    name = name.lower()
    while (stripped := BACKUP_SUFFIX.sub("", name)) not in (name, ""):
        name = stripped
    return name


def copies_of(name: str) -> set[str]:
    """`name` lower-cased and every name it may be a copy of: `ID_RSA.bak~` -> {id_rsa.bak~, id_rsa.bak, id_rsa}."""
    seen, todo = set(), [name.lower()]
    while todo:
        current = todo.pop()
        if not current or current in seen:
            continue
        seen.add(current)
        todo.append(BACKUP_SUFFIX.sub("", current))
        if current.startswith(".#"):  # Emacs' lock file
            todo.append(current[2:])
        if len(current) > 2 and current[0] == current[-1] == "#":  # Emacs' autosave
            todo.append(current[1:-1])
        if current.startswith(".") and current.endswith((".swp", ".swo", ".swn")):  # Vim's swap file
            todo.append(current[1:-4])
    return seen


def _mixed(value: str) -> bool:
    return bool(re.search(r"[a-z]", value) and re.search(r"[A-Z]", value) and re.search(r"[0-9]", value))


# The characters of detect-secrets' base64 strings, 23 or more of them: a string's entropy is at most log2 of
# the number of distinct characters in it, and 4.5 bits (the limit) needs 2**4.5 ~ 23 of them.
_LONG_RUN = re.compile(r"[A-Za-z0-9+/=_\\-]{23,}")


def _could_be_random(run: str) -> bool:
    return len(set(run)) >= 23 and _mixed(run)


class ContentScanner:
    """detect-secrets on one file at a time; `scan(path)` -> `content: TYPE (Detector)` or None.

    detect-secrets calls each detector on each line through its dependency injection (~10 us a call): a file
    is handed to it with only the detectors whose own patterns occur somewhere in it (the high-entropy one
    where a long run of mixed case holds 23 distinct characters), and most source files with none at all.
    """

    def __init__(self, settings):
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        classes = {cls.__name__: (kind, cls) for kind, cls in get_mapping_from_secret_type_to_class().items()}
        self.settings, self.detector = settings, {classes[name][0]: name for name in DETECTORS}
        self.shapes = {
            name: [re.compile(rx.pattern, rx.flags | re.MULTILINE) for rx in classes[name][1]().denylist]
            for name in DETECTORS
            if name != HIGH_ENTROPY
        }

    def detectors_for(self, text: str) -> list[str]:
        """The DETECTORS that could find something in `text` (whose patterns match somewhere in it)."""
        names = [name for name, shapes in self.shapes.items() if any(shape.search(text) for shape in shapes)]
        if any(_could_be_random(run.group()) for run in _LONG_RUN.finditer(text)):
            names.append(HIGH_ENTROPY)
        return names

    def scan(self, path: Path) -> str | None:
        from detect_secrets.core.scan import scan_file
        from detect_secrets.filters.heuristic import is_non_text_file

        if is_non_text_file(str(path)):  # images, archives, ...: detect-secrets reads none of them
            return None
        try:
            with open(path, "rb") as handle:
                text = handle.read(MAX_SCAN_BYTES).decode("utf-8", errors="replace")
        except OSError:
            return None
        names = self.detectors_for(text)
        if not names:
            return None
        self.settings.disable_plugins(*list(self.settings.plugins))
        self.settings.configure_plugins([{"name": name} for name in names])
        for found in scan_file(str(path)):
            # Paths, slugs and hashes in configs are random enough but single-case; keys and tokens are not.
            if found.type in self.detector and (
                self.detector[found.type] != HIGH_ENTROPY or _mixed(found.secret_value)
            ):
                return f"content: {found.type} ({self.detector[found.type]})"
        return None


@contextlib.contextmanager
def content_scanner():
    """A ContentScanner, with detect-secrets' settings (global to it) set to FILTERS meanwhile."""
    from detect_secrets.settings import transient_settings

    with transient_settings(
        {"plugins_used": [{"name": name} for name in DETECTORS], "filters_used": [{"path": path} for path in FILTERS]}
    ) as settings:
        yield ContentScanner(settings)


@dataclasses.dataclass
class Verdicts:
    """What classify found: files left out and why, re-included files and why they looked like secrets,
    and files detect-secrets did not read (over MAX_SCAN_BYTES: path -> size; ANYWHERE's shapes were searched)."""

    left_out: dict[str, str] = dataclasses.field(default_factory=dict)
    reincluded: dict[str, str] = dataclasses.field(default_factory=dict)
    unscanned: dict[str, int] = dataclasses.field(default_factory=dict)


def anywhere(path: Path) -> str | None:
    """`content: KIND (shape)` when one of ANYWHERE's shapes occurs somewhere in the file, else None."""
    tail = b""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                window, tail = tail + chunk, (tail + chunk)[-_OVERLAP:]
                found = next((kind for kind, shape in ANYWHERE.items() if shape.search(window)), None)
                if found:
                    return f"content: {found} (shape)"
    except OSError:
        return None
    return None


def include_matcher(includes):
    """`match(rel)`: the first --include pattern (gitignore-style, as Ray applies it) matching `rel`, or None."""

    from tuning.compat import ray as ray_compat

    specs = [(pattern, ray_compat.gitwildmatch([pattern])) for pattern in includes]

    def match(rel: str) -> str | None:
        return next((pattern for pattern, spec in specs if spec.match_file(rel)), None)

    return match


def classify(root: Path, files: dict[str, int], names: NameMatcher, includes=(), home: Path | None = None) -> Verdicts:
    """Judge every file an upload would carry (`files`: path relative to `root` -> size) by name, by
    content and by identity; a file an --include pattern matches is never left out, only reported."""
    verdicts, suspects, included = Verdicts(), {}, include_matcher(includes)
    with content_scanner() as scanner:
        for rel, size in sorted(files.items()):
            reason = names(rel)
            if reason is None and size <= MAX_SCAN_BYTES:
                reason = scanner.scan(root / rel)
            reason = reason or anywhere(root / rel)
            if reason:
                suspects[rel] = reason
            elif size > MAX_SCAN_BYTES:
                verdicts.unscanned[rel] = size
    for rel, reason in suspects.items():
        pattern = included(rel)
        target = verdicts.reincluded if pattern else verdicts.left_out
        target[rel] = f"{reason}; re-included by --include {pattern}" if pattern else reason
    rest = [rel for rel in files if rel not in suspects and not included(rel)]
    verdicts.left_out.update(same_files(root, rest, verdicts.left_out, names, home))
    return verdicts


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def same_files(
    root: Path, rels: list[str], left_out: dict[str, str], names: NameMatcher, home: Path | None
) -> dict[str, str]:
    """Files among `rels` that are another name (hard link, or symlink) for a file left out, or a hard link
    to a credential file of the home directory: path -> `same file as OTHER`."""
    known = {}
    for rel in sorted(left_out):
        known.setdefault(_identity(root / rel), rel)
    if any(_links(root / rel) > 1 for rel in rels):  # only a hard link can be one to a file out of the project
        for ident, rel in home_secrets(home or _home(), names).items():
            known.setdefault(ident, f"~/{rel}")
    known.pop(None, None)
    found = {}
    for rel in rels:
        other = known.get(_identity(root / rel))
        if other is not None:
            found[rel] = f"same file as {other}"
    return found


def _home() -> Path:
    try:
        return Path.home()
    except RuntimeError:  # no HOME and no passwd entry: no home directory to look in
        return Path("/nonexistent")


def _links(path: Path) -> int:
    try:
        return path.stat().st_nlink
    except OSError:
        return 1


def home_secrets(home: Path, names: NameMatcher, limit: int = 2000) -> dict[tuple[int, int], str]:
    """(device, inode) -> path relative to `home` of its well-known credential files (at most `limit`)."""
    found = {}
    places = [home / rel for rel in HOME_SECRET_FILES]
    with contextlib.suppress(OSError):
        places += [entry for entry in home.iterdir() if names(entry.name)]
    for top in HOME_SECRET_DIRS:
        for folder, _, children in os.walk(home / top):
            places += [Path(folder) / child for child in children]
            if len(places) > limit:
                break
    for path in places[:limit]:
        if path.is_file() and not path.is_symlink() and (ident := _identity(path)):
            found[ident] = path.relative_to(home).as_posix()
    return found


def link_watch(root: Path, names, includes, secret_links: dict, skipped: dict):
    """An exclude for Ray's walk that leaves out symlinks to outside the project, loops, and links to secrets."""
    real, included = root.resolve(), include_matcher(includes)

    def watch(path: Path) -> bool:
        if not path.is_symlink():
            return False
        rel, target = path.relative_to(root).as_posix(), path.resolve()
        reason = names(rel, path.is_dir())
        if reason and not included(rel):  # the link itself looks like a secret
            secret_links[rel] = f"{reason} (a link to {target})"
            return True
        if not target.is_relative_to(real) or (target.is_dir() and path.parent.resolve().is_relative_to(target)):
            skipped[rel] = str(target)
            return True
        inside = target.relative_to(real).as_posix()
        if names(inside, target.is_dir()) and not included(rel):
            secret_links[rel] = f"a link to {inside}, {names(inside, target.is_dir())}"
            return True
        return False

    return watch


def reasons(secrets: dict[str, str]) -> str:
    """How `secrets` (path -> why) were found: `40 by name, 2 by content (AWS Access Key 1, Private Key 1),
    1 another name for one`."""
    by_name = another = 0
    detectors: dict[str, int] = {}
    for why in secrets.values():
        if why.startswith("content: "):  # `content: TYPE (Detector)`
            kind = why.split(": ", 1)[1].split(" (")[0]
            detectors[kind] = detectors.get(kind, 0) + 1
        elif why.startswith(("same file as ", "a link to ")):
            another += 1
        else:
            by_name += 1
    parts = [f"{by_name} by name"] if by_name else []
    if detectors:
        listing = ", ".join(f"{kind} {count}" for kind, count in sorted(detectors.items()))
        parts.append(f"{sum(detectors.values())} by content ({listing})")
    return ", ".join(parts + ([f"{another} another name for one"] if another else []))

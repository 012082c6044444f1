"""The package builds whole from any checkout: the built-ins in the top-level models/ and data/ install as
`tuning.models` and `tuning.data` through pyproject.toml's package-dir, with no link in the repository that a
checkout without symlinks (`git -c core.symlinks=false clone`, Windows' default) would turn into a plain file.

The wheel and the sdist are built from a copy of the working tree made as such a checkout makes it (each link a
file holding its target), outside the repository, so the build leaves nothing in it. The wheel must hold every
file of tuning/, models/ and data/ (modules, the sweeps, the templates) and nothing else; the sdist must build
the same wheel; the wheel, installed into a folder of its own, must import the built-ins from there.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib

pytestmark = [
    pytest.mark.integration,  # builds and installs a wheel (about 30 s)
    pytest.mark.needs("git", reason="the files of the checkout are the ones git tracks"),
]

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = ("tuning/assets/",)  # the README's pictures
BUILT_INS = [
    "tuning/models/__init__.py",
    "tuning/models/mlp.py",
    "tuning/data/__init__.py",
    "tuning/data/digits.py",
    "tuning/sweeps/quickstart.yaml",
    "tuning/templates/custom/sweep.yaml",
    "tuning/templates/custom/package/model.py",
]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _files() -> list[str]:
    """The working tree's files a commit would hold: tracked and not deleted, or new and not ignored."""
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    return sorted({f for f in listed if f and os.path.lexists(ROOT / f)})


def _installed_path(repository_path: str) -> str | None:
    """Where a file of the repository lies in the installed package; None for one that is not shipped."""
    top, _, rest = repository_path.partition("/")
    if top in ("models", "data") and rest:
        return f"tuning/{top}/{rest}"
    if top == "tuning" and not repository_path.startswith(NOT_SHIPPED):
        return repository_path
    return None


def _checkout_without_symlinks(dest: Path) -> None:
    """The working tree's files as `git -c core.symlinks=false` checks them out: a link is a file holding its target."""
    for rel in _files():
        source, target = ROOT / rel, dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.write_text(os.readlink(source))
        else:
            shutil.copy2(source, target)


def _build_wheel(source: Path, dist: Path) -> tuple[Path, str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        cwd=dist.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    return wheel, result.stdout + result.stderr


def _build_sdist(source: Path, dist: Path) -> Path:
    """The sdist, built by the backend pyproject.toml names (what `python -m build --sdist --no-isolation` calls)."""
    backend = tomllib.loads((source / "pyproject.toml").read_text())["build-system"]["build-backend"]
    script = f"import importlib, sys; print(importlib.import_module({backend!r}).build_sdist(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", script, str(dist)], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dist / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel, its build's output, sdist, the wheel built from the sdist), all from a checkout without symlinks."""
    base = tmp_path_factory.mktemp("packaging")
    _checkout_without_symlinks(base / "checkout")
    wheel, output = _build_wheel(base / "checkout", base / "dist")
    sdist = _build_sdist(base / "checkout", base / "sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(base / "unpacked", filter="data")
    (unpacked,) = (base / "unpacked").iterdir()
    from_sdist, _ = _build_wheel(unpacked, base / "dist-from-sdist")
    return wheel, output, sdist, from_sdist


def _wheel_files(wheel: Path) -> set[str]:
    return {n for n in zipfile.ZipFile(wheel).namelist() if not n.endswith("/")}


def test_the_repository_holds_no_symlink():
    links = [line.split("\t", 1)[1] for line in _git("ls-files", "-s").splitlines() if line.startswith("120000 ")]
    assert links == [], f"tracked symlinks, plain files in a checkout without symlinks: {links}"
    assert [f for f in _files() if (ROOT / f).is_symlink()] == []


def test_the_wheel_holds_every_module_and_file_of_package_data_and_nothing_else(built):
    wheel, output, _, _ = built
    files = _wheel_files(wheel)
    metadata = {f for f in files if f.split("/")[0].endswith(".dist-info")}
    expected = {p for p in map(_installed_path, _files()) if p}
    assert set(BUILT_INS) <= expected, "the expected list is read"
    assert sorted(files - metadata) == sorted(expected)  # no top-level models/ or data/ that a user's would clash with
    (top_level,) = (f for f in metadata if f.endswith("/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["tuning"]
    # A folder of code or data pyproject.toml's `packages` does not list: setuptools warns and would drop its modules.
    assert "is absent from the `packages` configuration" not in output, output[-3000:]


def test_the_sdist_holds_the_sources_and_builds_the_same_wheel(built):
    wheel, _, sdist, from_sdist = built
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    shipped = [f for f in _files() if _installed_path(f)]
    assert {"pyproject.toml", "README.md", "models/mlp.py", "data/digits.py"} <= names
    assert sorted(set(shipped) - names) == []
    assert sorted(_wheel_files(from_sdist)) == sorted(_wheel_files(wheel))


PROBE = """
import importlib, json, tuning
from tuning.data import DATA
from tuning.models import MODELS
from tuning.sweep.config import SWEEPS_DIR
files = [tuning.__file__, str(SWEEPS_DIR / "quickstart.yaml")]
for target in {**MODELS, **DATA}.values():  # every built-in class, imported (with torch) from the installed files
    module, _, name = target.partition(":")
    files.append(importlib.import_module(module).__file__)
    assert isinstance(getattr(importlib.import_module(module), name), type), target
print(json.dumps(files))
"""


def test_the_installed_wheel_imports_every_built_in_from_outside_the_checkout(built, tmp_path):
    wheel = built[0]
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-cache-dir",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    project = tmp_path / "project"  # a user's folder with its own models/ and data.py: neither shadows the built-ins
    (project / "models").mkdir(parents=True)
    (project / "models" / "__init__.py").write_text("raise ImportError('the project, not tuning')\n")
    (project / "data.py").write_text("raise ImportError('the project, not tuning')\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = json.loads(result.stdout.splitlines()[-1])
    assert all(Path(f).is_file() and Path(f).is_relative_to(target) for f in files), files
    assert {"tuning/models/mlp.py", "tuning/data/digits.py"} <= {Path(f).relative_to(target).as_posix() for f in files}


def test_the_checkouts_own_folder_finds_the_built_ins_the_wheel_maps():
    """`tuning` imported from the checkout's folder (run from the repository root: Ray puts that directory first on
    a trial worker's path, ahead of the install) finds tuning.data and tuning.models in data/ and models/, as the
    wheel's package-dir does. Without site-packages (-S): no install, no editable finder, only the folder; found,
    not imported (they import torch)."""
    code = (
        "import importlib.util, json, tuning\n"
        "print(json.dumps([tuning.__file__] + [importlib.util.find_spec(m).origin for m in ('tuning.data', "
        "'tuning.models')]))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, env={"PATH": os.environ["PATH"]}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        str(ROOT / p) for p in ("tuning/__init__.py", "data/__init__.py", "models/__init__.py")
    ]

"""One style for every file: ruff's lint rules and its formatter, with the settings in pyproject.toml ([tool.ruff])."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing_to_fix():
    result = ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check (fix with `ruff check --fix`):\n{result.stdout}{result.stderr}"


def test_every_file_is_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, f"ruff format --check (fix with `ruff format`):\n{result.stdout}{result.stderr}"

"""Which libraries a piece of code leaves imported, run in a fresh interpreter (start-up cost tests)."""

import json
import subprocess
import sys

MARKER = "IMPORTED="


def fresh_imports(code: str, names, *argv: str):
    """Run `code` (then `argv`) in a fresh interpreter; returns (stdout before the probe line, stderr, the
    members of `names` it imported). Fails if the code fails."""
    listed = f"sorted(m for m in {tuple(names)!r} if m in sys.modules)"
    probe = f"{code}\nimport json, sys\nprint({MARKER!r} + json.dumps({listed}))"
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True)
    before, _, imported = result.stdout.rpartition(MARKER)
    return before, result.stderr, json.loads(imported)

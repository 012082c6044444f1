"""`tuning ARGS` in this process, for commands that start nothing (report, export, validate, compare): the
same exit code and output as the command line, without a Python start-up and its imports per call."""

import contextlib
import io
import subprocess


def tuning_here(*args: str) -> subprocess.CompletedProcess:
    """Run `tuning.cli.main(args)` with stdout and stderr captured, as subprocess.run would return it."""
    from tuning.cli.commands import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["tuning", *args], code, out.getvalue(), err.getvalue())

"""The command line: `tuning VERB ...` (the `tuning` entry point is `main`).

commands: the parser and the sweep and report verbs; finders: find-lr, find-batch-size; jobs: submit,
jobs, status, logs, stop; scaffold: init. Every other wing is imported inside the verb that needs it,
so `tuning --help` and `tuning validate` stay light.
"""

from tuning.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]

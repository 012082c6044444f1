"""The `tuning` command line: parse arguments, call one function, map errors to exit codes.

Exit codes: 0 success; 3 the sweep finished but some trials errored (listed on stderr); 2 bad input
(message on stderr, no traceback); 130 interrupted; 1 anything else.
Nothing here imports torch or ray; the commands import what they need when they run.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

from tuning.cli import signals
from tuning.cli.args import add_sweep_args, experiment_name, ray_address
from tuning.cli.dashboard import add_dashboard
from tuning.cli.finders import COMMANDS as FINDER_COMMANDS
from tuning.cli.jobs import COMMANDS as JOB_COMMANDS
from tuning.cli.jobs import add_upload_args
from tuning.errors import UserError, disk_full, disk_full_message
from tuning.report import FORMATS  # the report's formats registry: --format's choices (the report imports no Ray)
from tuning.search.registry import either, names_with
from tuning.text import inert, inert_lines, shell_command

EXIT_TRIALS_ERRORED = 3
SCOPES = ("best", "last")


def _run(args) -> int | None:
    with signals.sigterm_as_ctrl_c():  # the whole command, preparation included
        from tuning.driver import run_sweep
        from tuning.report import load_report
        from tuning.storage import local_copy
        from tuning.sweep.config import load_sweep

        cfg = load_sweep(args.sweep, args.set)
        exp_dir = run_sweep(
            cfg, storage=args.storage, name=args.name, address=args.address, resume_existing=args.resume_existing
        )
        return _finished(load_report(local_copy(str(exp_dir))), exp_dir)


def _finished(report, exp_dir) -> int | None:
    """The ranked table of a finished sweep; exit code 3 if trials errored."""
    from tuning.report import render

    print()
    print(render(report, "table", top=10))
    print(f"\nexperiment: {inert(exp_dir)}\nfull report: {shell_command('tuning', 'report', exp_dir)}")
    return _errored(report)


def _errored(report) -> int | None:
    """Exit code 3, with each errored trial's last error line on stderr, if any trial errored."""
    errored = [t for t in report.trials if t.status == "errored"]
    for trial in errored:
        print(inert(f"trial {trial.trial_id} errored: {trial.error or 'no error file'}"), file=sys.stderr)
    if errored:
        print(f"{len(errored)} of {len(report.trials)} trials errored (exit code 3)", file=sys.stderr)
        return EXIT_TRIALS_ERRORED
    return None


def _resume(args) -> int | None:
    if (args.address or "").startswith(("http://", "https://")):  # the dashboard: the resume runs as a job there
        from tuning.cli.jobs import resume_job

        return resume_job(args)
    with signals.sigterm_as_ctrl_c():  # see _run
        from tuning.driver import resume_sweep
        from tuning.report import load_report
        from tuning.storage import local_copy

        exp_dir = resume_sweep(
            args.experiment,
            address=args.address,
            retry_errored=not args.skip_errored,
            more=args.more,
            overrides=args.set,
        )
        return _finished(load_report(local_copy(str(exp_dir))), exp_dir)


def _validate(args) -> None:
    import yaml

    from tuning.sweep.classes import check_classes
    from tuning.sweep.config import load_sweep

    cfg = load_sweep(args.sweep, args.set)
    check_classes(cfg, static=True)  # from source where it can: no torch or Lightning import
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    from tuning.driver import expected_trials
    from tuning.sweep.space import describe, flat_domains, is_conditional

    trials, searched = expected_trials(cfg), len(flat_domains(cfg.search.space))  # num_samples x grid points
    if is_conditional(cfg.search.space):  # the YAML above nests deep: the tree, one line per entry
        print("# search space (each value of a conditional choice samples the keys below it):", file=sys.stderr)
        print("\n".join(f"#   {inert(line)}" for line in describe(cfg.search.space)), file=sys.stderr)
    print(
        f"# ok: {trials} trial{'s' * (trials != 1)}, {searched} searched parameter{'s' * (searched != 1)}, "
        f"searcher {cfg.search.searcher.name}, scheduler {cfg.search.scheduler.name}",
        file=sys.stderr,
    )


def _confirm(args) -> int | None:
    with signals.sigterm_as_ctrl_c():  # see _run; what follows the sweep only reads
        from tuning.driver import confirmed, render_confirmed, run_confirm
        from tuning.report import load_report

        exp_dir = run_confirm(
            args.experiment, args.top, args.seeds, storage=args.storage, name=args.name, address=args.address
        )
    print()
    print(inert_lines(render_confirmed(*confirmed(str(exp_dir)))))  # configs and trial ids of the experiment
    print(f"\nexperiment: {inert(exp_dir)}")
    return _errored(load_report(str(exp_dir)))


def _init(args) -> None:
    from tuning.cli.scaffold import init_project

    written = init_project(args.directory, args.template, force=args.force)
    for path in written:
        print(f"wrote {inert(path)}")
    print(f"\nnext: {shell_command('cd', args.directory)} && tuning validate sweep.yaml && tuning run sweep.yaml")


def _sweeps(args) -> None:
    from tuning.sweep.config import builtin_sweeps
    from tuning.sweep.file import read_yaml

    for name, path in builtin_sweeps().items():
        print(f"{name:<16} {read_yaml(path).get('description', '')}")


def _report(args) -> None:
    from tuning.report import run_report
    from tuning.storage import local_copy

    experiment = local_copy(args.experiment)  # s3://... or gs://...: read from a download, checkpoints left out
    for path in run_report(experiment, args.format, args.top, args.output, args.scope, args.status, args.force):
        print(f"wrote {inert(path)}", file=sys.stderr)
    notice = unfinished_notice(args.experiment, experiment)
    if notice:
        print(notice, file=sys.stderr)


def unfinished_notice(experiment: str, copy: str) -> str | None:
    """What the report says of a sweep whose last run did not finish, with the resume command (shell-quoted);
    None otherwise."""
    from tuning.expdir import ExpDir
    from tuning.storage import is_uri

    exp = ExpDir(copy, shallow=True)  # environment.json only: the trials were listed by the report itself
    runs = exp.runs()  # read once: the outcome and whether any run was recorded
    outcome = exp.last_outcome(runs)
    on_cluster = " (as a job on the cluster: add --address http://HEAD:8265)" if is_uri(experiment) else ""
    resume = shell_command("tuning", "resume", experiment)
    if outcome in ("interrupted", "failed"):
        return f"tuning report: the sweep was {outcome}; continue with: {resume}{on_cluster}"
    if runs and outcome is None:
        return (
            "tuning report: the sweep's last run has not ended: it is still running, or its driver was lost "
            f"(killed, or its node gone); if lost, continue with: {resume}{on_cluster}"
        )
    return None


def _compare(args) -> None:
    from tuning.report import compare

    print(compare(args.experiments, scope=args.scope))


def _export(args) -> None:
    from tuning.report import export_trial

    for path in export_trial(args.experiment, args.rank, args.output, scope=args.scope):
        print(f"wrote {inert(path)}", file=sys.stderr)


def _add_run(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="run a sweep on this machine",
        description="Run a sweep and print the ranked "
        "trials. Example: tuning run my_sweep.yaml --set search.num_samples=32",
    )
    add_sweep_args(p, optional=True)
    p.add_argument("--storage", help="directory that holds experiments (default: run.storage)")
    p.add_argument("--name", type=experiment_name, help="experiment name (default: the sweep's name)")
    p.add_argument(
        "--address", type=ray_address, help="an existing Ray cluster to run on (default: a local Ray on 127.0.0.1)"
    )
    p.add_argument(
        "--resume-existing",
        action="store_true",
        help="if the experiment exists and this same sweep started it, continue it as tuning resume "
        "would (the entrypoint of a cluster job, so a restarted job continues); without it an "
        "existing experiment is refused",
    )
    p.set_defaults(func=_run)


def _add_validate(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="check a sweep without running it",
        description="Resolve and check a sweep, print it, start nothing. "
        "Example: tuning validate my_sweep.yaml --set trainer.max_epochs=5",
    )
    add_sweep_args(p, optional=False)
    p.set_defaults(func=_validate)


def _add_sweeps(sub, name: str) -> None:
    p = sub.add_parser(
        name, help="list the built-in sweeps", description="List the built-in sweeps. Example: tuning sweeps"
    )
    p.set_defaults(func=_sweeps)


def _add_report(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="the ranked trial report of an experiment",
        description="Rank the trials of an experiment directory, offline. "
        "Example: tuning report runs/quickstart --format json",
    )
    p.add_argument("experiment", help="an experiment directory or a pyarrow URI, e.g. runs/quickstart")
    p.add_argument("--top", type=int, default=None, help="show only the best K trials")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help=f"{either(name for name, f in FORMATS.items() if f.results)} also write "
        "<stem>_results<suffix>: every reported result",
    )
    p.add_argument(
        "--scope",
        choices=SCOPES,
        default=None,
        help="rank each trial by its best epoch or its last (default: the sweep's search.scope, best unless set)",
    )
    p.add_argument(
        "--status",
        metavar="S[,S...]",
        help="show only trials with these statuses: completed, stopped_early, errored, running, "
        "pending (ranks stay those among all trials)",
    )
    p.add_argument(
        "--output",
        help=f"write to this file instead of stdout (required for "
        f"{either(names_with(FORMATS, binary=True))}); never inside the experiment",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing --output file")
    p.set_defaults(func=_report)


def _add_compare(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="the best trial of several experiments side by side",
        description="The best trial of each experiment side by side, with the params that "
        "differ. Example: tuning compare runs/a runs/b",
    )
    p.add_argument("experiments", nargs="+", help="experiment directories")
    p.add_argument("--scope", choices=SCOPES, default=None)
    p.set_defaults(func=_compare)


def _add_export(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="a trial's best checkpoint and its resolved Lightning config",
        description="Copy a trial's best checkpoint and write its resolved model/data/trainer "
        "config, loadable with Module.load_from_checkpoint. "
        "Example: tuning export runs/quickstart --rank 1 --output best/",
    )
    p.add_argument("experiment", help="an experiment directory")
    p.add_argument("--rank", type=int, default=1, help="which trial, by rank (default 1: the best)")
    p.add_argument("--output", required=True, help="a new or empty directory")
    p.add_argument("--scope", choices=SCOPES, default=None)
    p.set_defaults(func=_export)


def _add_confirm(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="rerun the top configs with new seeds, rank by the mean",
        description="Rerun the top K configs of an experiment S times each with new seeds, at "
        "full budget, and rank them by the mean with a 95%% confidence interval. "
        "Example: tuning confirm runs/quickstart --top 3 --seeds 5",
    )
    p.add_argument("experiment", help="the sweep's experiment directory")
    p.add_argument(
        "--top",
        type=int,
        default=None,
        help="how many of the best configs to rerun (default 3; with several objectives, the whole Pareto front)",
    )
    p.add_argument("--seeds", type=int, default=3, help="new seeds per config (default 3)")
    p.add_argument("--storage", help="where the new experiment goes (default: next to the sweep's)")
    p.add_argument("--name", type=experiment_name, help="its name (default: <sweep name>-confirm)")
    p.add_argument("--address", type=ray_address, help="an existing Ray cluster to run on")
    p.set_defaults(func=_confirm)


def _add_init(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="write a runnable starter project of your own",
        description="Write a small runnable project (LightningModule, DataModule, sweep.yaml, "
        "README) into DIR. Example: tuning init my-project --template tabular",
    )
    p.add_argument("directory", metavar="DIR", help="the project folder (created if missing)")
    p.add_argument(
        "--template",
        choices=["tabular", "text", "custom"],
        default="tabular",
        help="tabular (CSV classifier), text (text classifier) or custom (a skeleton to fill in)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_init)


def _add_resume(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="continue an interrupted sweep",
        description="Continue a sweep stopped by Ctrl-C, a killed driver or a reboot: finished "
        "trials stay, unfinished ones continue from their last checkpoint, errored "
        "ones are retried from theirs, and the searcher continues from its state. "
        "Example: tuning resume runs/quickstart",
    )
    p.add_argument(
        "experiment", help="the experiment directory or its URI, e.g. runs/quickstart or s3://bucket/runs/quickstart"
    )
    p.add_argument("--skip-errored", action="store_true", help="leave errored trials as they are")
    p.add_argument(
        "--more",
        type=_at_least_one,
        default=0,
        metavar="K",
        help="add K trials to the sweep, finished or not: the searcher goes on from its study (optuna "
        "searcher), so no config is tried twice; sweep.yaml's num_samples records it",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="raise or change the budget and stop rules (search.budget.*, search.stop.* only), e.g. "
        "--set search.budget.time=3h: a sweep its budget ended continues (repeatable)",
    )
    p.add_argument(
        "--address",
        help="a Ray cluster: its dashboard, http://HEAD:8265, runs the resume there as a "
        "job (the project uploaded as by submit); `auto` or HEAD:6379 runs the resume's driver here "
        "against it (default: a local Ray on 127.0.0.1)",
    )
    add_upload_args(p)
    p.set_defaults(func=_resume)


def _at_least_one(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value!r}")
    return int(value)


# Every verb, in the order `tuning --help` lists them: name -> the function that adds its parser.
COMMANDS = {
    "run": _add_run,
    "validate": _add_validate,
    "sweeps": _add_sweeps,
    "report": _add_report,
    "dashboard": add_dashboard,
    "compare": _add_compare,
    "export": _add_export,
    "confirm": _add_confirm,
    "init": _add_init,
    "resume": _add_resume,
    **JOB_COMMANDS,
    **FINDER_COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tuning", description="Hyperparameter sweeps for Lightning models on Ray Tune."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, add in COMMANDS.items():
        add(sub, name)
    return parser


def _format_warning(message, category, filename, lineno, line=None, _default=warnings.formatwarning) -> str:
    """tuning's own warnings (a skipped unreadable file, ...) as one line; others as Python shows them."""
    if filename.startswith(str(Path(__file__).parents[1])):  # any module of the tuning package
        return f"warning: {inert_lines(message)}\n"
    return _default(message, category, filename, lineno, line)


def _interrupted(command: str) -> int:
    print(f"tuning {command}: interrupted", file=sys.stderr)
    return 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tuning` console script."""
    warnings.formatwarning = _format_warning
    signals.STOPPED.clear()
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)  # None means success; the job commands return the job's outcome
    except UserError as exc:
        if signals.STOPPED.is_set():  # a stop that became an error on its way up (a user module's import cut short)
            return _interrupted(args.command)
        print(f"tuning {args.command}: error: {inert_lines(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except BrokenPipeError:  # `tuning report ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python flushes at exit
        return 0
    except Exception as exc:
        if signals.STOPPED.is_set():  # as for a UserError: Ctrl-C or SIGTERM, raised again as another error
            return _interrupted(args.command)
        full = disk_full(exc)
        if full is None:
            raise
        print(f"tuning {args.command}: error: {disk_full_message(full)}", file=sys.stderr)
        return 1
    return code or 0

"""The `tuning` command as a user runs it: real subprocesses, exit codes, stdout and stderr."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.imports import fresh_imports
from tests.in_process import tuning_here
from tuning.sweep.config import builtin_sweeps


def tuning(*args, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tuning", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def test_validate_summary_counts_grid_points_and_searched_parameters(tmp_path, tiny_sweep, capsys):
    from tuning.cli.commands import main

    tiny_sweep["search"].update(
        searcher={"name": "random"}, num_samples=2, space={"model.init_args.hidden_dim": {"grid": [8, 16, 32]}}
    )
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(tiny_sweep))
    assert main(["validate", str(tmp_path / "grid.yaml")]) == 0
    assert "# ok: 6 trials, 1 searched parameter, searcher random, scheduler asha" in capsys.readouterr().err


def test_every_command_has_help_with_a_description(capsys):
    from tuning.cli.commands import COMMANDS, build_parser

    parser = build_parser()
    commands = list(COMMANDS)
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    table = readme.split("| command | does |", 1)[1].split("\n\n", 1)[0]
    undocumented = [name for name in commands if f"`tuning {name}" not in table and f"/ `{name} " not in table]
    assert len(commands) >= 15 and not undocumented, f"not in the README's command table: {undocumented}"
    for name in commands:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        out = capsys.readouterr().out
        assert done.value.code == 0 and out.startswith(f"usage: tuning {name}"), name
        assert len(out.split("\n\n")[1].strip()) > 20, f"{name}: no description under the usage line"


def test_the_command_line_offers_the_report_s_formats_and_scopes():
    from tuning.cli.commands import FORMATS, SCOPES
    from tuning.report.formats import FORMATS as RENDERED
    from tuning.sweep.config import SearchSpec

    assert FORMATS == RENDERED and set(SCOPES) == set(SearchSpec.model_fields["scope"].annotation.__args__)


def test_resume_existing_continues_only_the_sweep_that_started_the_experiment(tmp_path, tiny_sweep, capsys):
    from tuning.cli.commands import main
    from tuning.sweep.config import parse_sweep

    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(yaml.safe_dump(tiny_sweep))
    exp = tmp_path / "runs" / "tiny"
    exp.mkdir(parents=True)
    other = parse_sweep({**tiny_sweep, "run": {"storage": str(tmp_path / "runs")}}).to_dict()
    other["search"]["num_samples"] = 99
    (exp / "sweep.yaml").write_text(yaml.safe_dump(other))  # an experiment another sweep started
    assert main(["run", str(sweep), "--storage", str(tmp_path / "runs"), "--resume-existing"]) == 2
    err = capsys.readouterr().err
    assert "holds another sweep (its search differs)" in err and "Traceback" not in err
    assert yaml.safe_load((exp / "sweep.yaml").read_text())["search"]["num_samples"] == 99, "nothing overwritten"


def test_help_imports_neither_torch_nor_ray():
    _, _, imported = fresh_imports(
        "from tuning.cli.commands import build_parser; build_parser().format_help()",
        ("torch", "ray", "pytorch_lightning", "lightning"),
    )
    assert imported == []


def test_validate_imports_neither_torch_nor_lightning_nor_ray():
    """`tuning validate` reads the classes from source: it starts in a fraction of a second."""
    _, err, imported = fresh_imports(
        "from tuning.cli.commands import main; assert main(['validate', 'quickstart']) == 0",
        ("torch", "ray", "pytorch_lightning", "lightning"),
    )
    assert imported == [], err
    assert "# ok: 16 trials" in err


def test_every_command_has_help_with_an_example(capsys):
    from tuning.cli.commands import main

    result = tuning("run", "--help")  # one in a real process; the same parser prints the others here
    assert result.returncode == 0 and "Example: tuning" in result.stdout
    for command in ("validate", "sweeps", "report", "compare", "export"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0 and "Example: tuning" in capsys.readouterr().out, command


def test_sweeps_lists_the_quickstart():
    result = tuning("sweeps")
    assert result.returncode == 0 and result.stdout.startswith("quickstart")


def test_validate_prints_the_resolved_sweep():
    result = tuning("validate", "quickstart", "--set", "search.num_samples=3")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["search"]["num_samples"] == 3


@pytest.mark.parametrize(
    "section, value, key",
    [
        ("search", {"mode": "minimise"}, "search.mode"),
        ("search", {"space": {"model.init_args.lr": {"loguniform": [0, 1]}}}, "search.space.model.init_args.lr"),
        ("model", {"class_path": "mlp", "init_args": {"hiden_dim": 3}}, "model.init_args.hiden_dim"),
        ("trainer", {"max_epochs": 2, "max_epoch": 3}, "trainer.max_epoch"),
    ],
)
def test_validate_a_broken_file_exits_2_naming_the_key(tmp_path, section, value, key):
    sweep = yaml.safe_load(builtin_sweeps()["quickstart"].read_text())
    sweep[section] = value
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(sweep))
    result = tuning("validate", str(path))
    assert result.returncode == 2
    assert key in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_validate_invalid_yaml_exits_2(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("search: [1, 2\n")
    result = tuning("validate", str(path))
    assert result.returncode == 2 and "not valid YAML" in result.stderr and "Traceback" not in result.stderr


def test_bad_arguments_exit_2(tmp_path):
    assert tuning("run", "no-such-sweep").returncode == 2
    assert tuning("report", str(tmp_path / "missing")).returncode == 2
    assert tuning("report", str(tmp_path), "--format", "yaml").returncode == 2


@pytest.mark.parametrize("command", ["run", "submit"])
def test_a_name_that_leaves_the_storage_exits_2_writing_nothing(tmp_path, monkeypatch, capsys, command):
    """The first name in a real `tuning` process, the others through the same `tuning.cli.main` in this one."""
    from tuning.cli.commands import main

    storage = tmp_path / "runs"
    extra = ("--address", "http://127.0.0.1:1") if command == "submit" else ()
    result = tuning(command, "quickstart", "--storage", str(storage), "--name", "../escape", *extra, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "argument --name" in result.stderr and "Traceback" not in result.stderr
    monkeypatch.chdir(tmp_path)
    for name in (str(tmp_path / "abs"), "", ".hidden", "a/b", "ok\n"):
        with pytest.raises(SystemExit) as done:  # argparse's refusal: exit 2 with its usage and message
            main([command, "quickstart", "--storage", str(storage), "--name", name, *extra])
        err = capsys.readouterr().err
        assert done.value.code == 2, (name, err)
        assert "argument --name" in err and "Traceback" not in err, name
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a refused --name wrote something"


@pytest.mark.integration
def test_the_readme_s_first_command_runs_the_whole_quickstart(tmp_path):
    """`tuning run` with no argument, in a fresh directory: the built-in quickstart, unchanged, to its ranked table;
    then the report as JSON (the documented keys, in rank order), and the same run again is refused.

    (`--set`, `--storage` and `--name` through the command line: tests/tuning/cli/test_scaffold.py and the live
    sweep of tests/tuning/report/test_report_e2e.py.)"""
    result = tuning("run", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"experiment: {tmp_path / 'runs' / 'quickstart'}" in result.stdout  # run.storage ./runs, from here
    # A first run prints no warning a user cannot act on (Lightning's own deprecations, say).
    assert not any(word in result.stderr for word in ("deprecated", "Warning")), result.stderr[-3000:]
    report = json.loads(tuning_here("report", str(tmp_path / "runs" / "quickstart"), "--format", "json").stdout)
    statuses = [t["status"] for t in report["trials"]]
    assert len(statuses) == 16 and "errored" not in statuses
    assert "stopped_early" in statuses and "completed" in statuses  # ASHA spent the budget
    assert "[16/16] trial" in result.stdout and "rank  trial" in result.stdout
    assert set(report) >= {"experiment", "metric", "mode", "scope", "trials"}  # README, "Reports": a superset
    assert (report["metric"], report["mode"], report["scope"]) == ("val_loss", "min", "best")
    assert [t["rank"] for t in report["trials"]] == list(range(1, 17))
    metrics = [t["metric"] for t in report["trials"]]
    assert metrics == sorted(metrics)
    assert set(report["trials"][0]) >= {
        "rank",
        "trial_id",
        "status",
        "metric",
        "config",
        "iterations",
        "time_s",
        "checkpoint",
        "error",
    }
    with pytest.MonkeyPatch.context() as patch:  # refused before Ray starts: no process of its own needed
        patch.chdir(tmp_path)
        again = tuning_here("run")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_resume_existing_takes_a_sweep_recorded_before_a_key_was_added(tmp_path, tiny_sweep, capsys):
    """A sweep.yaml written by an earlier version lacks keys added since (search.searcher.history): it is the
    same sweep, not another one."""
    from tuning.driver.tuner import _continue_existing
    from tuning.sweep.config import parse_sweep

    exp = tmp_path / "runs" / "tiny"
    exp.mkdir(parents=True)
    cfg = parse_sweep({**tiny_sweep, "name": "tiny", "run": {"storage": str(tmp_path / "runs")}})
    older = cfg.to_dict()
    del older["search"]["searcher"]["history"]
    (exp / "sweep.yaml").write_text(yaml.safe_dump(older))
    assert _continue_existing(cfg, str(exp), None) is None  # no snapshot yet: started again in place
    assert "starting the existing experiment" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback():
    """`tuning ... | head`: the closed pipe ends the command quietly (exit 0), not with BrokenPipeError."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "tuning", "sweeps"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before it writes a line
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err, err

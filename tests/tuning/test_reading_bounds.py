"""Reading an experiment never leaves it, never waits, never takes more than its bounds (issue 32 item 2).

report (every format), compare, export, confirm's reading, warm starts and URI downloads read an experiment
through tuning.expdir.ExpDir. These tests plant what a crafted or damaged experiment may hold into a copy of
a real one (tests/tuning/driver/old_experiment, written by a real sweep): links out of it with a secret behind
them, a FIFO, a 1 GB sparse file, JSON 10,000 levels deep, a YAML alias bomb, and ~30 shapes of malformed
files. Every reading command exits 0 (the bad file skipped with a warning naming it) or 2 (naming it), never
shows the secret, never hangs, never a traceback: the commands run in this process through tuning.cli.main,
so an exception escaping it fails the test.
"""

import contextlib
import io
import json
import os
import shutil
import sys
import uuid
import warnings
from pathlib import Path

import pytest
import yaml

from tuning.cli.commands import main

FIXTURE = Path(__file__).parent / "driver" / "old_experiment"
ERRORED = "trial_0004_a7d5d9a1"  # made errored here: its error.txt is printed by every format
MARKER = f"SECRET-{uuid.uuid4().hex}"  # what lies behind every link out: it must never be shown or copied
TEXT_FORMATS = ("table", "json", "csv", "markdown", "html")


def run_cli(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `tuning ARGS` in this process, warnings on stderr as the command prints
    them (pytest would otherwise collect them)."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _show(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def state_file(exp: Path) -> Path:
    return next(exp.glob("experiment_state-*.json"))


def make_experiment(root: Path) -> Path:
    """A copy of the real fixture experiment at root/exp, one of its trials errored (with an error.txt)."""
    exp = root / "exp"
    shutil.copytree(FIXTURE, exp, symlinks=True)
    data = json.loads(state_file(exp).read_text())
    for entry in data["trial_data"]:
        state = json.loads(entry[0])
        if state["relative_logdir"] == ERRORED:
            entry[0] = json.dumps({**state, "status": "ERROR"})
    state_file(exp).write_text(json.dumps(data))
    (exp / ERRORED / "error.txt").write_text("Traceback (most recent call last):\nValueError: the planted error\n")
    return exp


def secrets(root: Path) -> dict[str, Path]:
    """Files outside the experiment, each a valid file of its kind (so that a reader that followed a link
    would show it) holding MARKER: file name in an experiment -> the file a link to plant there points to."""
    out = root / "outside"
    out.mkdir(exist_ok=True)
    row = {
        "trial_id": MARKER,
        "training_iteration": 1,
        "val_loss": 0.01,
        MARKER: 1.0,
        "hostname": MARKER,
        "config": {"model.init_args.hidden_dim": 16, "model.init_args.lr": 0.01},
    }
    sweep = yaml.safe_load((FIXTURE / "sweep.yaml").read_text())
    contents = {
        "error.txt": f"aws_secret_access_key = {MARKER}\n",
        "result.json": json.dumps(row) + "\n",
        "trial.json": json.dumps({"seed": 1, "hostname": MARKER, "params": {}}),
        "sweep.yaml": yaml.safe_dump({**sweep, "name": MARKER, "description": MARKER}),
        "checkpoint.ckpt": f"weights {MARKER}\n",
    }
    paths = {}
    for name, text in contents.items():
        paths[name] = out / name
        paths[name].write_text(text)
    return paths


def written(directory: Path) -> str:
    """Everything under `directory` as text (what an --output left there)."""
    return "".join(p.read_bytes().decode(errors="replace") for p in directory.rglob("*") if p.is_file())


def report_all_formats(exp: Path, out: Path, *more: str) -> list[tuple[str, int, str]]:
    """(format, exit code, all it printed and wrote) of `tuning report` in every format (html and parquet to
    files under `out`)."""
    results = []
    for fmt in (*TEXT_FORMATS, "parquet"):
        target = out / fmt / f"report.{fmt}"
        target.parent.mkdir(parents=True)
        to_file = ("--output", target) if fmt in ("html", "parquet") else ()
        code, stdout, stderr = run_cli("report", exp, "--format", fmt, *to_file, *more)
        results.append((fmt, code, stdout + stderr + written(target.parent)))
    return results


@pytest.fixture
def exp(tmp_path) -> Path:
    return make_experiment(tmp_path)


@pytest.fixture
def secret(tmp_path) -> dict[str, Path]:
    return secrets(tmp_path)


def test_the_copy_is_a_sound_experiment_with_an_errored_trial(exp, tmp_path):
    for fmt, code, shown in report_all_formats(exp, tmp_path / "r"):
        assert code == 0 and "the planted error" in shown and "warning" not in shown, (fmt, shown[-2000:])


@pytest.mark.parametrize("name", ["error.txt", "result.json", "trial.json"])
def test_a_trial_file_linked_out_of_the_experiment_is_skipped_in_every_format(exp, secret, tmp_path, name):
    planted = exp / ERRORED / name
    planted.unlink(missing_ok=True)
    planted.symlink_to(secret[name])
    for fmt, code, shown in report_all_formats(exp, tmp_path / "r"):
        assert code == 0, (fmt, shown[-2000:])
        assert MARKER not in shown, f"{fmt} shows what {name} links to"
        assert f"warning: {planted}: skipped (a link that leads out of the experiment)" in shown, (fmt, shown)
        assert shown.count(f"warning: {planted}") == 1, shown  # one warning naming it


def test_a_whole_trial_directory_linked_out_is_skipped(exp, secret, tmp_path):
    outside = tmp_path / "outside" / "trial"
    shutil.copytree(exp / ERRORED, outside)
    for name in ("error.txt", "result.json", "trial.json"):
        shutil.copy(secret[name], outside / name)
    shutil.rmtree(exp / ERRORED)
    (exp / ERRORED).symlink_to(outside)
    for fmt, code, shown in report_all_formats(exp, tmp_path / "r"):
        assert code == 0 and MARKER not in shown, (fmt, shown[-2000:])
        assert f"warning: {exp / ERRORED}: skipped (a link that leads out of the experiment)" in shown, shown


def test_a_sweep_yaml_linked_out_is_exit_2_naming_it(exp, secret, tmp_path):
    (exp / "sweep.yaml").unlink()
    (exp / "sweep.yaml").symlink_to(secret["sweep.yaml"])
    for args in [("report", exp), ("compare", exp, FIXTURE), ("export", exp, "--output", tmp_path / "x")]:
        code, stdout, stderr = run_cli(*args)
        assert code == 2 and MARKER not in stdout + stderr, (args, stderr)
        assert f"{exp}/sweep.yaml: not read (a link that leads out of the experiment)" in stderr, stderr
    assert not (tmp_path / "x").exists()


def test_links_inside_the_experiment_are_read(exp, tmp_path):
    other = exp / "trial_0001_ac895d30"
    (other / "error.txt").write_text("ValueError: the error behind an inside link\n")
    (exp / ERRORED / "error.txt").unlink()
    (exp / ERRORED / "error.txt").symlink_to(Path("..") / other.name / "error.txt")
    for fmt, code, shown in report_all_formats(exp, tmp_path / "r"):
        assert code == 0 and "the error behind an inside link" in shown and "warning" not in shown, (fmt, shown)


def _best_checkpoint(exp: Path) -> Path:
    code, stdout, _ = run_cli("report", exp, "--format", "json")
    return Path(json.loads(stdout)["trials"][0]["checkpoint"]) / "checkpoint.ckpt"


def test_export_refuses_a_checkpoint_linked_out_and_writes_nothing(exp, secret, tmp_path):
    ckpt = _best_checkpoint(exp)
    ckpt.unlink()
    ckpt.symlink_to(secret["checkpoint.ckpt"])
    code, stdout, stderr = run_cli("export", exp, "--output", tmp_path / "out")
    assert code == 2, stderr
    assert f"{ckpt}: not exported (a link that leads out of the experiment); nothing was written" in stderr
    assert not (tmp_path / "out").exists() and MARKER not in stdout + stderr


def test_export_copies_a_checkpoint_linked_inside(exp, tmp_path):
    ckpt = _best_checkpoint(exp)
    other = next(p for p in exp.glob("trial_*/checkpoint_*/checkpoint.ckpt") if p != ckpt)
    ckpt.unlink()
    ckpt.symlink_to(os.path.relpath(other, ckpt.parent))
    code, _, stderr = run_cli("export", exp, "--output", tmp_path / "out")
    assert code == 0, stderr
    assert (tmp_path / "out" / "checkpoint.ckpt").read_bytes() == other.read_bytes()
    config = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert config["model"] == {
        "class_path": "tuning.models.mlp.MLPClassifier",
        "init_args": {"hidden_dim": 16, "num_layers": 1, "lr": 0.0265122597429743},
    }


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["result.json", "trial.json", "error.txt"])
def test_a_fifo_in_a_trial_is_skipped_without_waiting(exp, tmp_path, name):
    planted = exp / ERRORED / name
    planted.unlink(missing_ok=True)
    os.mkfifo(planted)  # opened for reading, it would wait for a writer that never comes
    for fmt, code, shown in report_all_formats(exp, tmp_path / "r"):
        assert code == 0 and f"warning: {planted}: skipped (a FIFO, not a regular file)" in shown, (fmt, shown)


@pytest.mark.timeout(30, method="thread")  # a wait inside pyarrow's C++ open is deaf to the signal method
def test_a_fifo_as_sweep_yaml_or_checkpoint_is_exit_2_without_waiting(exp, tmp_path):
    ckpt = _best_checkpoint(exp)
    ckpt.unlink()
    os.mkfifo(ckpt)
    code, _, stderr = run_cli("export", exp, "--output", tmp_path / "out")
    assert code == 2 and f"{ckpt}: not exported (a FIFO, not a regular file)" in stderr, stderr
    (exp / "sweep.yaml").unlink()
    os.mkfifo(exp / "sweep.yaml")
    for args in [("report", exp), ("compare", exp, FIXTURE)]:
        code, _, stderr = run_cli(*args)
        assert code == 2 and f"{exp}/sweep.yaml: not read (a FIFO, not a regular file)" in stderr, stderr


@pytest.mark.parametrize("name", ["result.json", "environment.json", "error.txt"])
def test_a_1_gb_sparse_file_is_refused_on_its_size_unread(exp, tmp_path, name, monkeypatch):
    planted = exp / (ERRORED if name != "environment.json" else "") / name
    with open(planted, "ab") as handle:
        handle.truncate(1 << 30)  # sparse: no disk used, but 1 GB to whoever reads it
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    code, stdout, stderr = run_cli("report", exp, "--format", "json")
    assert code == 0, stderr
    assert f"warning: {planted}: skipped ({1 << 30} bytes, over the limit of {256 << 20})" in stderr, stderr
    assert str(planted) not in opened, "the file was opened, not refused on its size"


def test_the_whole_experiment_has_a_read_limit(exp, monkeypatch):
    from tuning import expdir

    monkeypatch.setattr(expdir, "MAX_EXPERIMENT_BYTES", 50_000)  # the ~47 KB state file fits, not all the rest
    code, stdout, stderr = run_cli("report", exp, "--format", "json")
    assert code == 0 and "the read limit of 50000 bytes per experiment is reached" in stderr, stderr


DEEP_JSON = "[" * 10_000 + "]" * 10_000
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)
DEEP_YAML = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"


@pytest.mark.parametrize("name", ["result.json", "trial.json"])
def test_json_ten_thousand_levels_deep_is_skipped_with_a_warning(exp, tmp_path, name):
    (exp / ERRORED / name).write_text(DEEP_JSON + "\n")
    for fmt, code, shown in report_all_formats(exp, tmp_path / "r"):
        assert code == 0 and f"warning: {exp / ERRORED / name}" in shown and "nested deeper than 128" in shown, shown


def test_the_deepest_sweep_tuning_runs_is_read(exp):
    """32 conditional choices inside each other (tuning.sweep.space.MAX_DEPTH) is within the readers' depth limit."""
    from tuning.sweep.space import MAX_DEPTH

    space = {"model.init_args.lr": {"loguniform": [0.001, 0.03]}}
    for level in range(MAX_DEPTH):
        space = {f"model.init_args.c{level}": {"choice": {"a": space, "b": None}}}
    edit_sweep(lambda sweep: sweep["search"].update(space=space))(exp)
    code, stdout, stderr = run_cli("report", exp, "--format", "json")
    assert code == 0 and "nested deeper" not in stderr, stderr
    assert all("model.init_args.lr" in trial["config"] for trial in json.loads(stdout)["trials"])


def test_deep_state_and_environment_files_are_skipped_with_a_warning(exp):
    (exp / "environment.json").write_text(DEEP_JSON)
    state_file(exp).write_text(DEEP_JSON)
    code, _, stderr = run_cli("report", exp)
    assert code == 0 and f"warning: {state_file(exp)}: unreadable experiment state (nested deeper" in stderr, stderr


@pytest.mark.parametrize(
    "text,message",
    [
        (ALIAS_BOMB, "more than 100000 values once YAML aliases are expanded"),
        (DEEP_YAML, "nested deeper than 128 levels"),
    ],
    ids=["alias-bomb", "deep"],
)
def test_a_sweep_yaml_bomb_is_exit_2_in_every_reading_command(exp, tmp_path, text, message):
    (exp / "sweep.yaml").write_text(text)
    for args in [
        ("report", exp),
        ("report", exp, "--format", "html"),
        ("compare", exp, FIXTURE),
        ("compare", FIXTURE, exp),
        ("export", exp, "--output", tmp_path / "out"),
    ]:
        code, _, stderr = run_cli(*args)
        assert code == 2 and f"{exp}/sweep.yaml: {message}" in stderr, (args, stderr)


def test_a_file_uri_is_checked_before_anything_is_downloaded(tmp_path, monkeypatch):
    import tempfile

    big = tmp_path / "not-an-experiment"
    big.mkdir()
    with open(big / "data.bin", "wb") as handle:
        handle.truncate(1 << 30)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    code, _, stderr = run_cli("report", big.as_uri())
    assert code == 2 and "has no sweep.yaml (not a tuning experiment); nothing was downloaded" in stderr, stderr
    assert list((tmp_path / "temp").iterdir()) == []


def test_a_file_uri_download_never_follows_a_link_out(exp, secret, tmp_path):
    (exp / ERRORED / "error.txt").unlink()
    (exp / ERRORED / "error.txt").symlink_to(secret["error.txt"])
    os.mkfifo(exp / ERRORED / "trial.json.tmp")  # nothing the report reads: neither downloaded nor waited on
    for fmt in TEXT_FORMATS:
        code, stdout, stderr = run_cli("report", exp.as_uri(), "--format", fmt)
        assert code == 0 and MARKER not in stdout + stderr, (fmt, stderr)
        assert f"skipped '{ERRORED}/error.txt' (a link that leads out of the experiment)" in stderr, stderr


# --- malformed files: each shape gave a traceback before (RecursionError, KeyError, TypeError, ValueError,
# AttributeError, or Arrow's errors in csv and parquet); now a warning naming the file, or exit 2 naming the key

FIRST, SECOND, THIRD = "trial_0001_ac895d30", "trial_0002_2a013ee1", "trial_0003_8e35bd27"


def edit_rows(trial: str, change):
    """An edit of every row of a trial's result.json: change(row) changes it in place."""

    def edit(exp: Path) -> None:
        path = exp / trial / "result.json"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            change(row)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    return edit


def edit_json(rel: str, change):
    def edit(exp: Path) -> None:
        path = exp / rel
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return edit


def edit_sweep(change):
    def edit(exp: Path) -> None:
        sweep = yaml.safe_load((exp / "sweep.yaml").read_text())
        change(sweep)
        (exp / "sweep.yaml").write_text(yaml.safe_dump(sweep))

    return edit


def write(rel: str, text: str):
    return lambda exp: (exp / rel).write_text(text)


def _space(entry):
    return lambda sweep: sweep["search"]["space"].update({"model.init_args.hidden_dim": entry})


ROW = f"{SECOND}/result.json:1: skipped a line that is not a result"
# (id, edit, command and arguments after the experiment, exit code, what stderr says)
SHAPES = [
    ("row-without-trial_id", edit_rows(SECOND, lambda r: r.pop("trial_id")), ("report",), 0, ""),
    (
        "trial_id-an-object",
        edit_rows(SECOND, lambda r: r.update(trial_id={})),
        ("report",),
        0,
        f"{ROW} (trial_id is {{}})",
    ),
    (
        "time_total_s-text",
        edit_rows(SECOND, lambda r: r.update(time_total_s="abc")),
        ("compare",),
        0,
        f"{ROW} (time_total_s is 'abc')",
    ),
    (
        "timestamp-a-list",
        edit_rows(SECOND, lambda r: r.update(timestamp=[])),
        ("report", "--format", "csv"),
        0,
        f"{ROW} (timestamp is [])",
    ),
    (
        "training_iteration-text",
        edit_rows(FIRST, lambda r: r.update(training_iteration="2")),
        ("report",),
        0,
        f"{FIRST}/result.json:1: skipped a line that is not a result (training_iteration is '2')",
    ),
    ("metric-a-huge-int", edit_rows(SECOND, lambda r: r.update(val_acc=10**30)), ("report", "--format", "csv"), 0, ""),
    (
        "int-of-5000-digits",
        write(f"{SECOND}/result.json", '{"val_loss": ' + "1" * 5000 + "}\n"),
        ("report",),
        0,
        f"{SECOND}/result.json:1: skipped an unreadable line (Exceeds the limit",
    ),
    (
        "row-nested-10000-deep",
        write(f"{SECOND}/result.json", DEEP_JSON + "\n"),
        ("report",),
        0,
        f"{SECOND}/result.json:1: skipped an unreadable line (nested deeper than 128 levels)",
    ),
    (
        "choice-value-of-another-type",
        edit_rows(SECOND, lambda r: r["config"].update({"model.init_args.hidden_dim": "x"})),
        ("report", "--format", "csv"),
        0,
        "left out model.init_args.hidden_dim='x', of another kind",
    ),
    (
        "lone-surrogate",
        write(f"{SECOND}/trial.json", '{"seed": 2, "hostname": "vm\\ud800"}'),
        ("report", "--format", "csv"),
        0,
        "",
    ),
    (
        "trial.json-seed-huge",
        edit_json(f"{SECOND}/trial.json", lambda d: d.update(seed=10**30)),
        ("report", "--format", "csv"),
        0,
        f"{SECOND}/trial.json: unreadable (seed is {10**30})",
    ),
    (
        "trial.json-seed-text",
        edit_json(f"{SECOND}/trial.json", lambda d: d.update(seed="abc")),
        ("report", "--format", "parquet"),
        0,
        f"{SECOND}/trial.json: unreadable (seed is 'abc')",
    ),
    (
        "trial.json-seed-true",
        edit_json(f"{SECOND}/trial.json", lambda d: d.update(seed=True)),
        ("report", "--format", "parquet"),
        0,
        f"{SECOND}/trial.json: unreadable (seed is True)",
    ),
    (
        "trial.json-hostname-a-list",
        edit_json(f"{SECOND}/trial.json", lambda d: d.update(hostname=[1])),
        ("report", "--format", "csv"),
        0,
        f"{SECOND}/trial.json: unreadable (hostname is [1])",
    ),
    (
        "trial.json-nested-deep",
        write(f"{SECOND}/trial.json", DEEP_JSON),
        ("report",),
        0,
        f"{SECOND}/trial.json: unreadable (nested deeper than 128 levels)",
    ),
    (
        "state-file-nested-deep",
        write("experiment_state-2026-12-04_13-25-50.json", DEEP_JSON),
        ("report",),
        0,
        "unreadable experiment state (nested deeper than 128 levels)",
    ),
    (
        "state-entry-nested-deep",
        edit_json("experiment_state-2026-12-04_13-25-50.json", lambda d: d["trial_data"][0].__setitem__(0, DEEP_JSON)),
        ("report",),
        0,
        "unreadable experiment state (nested deeper than 128 levels)",
    ),
    ("environment-nested-deep", write("environment.json", DEEP_JSON), ("report",), 0, ""),
    (
        "scheduler-a-string",
        edit_sweep(lambda s: s["search"].update(scheduler="asha")),
        ("report",),
        2,
        "sweep.yaml: search.scheduler: must be a mapping, got 'asha'",
    ),
    (
        "max_t-text",
        edit_sweep(lambda s: s["search"]["scheduler"].update(max_t="abc")),
        ("compare",),
        2,
        "sweep.yaml: search.scheduler.max_t: must be a whole number, got 'abc'",
    ),
    (
        "max_epochs-text",
        edit_sweep(lambda s: s["trainer"].update(max_epochs="2")),
        ("report",),
        2,
        "sweep.yaml: trainer.max_epochs: must be a whole number, got '2'",
    ),
    (
        "gpu-text",
        edit_sweep(lambda s: s["resources"].update(gpu="abc")),
        ("report",),
        2,
        "sweep.yaml: resources.gpu: must be a number, got 'abc'",
    ),
    (
        "workers-text",
        edit_sweep(lambda s: s["resources"].update(workers="x")),
        ("report",),
        2,
        "sweep.yaml: resources.workers: must be a whole number, got 'x'",
    ),
    (
        "resources-a-string",
        edit_sweep(lambda s: s.update(resources="x")),
        ("report",),
        2,
        "sweep.yaml: resources: must be a mapping, got 'x'",
    ),
    (
        "trainer-a-list",
        edit_sweep(lambda s: s.update(trainer=[1])),
        ("compare",),
        2,
        "sweep.yaml: trainer: must be a mapping, got [1]",
    ),
    ("choice-5-in-the-space", edit_sweep(_space({"choice": 5})), ("report",), 0, ""),
    ("choice-a-string-in-the-space", edit_sweep(_space({"choice": "abc"})), ("report", "--format", "html"), 0, ""),
    ("range-of-strings-in-the-space", edit_sweep(_space({"loguniform": ["a", "b"]})), ("report",), 0, ""),
    (
        "space-key-under-a-number",
        edit_sweep(lambda s: s["model"].update(init_args=5)),
        ("compare",),
        2,
        "sweep.yaml: search.space: a key the sweep's sections cannot hold ('model.init_args' is not a mapping",
    ),
    (
        "class_path-a-list",
        edit_sweep(lambda s: s["model"].update(class_path=[1])),
        ("export",),
        2,
        "sweep.yaml: model: not a class_path entry",
    ),
    (
        "model-missing",
        edit_sweep(lambda s: s.pop("model")),
        ("export",),
        2,
        "sweep.yaml: cannot apply the trial's params to it ('model' is not a mapping",
    ),
]


@pytest.mark.parametrize("edit,args,code,message", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_a_malformed_file_is_a_warning_naming_it_or_exit_2_naming_the_key(exp, tmp_path, edit, args, code, message):
    edit(exp)
    command, *more = args
    extra = {"compare": (FIXTURE,), "export": ("--output", tmp_path / "out")}.get(command, ())
    if "parquet" in more:
        extra = ("--output", tmp_path / "r.parquet")
    result, _, stderr = run_cli(command, exp, *extra, *more)
    assert result == code and message in stderr, stderr
    assert code == 0 or not (tmp_path / "out").exists()


def test_confirm_reads_a_sweep_without_run_or_name(exp):
    from tuning.driver.confirm import confirm_sweep

    edit_sweep(lambda s: [s.pop("run"), s.pop("name")])(exp)
    sweep, picked = confirm_sweep(str(exp), top=2, seeds=2)
    assert sweep["name"] == "exp-confirm" and sweep["run"]["seed"] == 4 and len(picked) == 2  # 0 + 4 trials


def test_confirm_refuses_a_link_out_as_its_link_file(exp, secret, tmp_path):
    from tuning.driver.confirm import confirmed
    from tuning.errors import UserError

    (exp / "confirm.json").symlink_to(secret["trial.json"])
    with pytest.raises(UserError, match="confirm.json: not a link tuning confirm wrote"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            confirmed(str(exp))
    assert any("confirm.json: skipped (a link that leads out of the experiment)" in str(w.message) for w in caught)


def test_warm_start_reads_an_experiment_through_the_same_bounds(exp, secret):
    from tuning.driver.warm_start import warm_start_points
    from tuning.sweep.config import parse_sweep

    (exp / ERRORED / "result.json").unlink()
    (exp / ERRORED / "result.json").symlink_to(secret["result.json"])
    os.mkfifo(exp / THIRD / "result.json.tmp")
    (exp / THIRD / "trial.json").write_text(DEEP_JSON)
    search = parse_sweep(yaml.safe_load((FIXTURE / "sweep.yaml").read_text())).search
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        points = warm_start_points([str(exp)], search)
    assert len(points) == 3 and all(MARKER not in json.dumps(p.params) for p in points)
    assert any(f"{ERRORED}/result.json: skipped (a link" in str(w.message) for w in caught)

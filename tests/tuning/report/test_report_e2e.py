"""Reports of a real experiment: one tiny `tuning run` on a pseudo-terminal, then every report command.

The sweep runs once for this module, as a user runs it (a subprocess whose stdout is a TTY), so
the same run proves the live progress view and gives the experiment every other test reads.
"""

import fcntl
import json
import os
import pickle
import pty
import shutil
import struct
import subprocess
import sys
import termios
from html.parser import HTMLParser

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import TINY_SWEEP
from tests.in_process import tuning_here
from tuning.report.load import load_report, read_results
from tuning.report.text import cell


def tuning(*args, timeout=120):
    """`tuning ARGS` in a process of its own: for what only a real process shows (warnings, argparse's exits, a
    traceback); commands that start nothing run in this process otherwise (tuning_here), a start-up less each."""
    return subprocess.run([sys.executable, "-m", "tuning", *args], capture_output=True, text=True, timeout=timeout)


def run_on_a_terminal(args: list[str], timeout: float = 600) -> tuple[int, str]:
    """Run a command with stdout on a pseudo-terminal; return its exit code and everything it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # a terminal's size: 40 x 200
    proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=timeout), out.decode(errors="replace")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(experiment directory, terminal output) of one tiny sweep run by the CLI on a TTY."""
    root = tmp_path_factory.mktemp("live")
    sweep = root / "tiny.yaml"
    sweep.write_text(yaml.safe_dump(TINY_SWEEP))
    code, out = run_on_a_terminal(
        [sys.executable, "-m", "tuning", "run", str(sweep), "--storage", str(root), "--name", "live"]
    )
    assert code == 0, out[-2000:]
    return root / "live", out


def test_live_view_redraws_in_place_on_a_terminal(live):
    """Under the per-trial lines, a status line redrawn in place (after a carriage return); piped output has none
    (tests/tuning/driver/test_progress.py)."""
    _, out = live
    assert out.count("\rtrials ") > 4  # drawn again as trials end and as time passes
    final = out[out.rindex("\rtrials ") + 1 :].splitlines()[0]
    assert final.startswith("trials 4/4 done, 0 running, 0 pending | elapsed "), final
    assert "| best val_loss " in final and "lr=" in final and "hidden_dim=" in final
    assert out.index("[4/4] trial") < out.rindex("\rtrials 4/4 done"), "the status line stays under the trial lines"


def test_ranking_and_extra_columns_on_a_real_experiment(live):
    exp_dir, _ = live
    report = json.loads(tuning_here("report", str(exp_dir), "--format", "json").stdout)
    best = {}
    for path in exp_dir.glob("trial_*/result.json"):
        rows = read_results(path)
        best[rows[0]["trial_id"]] = min(r["val_loss"] for r in rows)
    assert [t["trial_id"] for t in report["trials"]] == sorted(best, key=best.get)
    for trial in report["trials"]:
        assert trial["node"] and trial["seed"] is not None and "val_acc" in trial["metrics"]
        assert trial["checkpoints"] >= 1 and trial["checkpoint_bytes"] > 0
    assert report["compute"]["trial_s"] > 0 and report["compute"]["time_to_best_s"] is not None


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.rows = [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.rows += tag == "tr"


def test_every_format_parses_back(live, tmp_path):
    exp_dir, _ = live
    table = tuning_here("report", str(exp_dir))
    assert table.returncode == 0 and "importance (ped_anova, 4 trials)" in table.stdout
    assert "compute: " in table.stdout
    markdown = tuning_here("report", str(exp_dir), "--format", "markdown").stdout
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in markdown.splitlines() if line.startswith("|")]
    assert rows[0][:4] == ["rank", "trial", "status", "val_loss"] and set(rows[1]) == {"---"}
    assert [r[0] for r in rows[2:]] == ["1", "2", "3", "4"] and {len(r) for r in rows} == {len(rows[0])}
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"trials.{fmt}"
        assert tuning_here("report", str(exp_dir), "--format", fmt, "--output", str(out)).returncode == 0
        read = pacsv.read_csv if fmt == "csv" else pq.read_table
        trials, results = read(out), read(tmp_path / f"trials_results.{fmt}")
        assert trials.num_rows == 4 and trials.column("rank").to_pylist() == [1, 2, 3, 4]
        assert results.num_rows == sum(len(read_results(p)) for p in exp_dir.glob("trial_*/result.json"))
        assert {"trial_id", "training_iteration", "val_loss", "val_acc"} <= set(results.column_names)
    page = tmp_path / "report.html"
    assert tuning_here("report", str(exp_dir), "--format", "html", "--output", str(page)).returncode == 0
    parser = _Cells()
    text = page.read_text()
    parser.feed(text)
    assert parser.tags.count("svg") >= 5 and parser.rows >= 5
    assert "<title>live</title>" in text and "<h1>live</h1>" in text  # the resolved sweep's name (--name live)
    assert f'<p class="path"><small>{exp_dir.resolve()}</small></p>' in text
    assert text.count(' data-t="') >= 4 * 5  # a row, a curve, a legend entry, a parallel line and 2 dots each
    assert "://" not in text  # nothing to fetch


class _Charts(HTMLParser):
    """Each <svg class="plot"> of a page as [its title, the marks drawn in it, its data-test-size attribute]."""

    MARKS = ("path", "polyline", "circle", "rect")

    def __init__(self):
        super().__init__()
        self.charts, self._depth, self._in_title = [], 0, False  # _depth: inside a chart, 1 at its children

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._depth:
            self._depth += 1
            self.charts[-1][1] += tag in self.MARKS
            self._in_title = tag == "title" and self._depth == 2  # the chart's own, not a mark's tooltip
        elif tag == "svg" and "plot" in (attrs.get("class") or "").split():
            self.charts.append(["", 0, attrs.get("data-test-size")])
            self._depth = 1

    def handle_endtag(self, tag):
        self._depth = max(0, self._depth - 1)
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.charts[-1][0] += data


# The test's own probe, not the page's: once the page is laid out, each svg gets its rendered size.
SIZE_PROBE = (
    "<script>addEventListener('load',()=>{for(const s of document.querySelectorAll('svg')){"
    "const b=s.getBoundingClientRect();s.setAttribute('data-test-size',`${b.width}x${b.height}`);}});"
    "</script>"
)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.needs("chromium", reason="Debian's chromium renders the page (.ci/run installs it)")
def test_html_report_renders_in_a_real_browser(live, tmp_path):
    """Chromium lays out the page's 5 charts (learning curves, parallel coordinates, a scatter per param,
    importance), each with its title, marks in it and a non-empty size, counted from the DOM Chromium dumps
    (sizes by the test's own probe, not the page's script); the page is no wider than the window."""
    exp_dir, _ = live
    page = tmp_path / "report.html"
    assert tuning("report", str(exp_dir), "--format", "html", "--output", str(page)).returncode == 0
    page.write_text(page.read_text().replace("</body>", SIZE_PROBE + "</body>"))
    dom = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    parser = _Charts()
    parser.feed(dom)
    titles = [
        "val_loss per epoch, top 4",
        "params against val_loss (dark: best)",
        "model.init_args.hidden_dim against val_loss",
        "model.init_args.lr against val_loss",
        "hyperparameter importance",
    ]
    assert [title for title, _, _ in parser.charts] == titles
    for title, marks, size in parser.charts:
        width, height = (float(v) for v in size.split("x"))
        assert marks > 0 and width > 0 and height > 0, (title, marks, size)
    body = dom[dom.index("<body") :].split(">", 1)[0]
    page_width = int(body.split('data-page-width="')[1].split('"')[0])
    assert page_width <= int(body.split('data-window-width="')[1].split('"')[0])  # no horizontal page scroll


def test_output_of_the_table_and_json_is_what_the_command_prints(live, tmp_path):
    """`--output` with the table and JSON formats writes exactly what the command prints without it."""
    exp_dir, _ = live
    for fmt in ("table", "json"):
        out = tmp_path / f"report.{fmt}"
        written = tuning_here("report", str(exp_dir), "--format", fmt, "--output", str(out))
        assert written.returncode == 0 and f"wrote {out}" in written.stderr, written.stderr
        assert out.read_text() == tuning_here("report", str(exp_dir), "--format", fmt).stdout


def test_export_loads_with_load_from_checkpoint(live, tmp_path):
    from tuning.models.mlp import MLPClassifier
    from tuning.sweep.class_paths import resolve_class

    exp_dir, _ = live
    out = tmp_path / "best"
    result = tuning_here("export", str(exp_dir), "--rank", "1", "--output", str(out))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((out / "config.yaml").read_text())
    best = load_report(str(exp_dir)).trials[0]
    assert config["model"]["class_path"] == "tuning.models.mlp.MLPClassifier"
    assert config["model"]["init_args"]["lr"] == best.config["model.init_args.lr"]
    assert config["seed_everything"] == best.seed
    model = MLPClassifier.load_from_checkpoint(out / "checkpoint.ckpt")
    assert model.hparams.hidden_dim == config["model"]["init_args"]["hidden_dim"]
    # the config alone rebuilds the same module the checkpoint's weights fit
    rebuilt = resolve_class("model", config["model"]["class_path"])(**config["model"]["init_args"])
    rebuilt.load_state_dict(model.state_dict())
    again = tuning_here("export", str(exp_dir), "--rank", "1", "--output", str(out))
    assert again.returncode == 2 and "not an empty directory" in again.stderr


def test_compare_shows_the_best_of_each_and_what_differs(live, tmp_path):
    """compare of the live experiment and another (its best trial reported nothing, its sweep ran 3 epochs): each
    side's own best trial and val_loss, every setting that differs with each side's value, and --scope last."""
    exp_dir, _ = live
    ranked = load_report(str(exp_dir)).trials
    # Another experiment: a copy whose best trial reported nothing and whose sweep ran 3 epochs.
    other = tmp_path / "other"
    shutil.copytree(exp_dir, other)
    (next(other.glob(f"trial_*{ranked[0].trial_id}")) / "result.json").write_text("")
    sweep = yaml.safe_load((other / "sweep.yaml").read_text())
    sweep["trainer"]["max_epochs"] = 3
    (other / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    result = tuning_here("compare", str(exp_dir), str(other))
    assert result.returncode == 0, result.stderr

    def table(out):
        return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}

    rows = table(result.stdout)
    assert rows["trial"] == [ranked[0].trial_id, ranked[1].trial_id], "each experiment's own best"
    assert rows["best"] == [cell(ranked[0].metric), cell(ranked[1].metric)], "and its val_loss"
    assert rows["trainer.max_epochs"] == ["2", "3"] and "model.init_args.lr" in rows
    differ = [k for k in ranked[0].config if ranked[0].config[k] != ranked[1].config[k]]
    for key in differ:
        assert rows[key] == [cell(ranked[0].config[key]), cell(ranked[1].config[key])], key
    assert f"settings that differ: {1 + len(differ)}" in result.stdout
    by_last = tuning_here("compare", str(exp_dir), str(other), "--scope", "last")
    last = load_report(str(exp_dir), scope="last").trials[0]
    assert by_last.returncode == 0 and table(by_last.stdout)["trial"][0] == last.trial_id, "--scope last"


def test_bad_report_arguments_exit_2_without_a_traceback(live, tmp_path):
    exp_dir, _ = live
    for args, message in [
        (("export", str(exp_dir), "--rank", "9", "--output", str(tmp_path / "x")), "--rank"),
        (("compare", str(exp_dir)), "at least two"),
        (("report", str(exp_dir), "--format", "parquet"), "needs --output"),
        (("report", str(exp_dir), "--status", "finished"), "--status"),
    ]:
        result = tuning(*args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, args


class _OpensAFile:
    """Pickled, it runs open(path, "w") when loaded: what a hostile pickle could do instead."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_reading_a_crafted_experiment_never_runs_its_modules(live, tmp_path):
    """report, compare and export of a directory someone else wrote import nothing it names and unpickle nothing."""
    exp_dir, _ = live
    crafted = tmp_path / "crafted"
    shutil.copytree(exp_dir, crafted)
    sweep = yaml.safe_load((crafted / "sweep.yaml").read_text())
    sweep["model"]["class_path"] = "evil_module.Net"
    (crafted / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    marker, unpickled = tmp_path / "ran", tmp_path / "unpickled"
    (tmp_path / "evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Net: pass\n")
    # Every pickle in it (Tune's state, the searcher's, the checkpoints) writes a file when loaded.
    hostile = pickle.dumps(_OpensAFile(str(unpickled)))
    pickles = [p for p in crafted.rglob("*") if p.suffix in (".pkl", ".ckpt")]
    assert pickles
    for path in pickles:
        path.write_bytes(hostile)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # importable from where the reader stands, too
    for args in (
        ("report", str(crafted)),
        ("compare", str(crafted), str(exp_dir)),
        ("export", str(crafted), "--output", str(tmp_path / "out")),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "tuning", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert not marker.exists(), f"tuning {args[0]} imported the experiment's module"
        assert not unpickled.exists(), f"tuning {args[0]} unpickled a file of the experiment"
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["model"]["class_path"] == "evil_module.Net"


def test_malformed_experiment_files_are_skipped_with_a_warning_naming_them(live, tmp_path):
    """A result.json or trial.json that is a JSON list, a state file that is not Tune's, a param no space entry
    could hold: every reader warns, naming the file, and reports the rest."""
    exp_dir, _ = live
    crafted = tmp_path / "crafted"
    shutil.copytree(exp_dir, crafted)
    trials = sorted(p for p in crafted.iterdir() if (p / "result.json").is_file())
    (trials[0] / "result.json").write_text("[1, 2]\n")
    (trials[0] / "trial.json").write_text("[1]\n")
    rows = [json.loads(line) for line in (trials[1] / "result.json").read_text().splitlines()]
    key = next(iter(rows[0]["config"]))
    for row in rows:
        row["config"][key] = [1, {"a": 2}]
    (trials[1] / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    state = next(crafted.glob("experiment_state-*.json"))
    state.write_text("[1]")
    for fmt in ("table", "json", "csv", "html"):
        result = tuning("report", str(crafted), "--format", fmt, "--output", str(tmp_path / f"r.{fmt}"))
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
        for where in (
            f"{trials[0]}/result.json:1",
            f"{trials[0]}/trial.json",
            f"{trials[1]}: left out {key}=",
            str(state),
        ):
            assert f"warning: {where}" in result.stderr, (fmt, where, result.stderr)
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["trials"]) == len(trials)
    by_id = {t["trial_id"]: t for t in report["trials"]}
    assert key not in by_id[rows[0]["trial_id"]]["config"]
    result = tuning("compare", str(crafted), str(exp_dir))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]


def test_output_never_overwrites_and_never_writes_inside_the_experiment(live, tmp_path):
    """--output refuses a path inside the experiment and an existing file (unless --force, which writes the
    same report the command prints)."""
    exp_dir, _ = live
    before = (exp_dir / "sweep.yaml").read_bytes()
    for output in (exp_dir / "sweep.yaml", exp_dir / "report.md"):
        result = tuning_here("report", str(exp_dir), "--format", "markdown", "--output", str(output))
        assert result.returncode == 2 and "inside the experiment" in result.stderr, result.stderr
    result = tuning_here("export", str(exp_dir), "--output", str(exp_dir / "best"))
    assert result.returncode == 2 and "inside the experiment" in result.stderr, result.stderr
    assert (exp_dir / "sweep.yaml").read_bytes() == before
    assert not (exp_dir / "report.md").exists() and not (exp_dir / "best").exists()
    mine = tmp_path / "mine.md"
    mine.write_text("my notes")
    result = tuning_here("report", str(exp_dir), "--format", "markdown", "--output", str(mine))
    assert result.returncode == 2 and "add --force" in result.stderr and mine.read_text() == "my notes"
    assert tuning_here("report", str(exp_dir), "--format", "markdown", "--output", str(mine), "--force").returncode == 0
    assert mine.read_text() == tuning_here("report", str(exp_dir), "--format", "markdown").stdout


@pytest.mark.parametrize("target_exists", [False, True])
def test_output_at_a_symbolic_link_is_refused_even_with_force(live, tmp_path, target_exists):
    """A link at the named path (dangling or not, or at the results file beside it) would send the write to where
    it points: refused, and nothing is written there."""
    exp_dir, _ = live
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = elsewhere / "planted.json"
    if target_exists:
        planted.write_text("mine")
    (tmp_path / "out.json").symlink_to(planted)
    (tmp_path / "r_results.csv").symlink_to(elsewhere / "planted_results.csv")
    (tmp_path / "exp_out").symlink_to(elsewhere / "expdir")
    for args in (
        ["report", str(exp_dir), "--format", "json", "--output", str(tmp_path / "out.json"), "--force"],
        ["report", str(exp_dir), "--format", "csv", "--output", str(tmp_path / "r.csv")],
        ["export", str(exp_dir), "--output", str(tmp_path / "exp_out")],
    ):
        result = tuning_here(*args)
        assert result.returncode == 2 and "is a symbolic link" in result.stderr, result.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == (["planted.json"] if target_exists else [])
    assert not target_exists or planted.read_text() == "mine"
    assert not (tmp_path / "r.csv").exists()

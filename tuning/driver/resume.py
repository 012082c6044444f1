"""Continue an interrupted sweep from its experiment directory alone.

What makes a sweep resumable: Tune's own snapshot (experiment state + searcher state, written
after every kept checkpoint), each trial's checkpoints, the resolved `sweep.yaml`, and Optuna's
study in `optuna.db` next to them, so the searcher keeps every result it was told.

An experiment is read here as every reader reads one (tuning.bounded): a regular file inside it, at most
MAX_FILE_BYTES; a link that leads out of it, a FIFO, socket or device, or a file over the bound is a UserError
naming it, raised by load_experiment before anything is changed or Ray starts.
"""

import json
import os
import sys
from pathlib import Path

import yaml

from tuning.bounded import Unreadable, load_json, read_regular, reason
from tuning.driver.study import STUDY_FILE, fresh
from tuning.errors import UserError
from tuning.expdir import MAX_FILE_BYTES, state_files

FINAL = ("TERMINATED", "ERROR")
TRIAL_READS = ("params.json", "result.json", "progress.csv", "trial.json")  # in a trial directory, read whole


def read_file(path: Path, root: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of the experiment's file `path`, read as every reader of an experiment reads one: a regular
    file inside `root` (the experiment), never a link out of it, a FIFO or a device, at most `limit` bytes.
    None when there is no such file; a UserError naming it when it is refused."""
    try:
        return read_regular(str(path), os.path.realpath(root), limit)
    except FileNotFoundError:
        return None
    except Unreadable as why:
        raise UserError(f"{path}: not read ({why}); resume reads only regular files inside the experiment") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_json(path: Path, root: Path):
    """The JSON data of the experiment's file `path` (read_file); None when there is none or it is empty (being
    written); a UserError naming it when it is refused or is no JSON (cut short, nested too deep)."""
    data = read_file(path, root)
    if not data:
        return None
    try:
        return load_json(data.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise UserError(f"{path}: not read ({reason(exc)})") from None


def check_files(exp) -> None:
    """A UserError naming the first file of the experiment (a tuning.expdir.ExpDir, listed) that resume, Tune's
    restore or the driver would read and may not: a link that leads out of it, a FIFO, socket or device, or a
    file over MAX_FILE_BYTES (the experiment's own files and each trial's small files; not Optuna's database
    nor a checkpoint). Raised before anything is changed."""
    refused = sorted(exp.refused)
    over = sorted(
        rel
        for rel, size in exp.files.items()
        if size > MAX_FILE_BYTES
        and ("/" not in rel and rel != STUDY_FILE or rel.count("/") == 1 and rel.rpartition("/")[2] in TRIAL_READS)
    )
    if refused:
        why = exp.refused[refused[0]]
    elif over:
        refused, why = over, f"{exp.files[over[0]]} bytes, over the limit of {MAX_FILE_BYTES}"
    else:
        return
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    raise UserError(
        f"{exp.path(refused[0])}: not read ({why}){more}; resume reads only regular files inside the experiment: "
        "remove it or put back the file tuning wrote (nothing was changed)"
    )


def study_storage(searcher: str, exp_dir):
    """An Optuna RDB storage for the study of a searcher that keeps one, None for the others: `<exp_dir>/optuna.db`
    for a path; for a URI, a fresh live file on this machine published to `<exp_dir>/optuna.db` (driver/study.py)."""
    from tuning.search.searchers import SEARCHERS

    if not SEARCHERS[searcher].keeps_study:
        return None
    from tuning.driver.study_storage import open_storage

    if not isinstance(exp_dir, Path):
        return open_storage(fresh(exp_dir), exp_dir)
    return open_storage(exp_dir / STUDY_FILE)


def trial_states(exp_dir: Path) -> list[dict]:
    """Trial id, status, directory and params of each trial in Tune's newest snapshot ([] while it is
    being written or before the first)."""
    from tuning.expdir import ExpDir, tune_states

    trials = []
    for state in tune_states(ExpDir(str(exp_dir)), warn=False):
        # A pending trial has no params.json yet; its config is in the state (plain JSON for our spaces).
        params = state.pop("config")
        if params is None:
            params = read_json(Path(exp_dir) / (state.get("relative_logdir") or "-") / "params.json", exp_dir)
        trials.append({**state, "params": params})
    return trials


def resume_hint(exp_dir: Path, command: str = "run") -> None:
    """Tell the user the sweep stopped early, that its state is saved, and how to continue."""
    from tuning.text import inert, shell_command

    print(
        f"tuning {command}: interrupted; finished trials and checkpoints are saved in {inert(exp_dir)}\n"
        f"continue with: {shell_command('tuning', 'resume', exp_dir)}",
        file=sys.stderr,
        flush=True,
    )


def settle_orphans(exp_dir: Path, study_file: Path | None = None) -> int:
    """Mark FAIL the study's running trials that Tune's snapshot does not know, or knows as ended; return how many.

    A trial proposed after the last snapshot was lost with the driver; left RUNNING, Optuna's
    constant liar would keep steering away from its (unmeasured) params forever. `study_file`: the
    study, if not `<exp_dir>/optuna.db` (a URI experiment's live file, tuning.driver.study).
    """
    path = study_file or Path(exp_dir) / STUDY_FILE
    if not path.is_file():
        return 0
    import optuna

    from tuning.compat.optuna import fail_trial
    from tuning.driver.study_storage import open_storage

    storage = open_storage(path)
    known = [s["params"] for s in trial_states(exp_dir) if s["status"] not in FINAL]
    settled = 0
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if not any(_same_params(trial.params, params) for params in known if params):
                fail_trial(storage, trial, "lost with an interrupted driver")
                settled += 1
    return settled


def repair_results(exp_dir: Path) -> list[Path]:
    """Cut a line that a crash left half-written at the end of a trial's result files; return the files.

    Tune appends to these files when a trial continues: its next row would be glued to the broken line
    and lost with it. The cut row's epoch is not in Tune's snapshot, so it runs and is written again.
    """
    repaired = []
    for path in [*Path(exp_dir).glob("*/result.json"), *Path(exp_dir).glob("*/progress.csv")]:
        data = read_file(path, exp_dir)
        if data and not data.endswith(b"\n"):
            path.write_bytes(data[: data.rfind(b"\n") + 1])
            print(f"tuning resume: {path}: removed a half-written last line", file=sys.stderr)
            repaired.append(path)
    return repaired


def repair(exp_dir: Path, study_file: Path | None = None) -> None:
    """Every crash repair, before Tune's restore: the study's orphans, half-written result lines, snapshots naming
    deleted checkpoints, a search state behind the trial list. `study_file`: as for settle_orphans. A study that is
    not a readable database is a UserError naming it, raised before anything is changed."""
    study = study_file or Path(exp_dir) / STUDY_FILE
    if study.is_file():
        check_study(study)
    settle_orphans(exp_dir, study_file)
    repair_results(exp_dir)
    repair_checkpoints(exp_dir)
    repair_search(exp_dir)


def check_study(path: Path) -> None:
    """A UserError naming `path` unless it is an intact SQLite database with Optuna's tables; reads only.

    Opening it through Optuna would write (its tables and migrations) before failing with a traceback.
    `immutable`: no -wal or -shm file is made beside it, so a refused resume leaves the experiment as it was.
    """
    import contextlib
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)) as db:
            db.execute("SELECT count(*) FROM studies").fetchone()
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        problem = str(exc)
    if problem != "ok":
        raise UserError(
            f"the experiment's Optuna study {path} is not readable ({problem}); the sweep cannot "
            "continue without it: put back a good copy and resume again (nothing was changed; "
            "`tuning report` still reads the experiment)"
        )


def repair_search(exp_dir: Path) -> bool:
    """Make Tune's saved search state agree with its trial list where a crash left them apart
    (tune_compat.settle_search_state); the searcher itself takes a trial it lost back from the study (searchers)."""

    from tuning.compat import tune as tune_compat

    states = trial_states(exp_dir)
    unfinished = {s["trial_id"] for s in states if s["status"] not in FINAL}
    repaired = bool(states) and tune_compat.settle_search_state(str(exp_dir), len(states), unfinished)
    if repaired:
        print(
            f"tuning resume: {exp_dir}: the search state disagreed with Tune's trial list; made to agree",
            file=sys.stderr,
        )
    return repaired


def repair_checkpoints(exp_dir: Path) -> list[str]:
    """Point each unfinished trial whose latest checkpoint is gone at its newest kept one; return their dirs.

    Tune deletes a trial's previous checkpoint (num_to_keep) before the snapshot that stops referencing it
    reaches storage: a driver killed in between leaves a trial that cannot be restored. The trial then
    continues from its newest checkpoint still on disk, and its result rows after that are cut, since
    those epochs run again.
    """

    from tuning.compat import tune as tune_compat

    states = [Path(exp_dir) / name for name in state_files(os.listdir(exp_dir))]
    data = (read_json(states[-1], exp_dir) if states else None) or {"trial_data": []}
    repaired = []
    for entry in data["trial_data"]:
        state, metadata = json.loads(entry[0]), tune_compat.tune_trial_metadata(entry[1])
        manager, trial_dir = metadata.get("checkpoint_manager"), Path(exp_dir) / (state.get("relative_logdir") or "-")
        latest = manager and tune_compat.latest_checkpoint_result(manager)
        if state.get("status") in FINAL:
            continue
        if latest is None or (trial_dir / Path(latest.checkpoint.path).name).is_dir():
            # Result files are synced on their own schedule and may hold epochs past the snapshot's
            # checkpoint: those run again from it, so their rows are cut to be written once.
            _cut_results(trial_dir, latest.metrics["training_iteration"] if latest else 0)
            continue
        kept = [
            r for r in tune_compat.checkpoint_results(manager) if (trial_dir / Path(r.checkpoint.path).name).is_dir()
        ]
        restored = tune_compat.keep_checkpoints(manager, kept)
        entry[1] = json.dumps(metadata, indent=2, cls=tune_compat.tune_json_encoder())
        _cut_results(trial_dir, restored.metrics["training_iteration"] if restored else 0)
        repaired.append(trial_dir.name)
    if repaired:
        tmp = states[-1].with_name(f".{states[-1].name}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(states[-1])
        print(
            f"tuning resume: {', '.join(repaired)}: continuing from the newest checkpoint still on disk",
            file=sys.stderr,
        )
    return repaired


def _cut_results(trial_dir: Path, iteration: int) -> None:
    """Keep the result rows up to `iteration`; the epochs after it run again and are written again.

    progress.csv holds a row per result.json row, in the same order (Tune's two loggers write each result),
    so it keeps as many rows: its columns cannot be trusted to line up, since a resumed trial's rows follow
    the keys of its own first result under the header the first run wrote.
    """
    results, root = trial_dir / "result.json", trial_dir.parent  # the experiment
    kept = 0
    text = read_file(results, root)
    if text is not None:
        lines = [
            line
            for line in text.decode().splitlines(keepends=True)
            if line.strip() and json.loads(line).get("training_iteration", 0) <= iteration
        ]
        results.write_text("".join(lines))
        kept = len(lines)
    progress = trial_dir / "progress.csv"
    lines = (read_file(progress, root) or b"").decode().splitlines(keepends=True)
    if lines:
        progress.write_text("".join(lines[: 1 + kept]))


def _same_params(optuna_params: dict, tune_params: dict) -> bool:
    # Tune's params.json holds the nested config; OptunaSearch flattens it with "/".
    flat = _flatten(tune_params)
    return all(flat.get(key) == value for key, value in optuna_params.items())


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_experiment(experiment: str):
    """The experiment directory (a path; a URI: tuning.driver.uri_resume) and its resolved sweep, or a UserError
    saying what is missing."""
    from tuning.expdir import SWEEP_FILE, ExpDir
    from tuning.storage import experiment_location
    from tuning.sweep.config import parse_sweep

    exp_dir = Path(experiment).expanduser().resolve()
    sweep_file = exp_dir / SWEEP_FILE
    # read with the bounds of every reader of an experiment (size, depth, YAML aliases), then checked in full
    exp = ExpDir(str(exp_dir))
    cfg = parse_sweep(exp.sweep(), origin=str(sweep_file))
    check_files(exp)  # before anything is changed, and before Ray starts
    recorded = Path(experiment_location(cfg.run.storage, cfg.name))
    if recorded != exp_dir and (exp_dir / STUDY_FILE).exists():
        # Tune's pickled searcher holds the study's absolute path: resuming elsewhere would start a new study.
        raise UserError(
            f"experiment {exp_dir}: it was created as {recorded}; move it back there to resume "
            "(Optuna's study is referenced by that path). `tuning report` works from anywhere"
        )
    require_snapshot(exp_dir, str(exp_dir), str(sweep_file))
    return exp_dir, cfg


def require_snapshot(directory: Path, shown: str, sweep_file: str) -> None:
    """A UserError unless `directory` (the experiment, or a local copy of it) holds a state Ray Tune saved."""
    from tuning.text import shell_command

    if not state_files(os.listdir(directory)):
        raise UserError(
            f"experiment {shown}: Ray Tune saved no state before the run stopped; nothing to resume. "
            f"Start it again with: {shell_command('tuning', 'run', sweep_file)} --name <new name>"
        )


def check_more(cfg, more: int) -> None:
    """A UserError unless the sweep can be extended by `more` trials; changes nothing."""
    if more < 1:
        raise UserError(f"--more: must be a whole number >= 1, got {more}")
    from tuning.search.registry import either, names_with
    from tuning.search.searchers import SEARCHERS

    if not SEARCHERS[cfg.search.searcher.name].can_extend:
        raise UserError(
            f"--more: extends a sweep whose searcher is {either(names_with(SEARCHERS, can_extend=True))} "
            f"(its study knows what was tried); this one's is {cfg.search.searcher.name}. For random "
            "search that can be extended, use search.searcher: {name: optuna, sampler: random}"
        )


def extend(exp_dir: Path, cfg, more: int):
    """Add `more` trials to the experiment: Tune's saved search state and sweep.yaml's num_samples both grow by
    `more`; return the sweep as extended. The searcher's study goes on, so no config is proposed twice.

    The driver calls this last, after everything that can fail before trials start: a `--more` refused or
    interrupted before then leaves the count as it was (a plain resume would otherwise run trials nobody asked for).
    """

    from tuning.compat import tune as tune_compat
    from tuning.expdir import SWEEP_FILE

    check_more(cfg, more)
    try:
        total = tune_compat.extend_search(str(exp_dir), more)
    except ValueError as exc:
        raise UserError(f"--more: {exc}; the sweep stopped before Ray Tune saved its search") from None
    extended = cfg.model_copy(update={"search": cfg.search.model_copy(update={"num_samples": total})})
    sweep_file = exp_dir / SWEEP_FILE
    staged = sweep_file.with_name(f".{SWEEP_FILE}.more")
    staged.write_text(yaml.safe_dump(extended.to_dict(), sort_keys=False))
    staged.replace(sweep_file)  # atomic: a crash leaves the old sweep.yaml or the new one
    return extended

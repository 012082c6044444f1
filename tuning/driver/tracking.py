"""The sweep in MLflow (`track.mlflow`): a parent run per sweep, a nested child run per trial.

Everything is logged from the driver, which receives every trial's results wherever the trial ran (any node of a
cluster): a Ray Tune callback creates a child as a trial starts (its config as params, dotted keys), logs each
result as metrics (step = the trial's epoch, `training_iteration`) and ends it with the trial's status. At the end
of the sweep (`finish_tracking`, from tuning.driver.tuner.fit) each child gets the report's rank and status as tags
and the parent the HTML report and the best trial's checkpoint as artifacts.

The parent's id is kept in the experiment directory (`mlflow.json`) and in the callback, which Tune pickles with
the experiment: a resume continues the same parent and finds its children by their `tuning.trial_id` tag, so no
trial gets a second child. The pickled callback holds plain data only; MLflow's client is made again after it.
A tracker that fails mid-sweep never fails the sweep: live logging stops with one warning, and the end of the
sweep adds the children that are missing, with their whole metric history, from the experiment's files.
"""

import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from ray.tune import Callback

from tuning.errors import UserError

TRACKING_FILE = "mlflow.json"  # in the experiment directory: the tracking store, experiment and parent run
TRIAL_TAG = "tuning.trial_id"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: its UI nests the child under the parent
STATUS = {"completed": "FINISHED", "stopped_early": "FINISHED", "errored": "FAILED"}  # else KILLED
# Tune's bookkeeping in every result: not metrics of the trial's (the report reads the same rows)
TUNE_KEYS = {
    "timestamp",
    "training_iteration",
    "iterations_since_restore",
    "time_since_restore",
    "pid",
    "done",
    "should_checkpoint",
    "episodes_total",
    "timesteps_total",
    "timesteps_since_restore",
}
PROBE_TIMEOUT_S = 10.0
MAX_VALUE = 6000  # MLflow's longest param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH)


def _spec(cfg):
    return cfg.track.mlflow if cfg.track is not None else None


def resolve_uri(uri: str | None) -> str:
    """The tracking URI as every later process must see it: a relative local store made absolute (a resume may
    start elsewhere). None: MLFLOW_TRACKING_URI, else MLflow's default local store."""
    import mlflow

    uri = uri or mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///") :]).expanduser().resolve())
    if ":" not in uri and not uri.startswith("databricks"):  # a plain path: MLflow's file store
        return Path(uri).expanduser().resolve().as_uri()
    return uri


def check_tracking(cfg) -> None:
    """Before anything starts or is written: the tracking store answers and takes the sweep (a server that does not
    answer, a store MLflow refuses, a deleted experiment are UserErrors naming the key)."""
    spec = _spec(cfg)
    if spec is None:
        return
    uri = resolve_uri(spec.tracking_uri)
    where = (
        "track.mlflow.tracking_uri" if spec.tracking_uri else "track.mlflow (MLFLOW_TRACKING_URI, or MLflow's default)"
    )
    if uri.startswith(("http://", "https://")):
        _probe(uri, where)
    name = spec.experiment or cfg.name
    try:
        experiment = mlflow_client(uri).get_experiment_by_name(name)
    except Exception as exc:  # MLflow's own errors and its HTTP client's
        raise UserError(f"{where}: the tracking store at {uri} cannot be used: {exc} (nothing was started)") from None
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        raise UserError(
            f"track.mlflow.experiment: MLflow's experiment '{name}' at {uri} is deleted; restore it (mlflow "
            "experiments restore) or name another (nothing was started)"
        )


def _probe(uri: str, where: str) -> None:
    """A UserError at once when nothing answers at `uri`, rather than MLflow's retries for minutes."""
    import ssl
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:  # something answers (a proxy's or the server's own refusal): MLflow says more
        return
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(getattr(exc, "reason", None), ssl.SSLError):  # it answers; MLflow has its own TLS settings
            return
        raise UserError(
            f"{where}: no MLflow tracking server answers at {uri} ({getattr(exc, 'reason', exc)}); start it "
            "(mlflow server), or fix the URI (nothing was started)"
        ) from None


def mlflow_client(uri: str):
    """MLflow's client of the store at `uri`, as the driver uses it: MLflow's own prints (a URL per ended run) and
    its retries of a failed request (7, with backoff: minutes the driver's loop would wait) are cut down, unless
    the user set them."""
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    return MlflowClient(uri)


def _run_url(record: dict) -> str:
    """Where the parent run is: its page on a tracking server, else the store and the run's id."""
    uri, experiment, run = record["tracking_uri"], record["experiment_id"], record["run_id"]
    if uri.startswith(("http://", "https://")):
        return f"the sweep's parent run is {uri.rstrip('/')}/#/experiments/{experiment}/runs/{run}"
    return f"the sweep's parent run is {run} (experiment {experiment}) in {uri}"


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _key(name: str) -> str:
    """A name MLflow accepts as a param or metric key (letters, digits, _ - . / : and spaces)."""
    return re.sub(r"[^\w\-./: ]", "_", str(name))[:250]


def _params(config: dict) -> list:
    from mlflow.entities import Param

    return [Param(_key(k), str(v)[:MAX_VALUE]) for k, v in sorted(_flat(config).items())]


def _metrics(result: dict, step: int, stamp_ms: int) -> list:
    """Every finite number of a result but Tune's bookkeeping, at `step`."""
    from mlflow.entities import Metric

    return [
        Metric(_key(k), float(v), stamp_ms, step)
        for k, v in result.items()
        if k not in TUNE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]


def _log(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    """log_batch within MLflow's limits per call (1000 entities, 100 params or tags)."""
    for i in range(0, max(len(params), len(tags)), 100):
        client.log_batch(run_id, params=params[i : i + 100], tags=tags[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])


def read_record(exp_dir) -> dict | None:
    """The experiment's tracking record (tracking_uri, experiment_id, run_id), or None."""
    from tuning import storage

    try:
        return json.loads(storage.read_text(f"{exp_dir}/{TRACKING_FILE}"))
    except FileNotFoundError:
        return None


def find_children(client, record: dict) -> dict:
    """trial id -> child run id, for the parent of `record`."""
    found, token = {}, None
    while True:
        page = client.search_runs(
            [record["experiment_id"]],
            filter_string=f"tags.`{PARENT_TAG}` = '{record['run_id']}'",
            max_results=1000,
            page_token=token,
        )
        found.update({r.data.tags[TRIAL_TAG]: r.info.run_id for r in page if TRIAL_TAG in r.data.tags})
        token = page.token
        if not token:
            return found


def _start_parent(client, cfg, exp_dir) -> dict:
    """A new parent run for the sweep, with the resolved sweep as params and sweep.yaml as an artifact."""
    import yaml
    from mlflow.entities import RunTag

    spec = _spec(cfg)
    name = spec.experiment or cfg.name
    experiment = client.get_experiment_by_name(name)  # a deleted one was refused by check_tracking
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    run = client.create_run(experiment_id, run_name=cfg.name, tags={"tuning.experiment": str(exp_dir)})
    data = cfg.to_dict()
    tags = [RunTag("mlflow.note.content", cfg.description)] if cfg.description else []
    _log(client, run.info.run_id, params=_params({k: v for k, v in data.items() if k != "track"}), tags=tags)
    client.log_text(run.info.run_id, yaml.safe_dump(data, sort_keys=False), "sweep.yaml")
    return {"experiment_id": experiment_id, "run_id": run.info.run_id}


def tracking_callbacks(cfg, exp_dir) -> list:
    """The Tune callbacks of the sweep's `track:` section: the parent run is opened here (a new one, or the one
    this experiment's mlflow.json names) and its id recorded there before any trial starts."""
    spec = _spec(cfg)
    if spec is None:
        return []
    from tuning import storage

    record = read_record(exp_dir)
    if record is None:
        uri = resolve_uri(spec.tracking_uri)
        try:
            record = {"tracking_uri": uri, **_start_parent(mlflow_client(uri), cfg, exp_dir)}
        except Exception as exc:  # MLflow's own errors and its HTTP client's
            raise UserError(f"track.mlflow: MLflow at {uri} refused the sweep's parent run: {exc}") from None
        storage.replace_text(f"{exp_dir}/{TRACKING_FILE}", json.dumps(record, indent=1))
    return [MlflowTracking(record["tracking_uri"], record["experiment_id"], record["run_id"])]


class MlflowTracking(Callback):
    """Logs each trial as a child run of the sweep's parent run, from the driver (see the module's docstring)."""

    def __init__(self, tracking_uri: str, experiment_id: str, run_id: str):
        # Plain data only: Tune pickles this callback with the experiment (tuner.pkl).
        self.tracking_uri, self.experiment_id, self.run_id = tracking_uri, experiment_id, run_id

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @property
    def record(self) -> dict:
        return {"tracking_uri": self.tracking_uri, "experiment_id": self.experiment_id, "run_id": self.run_id}

    def _live(self) -> dict:
        """The client and trial id -> child run id, made again in each driver process (never pickled)."""
        if "_session" not in self.__dict__:
            made = mlflow_client(self.tracking_uri)
            self._session = {"client": made, "children": find_children(made, self.record), "broken": False}
        return self._session

    def _safely(self, what: str, step, *args) -> None:
        """Run `step(session, *args)`; a tracker's failure stops live logging with one warning, never the sweep."""
        if self.__dict__.get("_session", {}).get("broken"):
            return
        try:
            step(self._live(), *args)
        except Exception as exc:
            self.__dict__.setdefault("_session", {})["broken"] = True
            print(
                f"tuning: MLflow at {self.tracking_uri}: {what} failed ({type(exc).__name__}: {exc}); live logging "
                "to MLflow stops, the sweep goes on, and its end adds the trials that are missing",
                file=sys.stderr,
                flush=True,
            )

    def _child(self, session: dict, trial) -> tuple[str, bool]:
        """(the trial's child run id, whether it was there before): created with its config as params."""
        children, client = session["children"], session["client"]
        if trial.trial_id in children:
            return children[trial.trial_id], True
        run_id = create_child(client, self.record, trial.trial_id, trial.config, _dirname(trial))
        children[trial.trial_id] = run_id
        return run_id, False

    def setup(self, **info):
        self._safely("reopening the parent run", lambda s: s["client"].update_run(self.run_id, "RUNNING"))

    def on_trial_start(self, iteration, trials, trial, **info):
        def start(session):
            run_id, existed = self._child(session, trial)
            if existed:  # a resumed or retried trial
                session["client"].update_run(run_id, "RUNNING")

        self._safely(f"starting trial {trial.trial_id}'s run", start)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        def log(session):
            run_id, _ = self._child(session, trial)
            step = int(result.get("training_iteration") or 0)
            _log(session["client"], run_id, metrics=_metrics(result, step, int(time.time() * 1000)))

        self._safely(f"logging trial {trial.trial_id}'s result", log)

    def _end(self, trial, status: str) -> None:
        def end(session):
            session["client"].set_terminated(self._child(session, trial)[0], status)

        self._safely(f"ending trial {trial.trial_id}'s run", end)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._end(trial, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, "FAILED")


def _dirname(trial) -> str:
    from tuning.trial import trial_dirname

    return trial_dirname(trial)


def create_child(client, record: dict, trial_id: str, config: dict, dirname: str | None = None) -> str:
    """A child run of the parent in `record` for one trial, tagged with its id, its config as params."""
    from mlflow.entities import RunTag

    tags = {PARENT_TAG: record["run_id"], TRIAL_TAG: trial_id}
    run = client.create_run(record["experiment_id"], run_name=trial_id, tags=tags)
    more = [RunTag("tuning.trial_dir", dirname)] if dirname else []
    _log(client, run.info.run_id, params=_params(config), tags=more)
    return run.info.run_id


def finish_tracking(cfg, exp_dir, outcome: str) -> None:
    """The end of a sweep (or of one resume of it) in MLflow: ranks, statuses, the report and the best checkpoint
    when it finished; the open runs ended as KILLED (interrupted) or FAILED (tuning failed) otherwise. Warns,
    never raises: the sweep's own outcome stands."""
    if _spec(cfg) is None:
        return
    try:
        record = read_record(exp_dir)
        if record is None:  # the sweep stopped before its parent run was opened
            return
        made = mlflow_client(record["tracking_uri"])
        if outcome == "finished":
            _finished(made, record, cfg, exp_dir)
            print(f"MLflow: {_run_url(record)}", file=sys.stderr, flush=True)
        else:
            _cut_short(made, record, "KILLED" if outcome == "interrupted" else "FAILED")
    except Exception as exc:
        print(
            f"tuning: MLflow at {_spec(cfg).tracking_uri or 'the default store'}: the end of the sweep was not "
            f"logged ({type(exc).__name__}: {exc}); `tuning report` has it all",
            file=sys.stderr,
            flush=True,
        )


def _cut_short(client, record: dict, status: str) -> None:
    for run_id in find_children(client, record).values():
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, "KILLED")
    client.set_terminated(record["run_id"], status)


def _finished(client, record: dict, cfg, exp_dir) -> None:
    """Every trial of the report as a child with its rank and status; the parent's artifacts and best value."""
    from mlflow.entities import Metric, RunTag

    from tuning.report import load_report
    from tuning.storage import local_copy

    report = load_report(local_copy(str(exp_dir)))
    children = find_children(client, record)
    for trial in report.trials:
        run_id = children.get(trial.trial_id) or _backfill(client, record, report, trial)
        tags = [RunTag("tuning.rank", str(trial.rank)), RunTag("tuning.status", trial.status)]
        if trial.pareto_rank is not None:
            tags.append(RunTag("tuning.pareto_rank", str(trial.pareto_rank)))
        _log(client, run_id, tags=tags)
        client.set_terminated(run_id, STATUS.get(trial.status, "KILLED"))
    best = report.trials[0] if report.trials else None
    parent = record["run_id"]
    if best is not None and best.metric is not None and math.isfinite(best.metric):
        stamp = int(time.time() * 1000)
        _log(
            client,
            parent,
            metrics=[Metric(_key(f"best_{report.metric}"), float(best.metric), stamp, len(report.trials))],
            tags=[RunTag("tuning.best_trial_id", best.trial_id), RunTag("tuning.trials", str(len(report.trials)))],
        )
    _artifacts(client, parent, str(exp_dir), best, _spec(cfg).checkpoint)
    client.set_terminated(parent, "FINISHED")


def _backfill(client, record: dict, report, trial) -> str:
    """A child for a trial the live logging missed, with its whole metric history from the experiment's files."""
    run_id = create_child(client, record, trial.trial_id, trial.config)
    rows = [r for r in report.results if r["trial_id"] == trial.trial_id]
    metrics = [
        m
        for r in rows
        for m in _metrics(
            {k: v for k, v in r.items() if k != "trial_id"},
            int(r.get("training_iteration") or 0),
            int((r.get("timestamp") or time.time()) * 1000),
        )
    ]
    _log(client, run_id, metrics=metrics)
    return run_id


def _artifacts(client, parent: str, experiment: str, best, checkpoint: bool) -> None:
    """The HTML report, and the best trial's checkpoint with its config (as `tuning export` writes them)."""
    from tuning.report import export_trial, run_report
    from tuning.storage import local_copy

    with tempfile.TemporaryDirectory(prefix="tuning-mlflow-") as tmp:
        page = Path(tmp) / "report.html"
        run_report(local_copy(experiment), "html", output=str(page))
        client.log_artifact(parent, str(page))
        if not (checkpoint and best is not None and best.checkpoint):
            return
        try:
            export_trial(experiment, 1, output=str(Path(tmp) / "best_checkpoint"))
        except UserError as exc:  # e.g. a sweep.yaml whose model export cannot name: the report is there
            print(f"tuning: MLflow: the best checkpoint was not uploaded ({exc})", file=sys.stderr, flush=True)
            return
        client.log_artifacts(parent, str(Path(tmp) / "best_checkpoint"), "best_checkpoint")

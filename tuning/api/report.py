"""A ranked report as Python objects: what `tuning report --format json` holds, as trials and a pandas DataFrame.

Built from that very JSON (tuning.report's `json` format of the same report), so ranks and values are the CLI's.
Nothing here imports a module an experiment names or unpickles a file, except `Trial.load_model`, on purpose.
"""

from dataclasses import dataclass, field

PANDAS_MISSING = "Report.to_pandas needs pandas: pip install 'tuning[pandas]'"
COLUMNS = ("rank", "trial_id", "status", "metric", "epoch", "epochs", "time_s")  # then one per searched key


@dataclass
class Trial:
    """One trial of a report: its rank, status, metric at the ranked epoch, and the config it ran (dotted keys).

    `data` is the trial's whole entry in the report JSON (other metrics, node, seed, checkpoints, ...)."""

    rank: int
    trial_id: str
    status: str
    metric: float | None
    epoch: int | None  # the epoch the report ranks (the best, or the last with scope="last")
    epochs: int  # the epochs it ran
    time_s: float
    config: dict  # the searched params it ran with, by dotted key: {"model.init_args.lr": 0.003}
    checkpoint: str | None  # the ranked epoch's checkpoint directory, if kept
    values: list | None = None  # several objectives: one value per metric
    pareto_rank: int | None = None  # several objectives: 1 = no trial dominates it
    error: str | None = None  # an errored trial's last error line
    data: dict = field(default_factory=dict, repr=False)
    experiment: str = field(default="", repr=False)  # the experiment as the caller named it (a path or a URI)
    scope: str = field(default="best", repr=False)

    @classmethod
    def from_json(cls, data: dict, experiment: str, scope: str) -> "Trial":
        """A trial from its entry in the report JSON."""
        return cls(
            rank=data["rank"],
            trial_id=data["trial_id"],
            status=data["status"],
            metric=data["metric"],
            epoch=data["epoch"],
            epochs=data["iterations"],
            time_s=data["time_s"],
            config=data["config"],
            checkpoint=data["checkpoint"],
            values=data.get("values"),
            pareto_rank=data.get("pareto_rank"),
            error=data.get("error"),
            data=data,
            experiment=experiment,
            scope=scope,
        )

    def load_model(self):
        """The LightningModule of this trial, with the weights of its ranked epoch's checkpoint.

        Trust: this imports the sweep's model class (and whatever its module imports) and builds it, as the trial
        did, then loads the checkpoint's state_dict (torch.load with weights_only=True). It is the one place the
        API runs code an experiment names: load models only from experiments you trust. The module comes back as
        Lightning's `load_from_checkpoint` gives one (in training mode; call `.eval()` to predict), on the CPU."""
        from tuning.api.model import load_model

        return load_model(self.experiment, self.trial_id, self.scope)


@dataclass
class Report:
    """The ranked trials of an experiment, as `tuning report --format json` holds them (`data`), best first."""

    experiment: str  # the directory the report read (for a URI, its local copy), as the JSON names it
    metric: str
    mode: str
    scope: str
    trials: list[Trial]
    data: dict = field(repr=False)  # the report JSON, parsed
    source: object = field(default=None, repr=False)  # tuning.report's Report, for the table (str(report))
    top: int | None = field(default=None, repr=False)

    @property
    def best(self) -> Trial | None:
        """The best trial shown (the first in rank order with a metric); None when none has one yet."""
        return next((t for t in self.trials if t.metric is not None), None)

    def to_dict(self) -> dict:
        """The report JSON as data (a copy): what `tuning report --format json` prints."""
        import copy

        return copy.deepcopy(self.data)

    def to_pandas(self):
        """One row per trial in rank order: rank, trial_id, status, metric, epoch, epochs, time_s, and one column per
        searched key (a key a trial did not sample is empty); with several objectives also pareto_rank and one
        column per metric."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(PANDAS_MISSING) from None
        metrics = self.data.get("metrics") or []
        keys = sorted({key for trial in self.trials for key in trial.config})
        several = ["pareto_rank", "metric", *metrics] if metrics else ["metric"]
        columns = [*COLUMNS[:3], *several, *COLUMNS[4:], *keys]
        rows = [
            {
                **{name: getattr(t, name) for name in COLUMNS},
                **({"pareto_rank": t.pareto_rank, **dict(zip(metrics, t.values or []))} if metrics else {}),
                **{key: t.config.get(key) for key in keys},
            }
            for t in self.trials
        ]
        return pd.DataFrame(rows, columns=columns)

    def __str__(self) -> str:
        """The console table of `tuning report`."""
        from tuning.report import render

        return render(self.source, "table", top=self.top) if self.source is not None else repr(self)

    def __repr__(self) -> str:
        best = self.best
        said = f", best {self.metric} {best.metric:.6g} (trial {best.trial_id})" if best else ""
        return f"<Report of {self.experiment}: {len(self.trials)} trials{said}>"


def report_of(location: str, scope: str | None = None, top: int | None = None, status=None) -> Report:
    """The report of the experiment at `location` (a path or a URI), as `tuning report --format json` has it."""
    import json

    from tuning.errors import UserError
    from tuning.report import load_report, render
    from tuning.storage import local_copy

    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise UserError(f"--top: must be at least 1, got {top}")
    if status is not None and not isinstance(status, str):
        status = ",".join(status)  # ("completed", "errored") as --status completed,errored
    source = load_report(local_copy(location), scope=scope, status=status)
    data = json.loads(render(source, "json", top))  # the CLI's own JSON, as it prints it
    trials = [Trial.from_json(t, location, data["scope"]) for t in data["trials"]]
    return Report(data["experiment"], data["metric"], data["mode"], data["scope"], trials, data, source, top)

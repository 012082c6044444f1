"""The sweep file: typed, validated, with errors that name the key path.

`load_sweep(source, overrides)` is the one entry point: YAML and `--set` overrides read by
`tuning.sweep.file` -> a checked `SweepConfig`, or a `UserError` that says what is wrong and what
is allowed. Checks that need the user's classes live in `tuning.sweep.classes`.
"""

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tuning.errors import UserError, did_you_mean
from tuning.search.searchers import SAMPLER_NAMES, SEARCHER_NAMES  # the names a sweep may give: the registries' keys
from tuning.sweep import space as space_mod
from tuning.sweep.budget import BudgetSpec, StopSpec, search_problem
from tuning.sweep.file import apply_overrides, plain_data_problem, read_yaml
from tuning.sweep.track import TrackSpec

SWEEPS_DIR = Path(__file__).parents[1] / "sweeps"  # tuning/sweeps: the built-in sweep files
_SPACE_KEY = "[space key "  # marks per-key space errors so they can be reported one per line


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassSpec(_Section):
    """A class and its constructor arguments, as in Lightning's own CLI."""

    class_path: str = Field(description="registry name (e.g. mlp) or dotted import path (my_pkg.models.MyModel)")
    init_args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for __init__")


class ModuleSpec(ClassSpec):
    """The LightningModule or LightningDataModule, and how the project's LightningCLI spells it."""

    cli_form: Literal["subclass", "fixed", "hydra"] = Field(
        "subclass",
        description="subclass: class_path + init_args (LightningCLI's subclass mode); fixed: the bare "
        "arguments of a class the CLI script fixes (LightningCLI(MyModel, MyData)); hydra: a "
        "Hydra node (_target_ is the class_path, the rest its init_args); as tuning export "
        "writes it back",
    )


class SearcherSpec(_Section):
    """Which search algorithm proposes configs."""

    name: Literal[SEARCHER_NAMES] = Field(
        "optuna", description="optuna (a model-based sampler), random or grid (Tune's variant generator)"
    )
    sampler: Literal[SAMPLER_NAMES] = Field("tpe", description="the Optuna sampler")
    seed: Optional[int] = Field(None, description="the searcher's seed; defaults to run.seed")
    history: Optional[int] = Field(
        None,
        ge=10,
        description="tpe: model at most this many finished trials (the best quarter, the most recent "
        "rest), so each suggestion costs the same however long the sweep; default: all",
    )
    points_to_evaluate: list[dict[str, Any]] = Field(
        default_factory=list, description="configs (dotted key -> value) to try first, e.g. known good ones"
    )


class SchedulerSpec(_Section):
    """What every trial scheduler's section holds; each scheduler's own section below adds its settings and
    refuses the others'. (Pickled searchers of earlier experiments name this class: it stays.)"""

    name: str = Field(description="asha, hyperband, median (stopping rule), pbt (population based) or fifo (none)")
    max_t: Optional[int] = Field(None, ge=1, description="the epoch budget of a trial; defaults to trainer.max_epochs")
    metric: Optional[str] = Field(
        None,
        description="the one metric it compares trials on: one of search.metric, "
        "required with several objectives (but for fifo)",
    )


class AshaSpec(SchedulerSpec):
    """Asynchronous successive halving: at epochs g, g*r, g*r^2, ... only the best 1/r go on."""

    name: Literal["asha"] = Field("asha", description="asha: asynchronous successive halving")
    grace_period: int = Field(1, ge=1, description="epochs every trial gets before it can be stopped")
    reduction_factor: float = Field(3, gt=1, description="asha/hyperband keep 1/reduction_factor of trials per rung")


class HyperbandSpec(SchedulerSpec):
    """Synchronous HyperBand brackets (pauses trials, resumes them from checkpoints)."""

    name: Literal["hyperband"] = Field("hyperband", description="hyperband: synchronous HyperBand brackets")
    reduction_factor: float = Field(3, gt=1, description="asha/hyperband keep 1/reduction_factor of trials per rung")


class MedianSpec(SchedulerSpec):
    """The median stopping rule: stops a trial below the median of the others at the same epoch."""

    name: Literal["median"] = Field("median", description="median: the median stopping rule")
    grace_period: int = Field(1, ge=1, description="epochs every trial gets before it can be stopped")
    min_samples_required: int = Field(3, ge=1, description="median: trials needed at an epoch before stopping")


class PbtSpec(SchedulerSpec):
    """Population based training: the bottom quantile copies a top trial's checkpoint and mutates it."""

    name: Literal["pbt"] = Field("pbt", description="pbt: population based training")
    perturbation_interval: int = Field(2, ge=1, description="pbt: epochs between exploit/explore steps")
    quantile_fraction: float = Field(0.25, gt=0, le=0.5, description="pbt: bottom fraction that copies the top")
    resample_probability: float = Field(0.25, ge=0, le=1, description="pbt: chance a mutated value is resampled")
    mutations: dict[str, space_mod.Domain] = Field(
        default_factory=dict, description="pbt: dotted key -> domain to mutate; default: the search space"
    )

    @field_validator("mutations", mode="before")
    @classmethod
    def _parse_mutations(cls, value):
        return _parse_domains(value)


class FifoSpec(SchedulerSpec):
    """No scheduler: every trial runs to the end."""

    name: Literal["fifo"] = Field("fifo", description="fifo: every trial runs to the end")


# One settings model per scheduler of tuning.search.schedulers, in its order (tests/tuning/search/test_registries.py).
SCHEDULER_SPECS = (AshaSpec, HyperbandSpec, MedianSpec, PbtSpec, FifoSpec)
_SCHEDULER_SPEC = {spec.model_fields["name"].default: spec for spec in SCHEDULER_SPECS}
# Every scheduler setting of the one section that sweep files had before each scheduler had its own (`metric` came
# later): tuning wrote all of them into every experiment's sweep.yaml.
_ONE_SECTION_FIELDS = {
    "grace_period",
    "reduction_factor",
    "max_t",
    "min_samples_required",
    "perturbation_interval",
    "quantile_fraction",
    "resample_probability",
    "mutations",
}


def _scheduler_section(value):
    """search.scheduler as its scheduler's settings model reads it: without a name, asha's (the default); from an
    earlier experiment's sweep.yaml (every scheduler's settings, the others' unused), its scheduler's alone, so
    that experiment still resumes."""
    if not isinstance(value, dict):
        return value
    value = {"name": "asha", **value}
    spec = _SCHEDULER_SPEC.get(value["name"]) if isinstance(value["name"], str) else None
    if spec is not None and _ONE_SECTION_FIELDS <= set(value):
        value = {key: v for key, v in value.items() if key in spec.model_fields}
    return value


def _scheduler_key_problem(name: str, key: str) -> str:
    """Why `key` is not in scheduler `name`'s section: another scheduler's setting, or no setting at all."""
    shared = [f for f in SchedulerSpec.model_fields if f != "name"]
    fields = [f for f in _SCHEDULER_SPEC[name].model_fields if f not in SchedulerSpec.model_fields] + shared
    if any(key in other.model_fields for other in SCHEDULER_SPECS):
        return (
            f"not a field of {name} (fields: {', '.join(fields)}); to switch schedulers, replace the section: "
            f"--set 'search.scheduler={{name: {name}}}'"
        )
    return f"unknown key{did_you_mean(key, fields)}; allowed keys: name, {', '.join(fields)}"


class SearchSpec(_Section):
    """What to optimize and how."""

    metric: str | list[str] = Field(
        "val_loss",
        description="a metric the model logs at validation, e.g. val_loss; "
        "a list of them for several objectives (a Pareto front)",
    )
    mode: Literal["min", "max"] | list[Literal["min", "max"]] = Field(
        "min", description="whether lower (min) or higher (max) is better; a list as long as search.metric's"
    )
    num_samples: int = Field(10, ge=1, description="number of trials (per grid point with grid entries)")
    scope: Literal["best", "last"] = Field(
        "best",
        description="which epoch a trial counts by, its best or its last: "
        "what the searcher learns and how tuning report ranks",
    )
    space: dict[str, space_mod.Domain] = Field(default_factory=dict, description="dotted key -> domain")
    searcher: SearcherSpec = Field(default_factory=SearcherSpec, description="the search algorithm")
    scheduler: Annotated[Union[SCHEDULER_SPECS], Field(discriminator="name")] = Field(
        default_factory=AshaSpec, description="the trial scheduler: one of tuning.search.schedulers, with its settings"
    )
    warm_start: list[str] = Field(
        default_factory=list, description="earlier experiment directories whose trials the searcher learns from"
    )
    baseline: bool = Field(True, description="the base configuration runs as the first trial")
    budget: Optional[BudgetSpec] = Field(
        None, description="what the sweep may spend (time, trials, compute): the first limit reached ends it"
    )
    stop: Optional[StopSpec] = Field(None, description="end the sweep when the search stops improving: plateau, regret")

    @field_validator("space", mode="before")
    @classmethod
    def _parse_space(cls, value):
        return _parse_domains(value)

    @field_validator("scheduler", mode="before")
    @classmethod
    def _scheduler(cls, value):
        return _scheduler_section(value)

    @field_validator("metric", "mode", mode="before")
    @classmethod
    def _one_or_list(cls, value, info):
        """A name (or min/max), or a list of them: a bad one gets the message a plain field would give."""
        ok, error = (
            (lambda v: isinstance(v, str), ("string_type", "Input should be a valid string"))
            if info.field_name == "metric"
            else (lambda v: v in ("min", "max"), ("literal_error", "Input should be 'min' or 'max'"))
        )
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if not ok(item):
                where = f"item {i}: " if isinstance(value, list) else ""
                raise PydanticCustomError(error[0], where + error[1], {"input": item})
        return value

    @model_validator(mode="after")
    def _objectives(self):
        problem = objectives_problem(self.metric, self.mode)
        if problem:
            raise ValueError(f"{_SPACE_KEY}{problem}")
        if isinstance(self.metric, list) and len(self.metric) == 1:  # one objective, written as a list
            self.metric, self.mode = self.metric[0], self.mode[0]
        problem = search_problem(self)  # the budget and stop rules (tuning.sweep.budget)
        if problem:
            raise ValueError(f"{_SPACE_KEY}{problem}")
        return self


def objectives_problem(metric, mode) -> str | None:
    """What is wrong with search.metric and search.mode as a pair (one name and mode, or lists alike), or None."""
    if not isinstance(metric, list) and not isinstance(mode, list):
        return None
    if not isinstance(metric, list):
        return f"mode]: a list ({mode}) needs search.metric to be a list of as many metrics, got {metric!r}"
    if not metric:
        return "metric]: an empty list; name one metric, or a list of them for several objectives"
    if not isinstance(mode, list) or len(mode) != len(metric):
        return (
            f"mode]: search.metric names {len(metric)} metrics ({', '.join(metric)}), so search.mode must be "
            f"a list of {len(metric)} (min or max, one per metric), got {mode!r}"
        )
    twice = [m for i, m in enumerate(metric) if m in metric[:i]]
    return f"metric]: '{twice[0]}' is named twice" if twice else None


def _parse_domains(value) -> dict:
    """Dotted key -> Domain; every bad entry is reported, one per line, with its key."""
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of dotted key -> domain, got {value!r}")
    parsed, problems = space_mod.parse_space(value)  # branches of conditional choices too, by their full path
    if problems:
        raise ValueError("\n".join(f"{_SPACE_KEY}{path}]: {message}" for path, message in problems))
    return parsed


# Top-level keys left out of a resolved sweep when not given.
OPTIONAL_SECTIONS = ("objective", "model", "data", "optimizer", "lr_scheduler", "ckpt_path", "weights_only", "track")
PROFILERS = ("simple", "advanced", "pytorch")  # Lightning's profiler names; reports land in the trial dir


class EarlyStoppingSpec(_Section):
    """Lightning's EarlyStopping inside each trial (on top of the sweep's scheduler)."""

    monitor: Optional[str] = Field(
        None, description="metric to watch; defaults to search.metric (its first, with several)"
    )
    patience: int = Field(3, ge=1, description="validation epochs without improvement before the trial stops")
    mode: Optional[Literal["min", "max"]] = Field(None, description="min or max; defaults to search.mode")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


class TrialSpec(_Section):
    """Per-trial options of tuning's own (Trainer arguments go under `trainer:`)."""

    early_stopping: Optional[EarlyStoppingSpec] = Field(None, description="stop a trial whose metric stalls")
    auto_batch_size: bool = Field(
        False,
        description="scale data.init_args.batch_size to the largest that fits "
        "before fitting (Lightning's batch-size scaler; for GPU trials)",
    )
    batch_size_mode: Literal["power", "binsearch"] = Field("power", description="how auto_batch_size searches")


def _whole(low):
    return lambda v: space_mod.is_number(v) and isinstance(v, int) and v >= low, f"a whole number >= {low}"


def _count_or_fraction(v) -> bool:
    """What Lightning's Trainer takes for a batch limit: a count, a fraction in [0, 1], or a whole float above 1 (a
    count: LightningCLI prints `limit_train_batches: 5.0` for a 5 given, in a process where Ray Tune is imported)."""
    if not space_mod.is_number(v):
        return False
    return 0 <= v <= 1 or (v > 1 and v.is_integer()) if isinstance(v, float) else v >= 0


# Trainer arguments Lightning would refuse only once a trial starts: key -> (accepts, what it accepts).
TRAINER_RANGES = {
    "max_epochs": _whole(1),
    "min_epochs": _whole(0),
    "max_steps": _whole(-1),
    "min_steps": _whole(0),
    "check_val_every_n_epoch": _whole(1),
    "accumulate_grad_batches": _whole(1),
    "log_every_n_steps": _whole(1),
    "num_sanity_val_steps": _whole(-1),
    "gradient_clip_val": (lambda v: space_mod.is_number(v) and v >= 0, "a number >= 0"),
    **{
        f"limit_{stage}_batches": (_count_or_fraction, "a number of batches (whole, >= 0) or a fraction in [0, 1]")
        for stage in ("train", "val", "test", "predict")
    },
    "overfit_batches": (_count_or_fraction, "a number of batches (whole, >= 0) or a fraction in [0, 1]"),
}


def _check_trainer(trainer: dict) -> dict:
    """`trainer.callbacks` as [{class_path, init_args}], `trainer.profiler` as a profiler name, values in range."""
    problems = []
    for key, (accepts, allowed) in TRAINER_RANGES.items():
        if trainer.get(key) is not None and not accepts(trainer[key]):
            problems.append(f"{_SPACE_KEY}{key}]: must be {allowed}, got {trainer[key]!r}")
    profiler = trainer.get("profiler")
    if profiler is not None and profiler not in PROFILERS:
        problems.append(f"{_SPACE_KEY}profiler]: must be one of {', '.join(PROFILERS)} (or left out), got {profiler!r}")
    if trainer.get("enable_checkpointing") is False:
        problems.append(
            f"{_SPACE_KEY}enable_checkpointing]: every trial keeps checkpoints (retries, `tuning resume`, "
            "schedulers that restart trials and `tuning export` need them); leave it out, and set "
            "run.keep_checkpoints for how many"
        )
    if trainer.get("logger") is False:
        problems.append(
            f"{_SPACE_KEY}logger]: every trial reports through its TensorBoard logger; leave it out "
            "(loggers listed here run next to it)"
        )
    for key, kind in (("callbacks", "Callback"), ("logger", "Logger")):
        entries = trainer.get(key, [])
        if not isinstance(entries, list):
            problems.append(f"{_SPACE_KEY}{key}]: must be a list of {{class_path, init_args}}, got {entries!r}")
            entries = []
        for i, spec in enumerate(entries):
            if not isinstance(spec, dict) or not isinstance(spec.get("class_path"), str):
                problems.append(f"{_SPACE_KEY}{key}[{i}].class_path]: required, a {kind} class name or dotted path")
            elif set(spec) - {"class_path", "init_args"} or not isinstance(spec.get("init_args", {}), dict):
                problems.append(f"{_SPACE_KEY}{key}[{i}]]: allowed keys: class_path, init_args (a mapping)")
    if problems:
        raise ValueError("\n".join(problems))
    return trainer


class Resources(_Section):
    """What each trial gets and how many run at once."""

    cpu: float = Field(1, ge=0, description="CPUs per trial")
    gpu: float = Field(0, ge=0, description="GPUs per trial")
    workers: int = Field(1, ge=1, description="training processes per trial (1: no DDP)")
    max_concurrent: Optional[int] = Field(None, ge=1, description="trials at once; default: as many as resources allow")
    memory: float = Field(0, ge=0, description="GiB of memory reserved per trial (Ray schedules by it; 0: none)")
    custom: dict[str, float] = Field(default_factory=dict, description="custom Ray resources per trial, e.g. {A100: 1}")
    placement: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="how a trial's bundles (one per worker) are placed on nodes: PACK or SPREAD"
    )


class RunSpec(_Section):
    """Where results go and how the run behaves."""

    storage: str = Field(
        "./runs",
        description="directory or URI (s3://, gs://) that holds experiments; on a cluster, one that every node reaches",
    )
    seed: int = Field(0, description="base seed; trial i is seeded with seed + i")
    keep_checkpoints: int = Field(1, ge=1, description="checkpoints kept per trial, best by the metric")
    max_failures: int = Field(0, ge=0, description="retries of a failed trial, from its last checkpoint")


class ObjectiveSpec(_Section):
    """A built-in synthetic objective (tuning.search.synthetic) in place of model, data and trainer."""

    name: str = Field(
        description="hartmann6 (6 inputs, on [0, 1]), branin (2 inputs, on [-5, 10] x [0, 15]) or "
        "zdt1 (4 inputs, on [0, 1]; two objectives, f1 and f2)"
    )
    iterations: int = Field(27, ge=1, description="reports per trial; the last one is the function's true value")
    noise: float = Field(0.0, ge=0, description="standard deviation of Gaussian noise on every report")

    @field_validator("name")
    @classmethod
    def _known(cls, value):
        from tuning.search.synthetic import OBJECTIVES

        if value not in OBJECTIVES:
            raise ValueError(
                f"unknown objective '{value}'{did_you_mean(value, OBJECTIVES)}; allowed: {', '.join(OBJECTIVES)}"
            )
        return value


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # one directory inside the storage: no '/', no leading '.'


class SweepConfig(_Section):
    """One sweep: model, data, Trainer, search space, searcher, scheduler, resources."""

    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=200,
        description="experiment name (letters, digits, _ . -); default: the sweep file's name",
    )
    description: str = Field("", description="one line shown by `tuning sweeps`")
    objective: Optional[ObjectiveSpec] = Field(None, description="a synthetic objective instead of model/data/trainer")
    model: Optional[ModuleSpec] = Field(None, description="the LightningModule (required without objective)")
    data: Optional[ModuleSpec] = Field(
        None,
        description="the LightningDataModule (left out: the module has its own "
        "dataloaders, as LightningCLI(MyModel) runs it)",
    )
    trainer: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for lightning's Trainer")
    search: SearchSpec = Field(default_factory=SearchSpec, description="metric, space, searcher, scheduler")
    resources: Resources = Field(default_factory=Resources, description="per-trial resources and concurrency")
    run: RunSpec = Field(default_factory=RunSpec, description="storage, seed, checkpoints, retries")
    trial: TrialSpec = Field(default_factory=TrialSpec, description="early stopping and batch scaling per trial")
    track: Optional[TrackSpec] = Field(None, description="experiment trackers the sweep is sent to (MLflow)")
    # LightningCLI's own top-level keys (tuning.sweep.lightning_cli).
    optimizer: Optional[ClassSpec] = Field(
        None,
        description="LightningCLI's optimizer: replaces the module's "
        "configure_optimizers (torch.optim name or dotted path)",
    )
    lr_scheduler: Optional[ClassSpec] = Field(None, description="LightningCLI's lr_scheduler, on that optimizer")
    ckpt_path: Optional[str] = Field(None, description="a checkpoint every trial starts from (its weights only)")
    weights_only: Optional[bool] = Field(None, description="torch.load's weights_only for ckpt_path")

    @field_validator("trainer")
    @classmethod
    def _trainer_shape(cls, value):
        return _check_trainer(value)

    @model_validator(mode="after")
    def _check_combinations(self):
        from tuning.sweep.combinations import combination_problem

        problem = combination_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def max_epochs(self) -> int:
        """The epoch budget ASHA measures trials against: tuning.expdir.budget's rule, for a trial with no searched
        trainer.max_epochs (one rule, so the scheduler, the study and the report agree)."""
        from tuning.expdir import budget

        return budget(self.to_dict(), {})

    def to_dict(self) -> dict:
        """Plain data, as it would be written in a sweep file."""
        data = self.model_dump(mode="python")
        data["search"]["space"] = {k: d.to_spec() for k, d in self.search.space.items()}
        # as a sweep file writes them (a dumped Domain is not one), so a resume reads them back
        scheduler = data["search"]["scheduler"]
        if "mutations" in scheduler:
            scheduler["mutations"] = {k: d.to_spec() for k, d in self.search.scheduler.mutations.items()}
        return {k: v for k, v in data.items() if not (v is None and k in OPTIONAL_SECTIONS)}


def builtin_sweeps() -> dict[str, Path]:
    """Built-in sweep name -> file."""
    return {p.stem: p for p in sorted(SWEEPS_DIR.glob("*.yaml"))}


def locate(source: str) -> Path:
    """A sweep file path, or the file of a built-in sweep name."""
    path = Path(source)
    if path.is_file():
        return path
    builtins = builtin_sweeps()
    if source in builtins:
        return builtins[source]
    raise UserError(
        f"sweep '{source}' is neither a file nor a built-in sweep{did_you_mean(source, builtins)}; "
        f"built-in sweeps: {', '.join(builtins)}"
    )


def load_sweep(source: str, overrides: list[str] = ()) -> SweepConfig:
    """Read, override and validate a sweep (file path or built-in name)."""
    from tuning.sweep.lightning_cli import normalize_sections

    path = locate(source)
    # model.lr and model.init_args.lr name one argument: overrides land on the sections' own form
    data = apply_overrides(normalize_sections(read_yaml(path)), list(overrides))
    if isinstance(data, dict) and "name" not in data:  # a LightningCLI config has none: the file's name
        data["name"] = re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem).lstrip("_.-") or "sweep"
    return parse_sweep(data, origin=str(path))


def parse_sweep(data: dict, origin: str = "sweep") -> SweepConfig:
    """Validate raw sweep data; errors name each key path and what is allowed."""
    from tuning.sweep.lightning_cli import normalize

    problem = plain_data_problem(data)
    if problem:
        raise UserError(f"{origin}: invalid sweep:\n  {problem}")
    try:
        return SweepConfig.model_validate(normalize(data))
    except ValidationError as exc:
        lines = [_describe(err) for err in exc.errors()]
        raise UserError(f"{origin}: invalid sweep:\n  " + "\n  ".join(lines)) from None


def _describe(err: dict) -> str:
    loc = [str(p) for p in err["loc"]]
    scheduler = loc.pop(2) if loc[:2] == ["search", "scheduler"] and loc[2:3] and loc[2] in _SCHEDULER_SPEC else None
    where = ".".join(loc) or "(top level)"  # without pydantic's tag: search.scheduler.X, as the sweep file spells it
    if err["type"] == "extra_forbidden" and scheduler and len(loc) == 3:
        return f"{where}: {_scheduler_key_problem(scheduler, loc[-1])}"
    if err["type"] == "union_tag_invalid":  # search.scheduler.name, the one tagged union
        tag = err["ctx"]["tag"]
        return (
            f"{where}.name: unknown scheduler '{tag}'{did_you_mean(tag, _SCHEDULER_SPEC)}; "
            f"allowed: {', '.join(_SCHEDULER_SPEC)}"
        )
    if err["type"] == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return f"{where}: unknown key{did_you_mean(loc[-1], allowed)}; allowed keys: {', '.join(allowed)}"
    msg = err["msg"].removeprefix("Value error, ")
    if msg.startswith(_SPACE_KEY):  # one line per bad space entry, each with its full key path
        return "\n  ".join(f"{where}." + line[len(_SPACE_KEY) :].replace("]: ", ": ", 1) for line in msg.splitlines())
    if err["type"] == "missing":
        if loc[1:] == ["class_path"] and loc[0] in ("model", "data"):  # LightningCLI(Model, Data) prints no class
            return (
                f"{where}: required key is missing; a config printed by LightningCLI(MyModel, MyData) holds only "
                f"the arguments of its fixed classes: name the class under {loc[0]}:, e.g. "
                f"`class_path: my_package.{'MyModel' if loc[0] == 'model' else 'MyData'}` "
                "(the arguments may stay beside it)"
            )
        return f"{where}: required key is missing"
    if "input" in err and err["type"] != "value_error":
        msg += f" (got {err['input']!r})"
    return f"{where}: {msg}"


def _fields_at(loc: list[str]) -> list[str]:
    model = SweepConfig
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        # Optional[Section] is Union[Section, None]: the section's fields are what is allowed
        options = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
        if not (len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], BaseModel)):
            return []
        model = options[0]
    return list(model.model_fields)

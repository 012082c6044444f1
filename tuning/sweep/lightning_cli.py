"""A LightningCLI config, as `fit --print_config` prints it, read as a sweep file.

`normalize(data)` runs before the sweep is validated and maps what LightningCLI writes onto the
sweep file's own keys; anything it does not map is then checked like any sweep key:

- `seed_everything: N` is `run.seed: N` when `run.seed` is not given (`run.seed` wins; `true`,
  `false` and `null` leave the default, since every trial gets its own seed from `run.seed`);
- `trainer.<key>: null` is the same as leaving the key out (Lightning's own default, or tuning's);
- `trainer.callbacks` may be one entry or a list, each a class_path entry or a bare class name;
  `trainer.logger` the same (entries run next to the trial's TensorBoard logger), `true`/`null` the
  default and `false` refused (every trial reports through its logger);
- `optimizer` / `lr_scheduler` (class_path entries or bare names from `torch.optim` /
  `torch.optim.lr_scheduler`) replace the module's `configure_optimizers` as LightningCLI does,
  and are searchable (`optimizer.init_args.lr`);
- `ckpt_path: FILE` starts every trial from that checkpoint's weights, `weights_only` says how it
  is loaded; `null` means none;
- `model` / `data` as `LightningCLI(MyModel, MyData)` prints them (the fixed class's arguments, no
  `class_path`): the arguments are its `init_args` (`cli_form: fixed`, so `tuning export` writes them
  back bare); the user adds `class_path` beside them.
"""

import importlib
import types

# torch's own modules a bare optimizer or scheduler name is looked up in, as LightningCLI does.
TORCH_MODULES = {"optimizer": "torch.optim", "lr_scheduler": "torch.optim.lr_scheduler"}


def normalize(data):
    """A copy of raw sweep data with LightningCLI's spellings turned into the sweep file's own."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    seed = data.pop("seed_everything", None)
    run = data.get("run")
    if isinstance(seed, int) and not isinstance(seed, bool) and not (isinstance(run, dict) and "seed" in run):
        data["run"] = {**(run if isinstance(run, dict) else {}), "seed": seed}
    for key in ("optimizer", "lr_scheduler", "ckpt_path", "weights_only"):
        if key in data and data[key] is None:
            del data[key]
    for key in ("optimizer", "lr_scheduler"):
        if isinstance(data.get(key), str):
            data[key] = {"class_path": data[key]}
    data = normalize_sections(data)
    trainer = data.get("trainer")
    if isinstance(trainer, dict):
        trainer = {k: v for k, v in trainer.items() if v is not None}
        for key in ("callbacks", "logger"):
            if key in trainer and trainer[key] is not False:  # logger: false is refused by the sweep check
                trainer[key] = _entries(trainer[key])
        if trainer.get("logger") == []:
            del trainer["logger"]
        data["trainer"] = trainer
    return data


def normalize_sections(data: dict) -> dict:
    """`model` and `data` in the sweep file's own form: `{class_path, init_args, cli_form}`.

    What LightningCLI(MyModel, MyData) prints (a fixed class's bare arguments) is `cli_form: fixed`; a
    Hydra node (`_target_` and the arguments beside it) is `cli_form: hydra`; arguments written beside
    `init_args` are LightningCLI's shorthand for arguments in it (`model.lr` is `model.init_args.lr`).
    """
    data = dict(data)
    for key in ("model", "data"):
        if isinstance(data.get(key), dict):
            data[key] = _section(data[key])
    return data


def _section(section: dict) -> dict:
    if "_target_" in section:  # as a Hydra project's configs/model/*.yaml writes it
        return {
            "class_path": section["_target_"],
            "cli_form": "hydra",
            "init_args": {k: v for k, v in section.items() if k != "_target_"},
        }
    own = {"class_path", "init_args", "cli_form"}
    bare = {k: v for k, v in section.items() if k not in own}
    if not bare:
        return section
    kept = {k: v for k, v in section.items() if k in own}
    if "init_args" not in section:  # LightningCLI(MyModel, MyData) prints a fixed class's arguments bare
        return {**kept, "init_args": bare, "cli_form": section.get("cli_form", "fixed")}
    init_args = section["init_args"] if isinstance(section["init_args"], dict) else {}
    return {**kept, "init_args": {**bare, **init_args}}


def _entries(value):
    """One entry or a list of them, each a class_path entry or a bare class name -> a list of entries."""
    if value is True:
        return []
    items = value if isinstance(value, list) else [value]
    return [{"class_path": item} if isinstance(item, str) else item for item in items]


def import_name(class_path: str, default_module: str):
    """What a dotted path names, or a bare name in `default_module`; None if there is none."""
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module or default_module), name)
    except (ImportError, AttributeError):
        return None


def resolve(section: str, class_path: str):
    """The class of `optimizer` or `lr_scheduler`: a dotted path, or a bare name in torch's module."""
    return import_name(class_path, TORCH_MODULES[section])


def add_configure_optimizers(model, optimizer: dict, lr_scheduler: dict | None) -> None:
    """Give `model` the `configure_optimizers` LightningCLI would: the optimizer on all its parameters,
    the scheduler on that optimizer (with `monitor` for one that steps on a metric)."""

    def configure_optimizers(self):
        opt = resolve("optimizer", optimizer["class_path"])(self.parameters(), **optimizer.get("init_args", {}))
        if not lr_scheduler:
            return opt
        scheduler = resolve("lr_scheduler", lr_scheduler["class_path"])(opt, **lr_scheduler.get("init_args", {}))
        monitor = getattr(scheduler, "monitor", None)  # lightning's ReduceLROnPlateau carries one
        if monitor is None:
            return [opt], [scheduler]
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}

    model.configure_optimizers = types.MethodType(configure_optimizers, model)


def load_weights(model, ckpt_path: str, weights_only: bool | None) -> None:
    """Start `model` from the weights of a Lightning checkpoint (not its optimizer, epoch or callbacks)."""
    import torch

    state = torch.load(ckpt_path, map_location="cpu", weights_only=weights_only)
    model.load_state_dict(state["state_dict"])

"""Multi-worker trials: one Tune trial runs DDP over `resources.workers` processes through Ray Train.

The Tune trial launches a Ray Train `TorchTrainer` (gloo on CPU, NCCL on GPU); every worker builds
the same model and data and fits with a DDP strategy and environment that take the ranks from Ray Train.
Each validation epoch the workers average their metrics across ranks and report them through
`ray.train.report`; Ray Tune's `TuneReportCallback` forwards them to the Tune trial, so the
scheduler sees per-epoch metrics and can stop the trial. Only rank 0 writes checkpoints.
"""

import os
import threading

from tuning.sweep import flavour

DDP_RUN = "ddp"  # Ray Train's run directory inside the trial directory: its checkpoints and state
# Trainer arguments tuning sets for a DDP trial.
PG_KEY = "tuning-ddp-pg-{trial_id}"  # where rank 0 leaves its worker placement group's id (Ray's KV store)


def ray_ddp(dist: str) -> dict:
    """The Trainer arguments of a DDP worker under Ray Train, for Lightning distribution `dist`.

    Ray's own `RayDDPStrategy` and `RayLightningEnvironment` derive from whichever distribution
    Ray finds first (lightning.pytorch when installed), so a pytorch_lightning Trainer would refuse
    them. These are the same two small classes for the sweep's distribution: the device and the
    ranks come from Ray Train's context.
    """
    import importlib

    import ray.train
    import ray.train.torch

    pl = flavour.module(dist)
    environments = importlib.import_module(f"{dist}.plugins.environments")

    class RayDDPStrategy(pl.strategies.DDPStrategy):
        @property
        def root_device(self):
            return ray.train.torch.get_device()

        @property
        def distributed_sampler_kwargs(self):
            return {"num_replicas": self.world_size, "rank": self.global_rank}

    class RayEnvironment(environments.LightningEnvironment):
        def world_size(self):
            return ray.train.get_context().get_world_size()

        def global_rank(self):
            return ray.train.get_context().get_world_rank()

        def local_rank(self):
            return ray.train.get_context().get_local_rank()

        def node_rank(self):
            return ray.train.get_context().get_node_rank()

        def set_world_size(self, size):  # the ranks come from Ray Train's context
            pass

        def set_global_rank(self, rank):
            pass

        def teardown(self):
            pass

    return {"devices": "auto", "strategy": RayDDPStrategy(), "plugins": [RayEnvironment()]}


def ddp_worker(args: dict) -> None:
    """One DDP worker: the trial's model, data and Trainer, with Ray's strategy and environment."""

    import ray.train

    from tuning.compat import ray as ray_compat
    from tuning.trial.fit import cli_class_path, epoch_report, fit_from, make_trainer, prepare_trial, report_hook

    config, sweep, trial_dir = args["config"], args["sweep"], args["trial_dir"]
    group = ray.util.get_current_placement_group()
    if ray.train.get_context().get_world_rank() == 0 and group is not None:
        ray_compat.kv_put(args["pg_key"], group.id.hex())
    seed, sections, datamodule, model, dist = prepare_trial(config, sweep, trial_dir)
    accelerator = "gpu" if sweep["resources"]["gpu"] > 0 else "cpu"
    report = epoch_report(
        dist, report_hook(sections["trainer"]), ray.train.report, mean_over_ranks=True, class_path=cli_class_path(sweep)
    )
    trainer = make_trainer(
        dist,
        {**sections["trainer"], "accelerator": accelerator},
        trial_dir,
        sweep,
        config,
        report=report,
        **ray_ddp(dist),
    )
    fit_from(ray.train.get_checkpoint(), trainer, model, datamodule)  # set when Ray Train restores the run


def run_ddp_trial(config: dict, sweep: dict) -> None:
    """Run one Tune trial as a Ray Train TorchTrainer over `resources.workers` workers."""
    from ray import tune
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from tuning.trial.fit import _record, trial_seed

    res = sweep["resources"]
    trial_dir = tune.get_context().get_trial_dir()
    _record(trial_dir, trial_seed(sweep["run"]["seed"], trial_dir), config, workers=res["workers"])
    per_worker = {"CPU": res["cpu"], **({"GPU": res["gpu"]} if res["gpu"] else {})}
    pg_key = PG_KEY.format(trial_id=tune.get_context().get_trial_id())
    threading.Thread(target=_release_workers_on_stop, args=(pg_key,), daemon=True).start()
    trainer = TorchTrainer(
        ddp_worker,
        train_loop_config={"config": config, "sweep": sweep, "trial_dir": trial_dir, "pg_key": pg_key},
        torch_config=TorchConfig(backend="nccl" if res["gpu"] else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=res["workers"], use_gpu=res["gpu"] > 0, resources_per_worker=per_worker
        ),
        run_config=RunConfig(
            name=DDP_RUN,
            storage_path=_storage_trial_dir(sweep, trial_dir),
            callbacks=[TuneReportCallback()],
            checkpoint_config=CheckpointConfig(num_to_keep=sweep["run"]["keep_checkpoints"]),
        ),
    )
    trainer.fit()


def _storage_trial_dir(sweep: dict, trial_dir: str) -> str:
    """The trial's directory in the experiment's storage (a path all nodes share, or a URI).

    Workers on other nodes upload their checkpoints there; the trial's local directory is only
    synced to storage by Tune, and other nodes cannot write into it.
    """
    from tuning.storage import experiment_location

    return f"{experiment_location(sweep['run']['storage'], sweep['name'])}/{os.path.basename(trial_dir)}"


def _release_workers_on_stop(pg_key: str) -> None:
    """When Tune stops this trial, remove its Ray Train workers' placement group.

    The trial's thread waits in TorchTrainer.fit, so a stopped trial's actor is ended under it and
    takes the Train controller along; Ray Train's own clean-up of the workers' placement group needs
    Ray's state API (the dashboard), which local sweeps run without. Removing the group ends the
    workers and frees their resources for the next trial.
    """

    from tuning.compat import ray as ray_compat
    from tuning.compat import tune as tune_compat

    session = tune_compat.train_session()
    if session is None:
        return
    session.stop_event.wait()
    group_id = ray_compat.kv_get(pg_key)
    if group_id:
        # Removing a group that the run already removed is no error in Ray; anything else is shown in the trial's
        # log, not swallowed (a wrong reach here once left every stopped trial's workers holding their CPUs).
        ray_compat.remove_placement_group(group_id.decode())


def driver_resources():
    """What the Tune trial itself holds for a DDP trial: next to nothing; Ray Train reserves the workers.

    Ray Train places its workers in a placement group of its own, so a trial that also held the
    workers' resources would need them twice. Memory rather than a sliver of CPU, so that workers
    asking for every CPU of the cluster still fit.
    """
    from ray import tune

    return tune.PlacementGroupFactory([{"memory": 2**20}])

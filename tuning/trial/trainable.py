"""The function Tune runs for every trial of a Lightning sweep: one process (tuning.trial.fit), or DDP over
`resources.workers` Ray Train workers (tuning.trial.ddp). Both build on tuning.trial.fit; neither imports the other's
entry point."""


def run_trial(config: dict, sweep: dict) -> None:
    """Tune's function trainable: `config` holds the sampled params, `sweep` the resolved sweep."""
    if sweep["resources"].get("workers", 1) > 1:
        from tuning.trial.ddp import run_ddp_trial

        return run_ddp_trial(config, sweep)
    from tuning.trial.fit import run_one_process_trial

    return run_one_process_trial(config, sweep)

"""What the driver lets go of as trials finish, so that its memory and Tune's snapshots stay flat.

Ray Tune keeps, for every trial it ever ran, running statistics of every numeric result key (min, max,
average, the last 5 and 10 values in deques) and writes them into each snapshot of the experiment:
62 MiB more driver memory per 1000 trials in a plain Tuner (tests/benchmarks/scale_1000.py; ray#64231).
Only Tune's ExperimentAnalysis reads them, for a best trial over all epochs, and tuning's progress lines,
for a resumed sweep's best so far (the sweep's metrics, kept); the report reads the trials' files instead.
"""

from ray.tune import Callback


class ForgetFinished(Callback):
    """Drops a finished trial's running statistics but those of `metrics` (tune_compat.forget_metric_history)."""

    def __init__(self, metrics: tuple[str, ...]):
        self.metrics = tuple(metrics)

    def on_trial_complete(self, iteration, trials, trial, **info):
        from tuning.compat import tune as tune_compat

        tune_compat.forget_metric_history(trial, keep=self.metrics)

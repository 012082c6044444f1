"""`tuning confirm` through the command line, on a real sweep whose winner won by its seed."""

import json

import yaml

from tests.in_process import tuning_here
from tuning.driver.tuner import run_sweep
from tuning.sweep.config import parse_sweep


def test_confirm_through_the_cli_says_when_the_sweeps_winner_is_not_the_confirmed_one(ray_session, tmp_path):
    """Config A (val_loss 1.0) wins the sweep with 0.0 under its lucky seed 0; B (0.5) is second. `tuning confirm
    --top 2 --seeds 1` reruns both with a new seed, ranks B first by its mean, prints the NOT line with both
    means, and names the confirmation experiment next to the sweep. (Several seeds per config: test_search.)"""
    sweep = {
        "name": "lucky",
        "model": {"class_path": "tests.fault_models.LuckySeed", "init_args": {"width": 64, "lucky_seed": 0}},
        "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": 2,
            "space": {"model.init_args.quality": {"uniform": [0.1, 2.0]}},
            "searcher": {
                "name": "random",
                "points_to_evaluate": [{"model.init_args.quality": 1.0}, {"model.init_args.quality": 0.5}],
            },
            "scheduler": {"name": "fifo"},
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }
    source = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    seeds = {
        json.loads(p.read_text())["params"]["model.init_args.quality"]: json.loads(p.read_text())["seed"]
        for p in source.glob("trial_*/trial.json")
    }
    assert seeds == {1.0: 0, 0.5: 1}, "A ran under the lucky seed"

    result = tuning_here("confirm", str(source), "--top", "2", "--seeds", "1")
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("confirmed ranking by mean val_loss (min), 95% CI from Student's t\n\n", 1)[1]
    header, first, second, blank, verdict, _, experiment = table.strip("\n").split("\n")
    assert header.split()[:5] == ["rank", "sweep", "rank", "sweep", "val_loss"]
    assert first.split() == ["1", "2", "0.5", "0.5", "-", "-", "1", "quality=0.5"]
    assert second.split() == ["2", "1", "0", "1", "-", "-", "1", "quality=1"]
    assert verdict == (
        "The sweep's winner is NOT the confirmed winner: sweep rank 2 has the best mean val_loss 0.5, "
        "the sweep's winner 1."
    )
    confirm_dir = tmp_path / "lucky-confirm"
    assert experiment == f"experiment: {confirm_dir}"
    assert json.loads((confirm_dir / "confirm.json").read_text())["source"] == str(source)
    assert yaml.safe_load((confirm_dir / "sweep.yaml").read_text())["search"]["num_samples"] == 2

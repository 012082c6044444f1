"""A text sweep through the real driver, Ray Tune and Lightning: the driver tokenizes once, trials never do."""

import pytest
import yaml

from tests.text_data import text_files
from tuning.data.text_cache import tokenize_runs
from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report
from tuning.sweep.config import parse_sweep


def text_sweep(files: dict, cache: str, samples: int) -> dict:
    """A sweep of a tiny transformer on local CSV files with string labels."""
    return {
        "name": "text-tiny",
        "model": {
            "class_path": "text_classifier",
            "init_args": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32},
        },
        "data": {
            "class_path": "text_classification",
            "init_args": {"data_files": files, "cache_dir": cache, "wordpiece_vocab_size": 120, "max_length": 32},
        },
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "search": {
            "metric": "val_f1",
            "mode": "max",
            "num_samples": samples,
            "space": {
                "model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-2]},
                "data.init_args.batch_size": {"choice": [8, 16]},
            },
            "searcher": {"name": "random", "seed": 0},
            "scheduler": {"name": "fifo"},
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }


def test_a_text_sweep_tokenizes_once_in_the_driver_and_never_in_trials(ray_session, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    files, cache = text_files(tmp_path / "text"), str(tmp_path / "cache")
    exp_dir = run_sweep(parse_sweep(text_sweep(files, cache, 3)), storage=str(tmp_path), name="a")
    first = load_report(str(exp_dir))
    assert [t.status for t in first.trials] == ["completed"] * 3, [t.error for t in first.trials]
    logged = yaml.safe_load(next(exp_dir.glob("trial_*/tensorboard/hparams.yaml")).read_text())
    assert logged["label_names"] == ["cooking", "music", "sports"] and logged["num_labels"] == 3
    assert all(0 <= t.metric <= 1 for t in first.trials)
    runs = tokenize_runs(cache)
    assert len(runs) == 1, "3 trials, 1 tokenization"

    import os

    assert runs[0]["pid"] == os.getpid(), "and it ran in the driver"
    second = load_report(str(run_sweep(parse_sweep(text_sweep(files, cache, 1)), storage=str(tmp_path), name="b")))
    assert second.trials[0].status == "completed"
    assert tokenize_runs(cache) == runs, "a second sweep on the same data reuses the cache"


def test_the_builtin_text_sweep_prepares_offline(tmp_path, monkeypatch):
    """The corpus, tokenizer and cache of `tuning run text`, without the trials (the sweep takes minutes)."""
    from tuning.sweep.class_paths import resolve_class
    from tuning.sweep.config import load_sweep

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = load_sweep("text")
    dm = resolve_class("data", cfg.data.class_path)(**{**cfg.data.init_args, "cache_dir": str(tmp_path)})
    dm.prepare_data()
    dm.setup()
    assert dm.num_labels >= 8 and len(dm.datasets["train"]) > 1000 and dm.vocab_size > 1000
    assert len(tokenize_runs(tmp_path)) == 1


def test_a_missing_column_is_bad_input_found_before_any_trial(ray_session, restore_environ, tmp_path):
    """The driver starts Ray (here: the test session's) before it prepares the data, where the column is missing."""
    from tuning.errors import UserError

    sweep = text_sweep(text_files(tmp_path / "text"), str(tmp_path / "cache"), 1)
    sweep["data"]["init_args"]["text_column"] = "body"
    with pytest.raises(UserError, match="prepare_data failed .*column 'body' is not in the source; columns: text"):
        run_sweep(parse_sweep(sweep), storage=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists(), "nothing started"

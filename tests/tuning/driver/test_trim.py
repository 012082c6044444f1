"""The driver lets go of a finished trial's running statistics (tuning/driver/trim.py)."""

import json

from tuning.driver.tuner import run_sweep
from tuning.sweep.config import load_sweep


def test_finished_trials_keep_no_running_statistics_in_tunes_snapshot(ray_session, tmp_path):
    cfg = load_sweep("synthetic", ["search.num_samples=6", "search.searcher.seed=0"])
    exp = run_sweep(cfg, storage=str(tmp_path), name="trim")
    state = json.loads(max(exp.glob("experiment_state-*.json")).read_text())
    metadata = [json.loads(run) for _, run in state["trial_data"]]
    assert len(metadata) == 6 and all(m["last_result"] for m in metadata)  # what Tune and the report need stays
    # Tune keeps min/max/avg of every result key otherwise; the sweep's metric stays (the progress lines of a
    # resumed sweep start from its best so far)
    assert [sorted(m["metric_analysis"]) for m in metadata] == [["value"]] * 6
    assert [sorted(m["metric_n_steps"]) for m in metadata] == [["value"]] * 6

"""User attributes of finished trials in an experiment's Optuna study, which Optuna's API refuses to change.

Optuna holds a finished trial immutable (`set_trial_user_attr` raises UpdateFinishedTrialError), yet a trial's rank
in the report is known only when the sweep ends, after its trials finished. The study is the SQLite file tuning
made (tuning.driver.study_storage), so the rows are written with SQL in the schema of Optuna's RDB storage: table
`trial_user_attributes` (trial_id, key, value_json: JSON text, one row per trial and key), where StudySearch's
`tune_trial_id` attribute names each trial's Tune id. tests/tuning/compat/test_study_attrs.py checks that schema
against the installed Optuna. Plain sqlite3: no Optuna import at the end of a sweep.
"""

import json
import sqlite3
from contextlib import closing
from pathlib import Path

TUNE_ID_ATTR = "tune_trial_id"  # the user attribute StudySearch gives every study trial Tune ran


def set_by_tune_id(db: Path, key: str, values: dict[str, object]) -> int:
    """Set the user attribute `key` of the study trials in the SQLite file `db` to `values[their Tune trial id]`,
    in one transaction; returns how many were set.

    Earlier values of `key` on any trial with a Tune id are removed first (a rank from an earlier end of the sweep
    is no rank now). A Tune id held by several study trials (an errored trial that a resume retried, told again)
    sets the newest of them only."""
    with closing(sqlite3.connect(db, timeout=30)) as con, con:  # `with con`: one transaction, committed at the end
        rows = con.execute(
            "SELECT trial_id, value_json FROM trial_user_attributes WHERE key = ? ORDER BY trial_id", (TUNE_ID_ATTR,)
        ).fetchall()
        newest = {json.loads(tune_id): trial_id for trial_id, tune_id in rows}  # ordered: the newest one stays
        con.execute(
            "DELETE FROM trial_user_attributes WHERE key = ? AND trial_id IN "
            "(SELECT trial_id FROM trial_user_attributes WHERE key = ?)",
            (key, TUNE_ID_ATTR),
        )
        set_rows = [(newest[tid], key, json.dumps(value)) for tid, value in values.items() if tid in newest]
        con.executemany("INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, ?, ?)", set_rows)
    return len(set_rows)

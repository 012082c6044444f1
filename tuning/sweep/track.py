"""The sweep's `track:` section: where the driver sends the sweep besides its experiment directory.

`track.mlflow` sends it to MLflow (tuning.driver.tracking): one parent run per sweep, a nested child run per
trial. Checked when the sweep is read: MLflow must be installed (the `mlflow` extra), nothing else is imported.
"""

import importlib.util
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (`tuning validate` stays light)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules (None) or a broken install
        return False


class MlflowSpec(_Section):
    """An MLflow tracking store (a server, or a local file or SQLite store) and the experiment the sweep goes to."""

    tracking_uri: Optional[str] = Field(
        None,
        description="http(s)://host:port of a tracking server, or a local store (a path, file:, sqlite:///); "
        "default: MLFLOW_TRACKING_URI, else MLflow's default local store",
    )
    experiment: Optional[str] = Field(None, description="the MLflow experiment's name; default: the sweep's name")
    checkpoint: bool = Field(True, description="upload the best trial's checkpoint and config to the parent run")

    @field_validator("tracking_uri", "experiment")
    @classmethod
    def _not_blank(cls, value):
        if value is not None and not value.strip():
            raise ValueError("must not be empty; leave it out for the default")
        return value

    @model_validator(mode="after")
    def _installed(self):
        if not _installed("mlflow"):
            raise ValueError(
                "MLflow is not installed in this environment; install tuning's mlflow extra "
                "(pip install 'tuning[mlflow]', or pip install mlflow), or leave track.mlflow out"
            )
        return self


class TrackSpec(_Section):
    """Experiment trackers the sweep is sent to, from the driver (every trial's results reach it)."""

    mlflow: Optional[MlflowSpec] = Field(None, description="an MLflow parent run for the sweep, a child per trial")

"""A user's project whose model needs two packages that only the job's `runtime_env` pip installs, and records
where Ray placed each trial: for `tuning submit --pip/--requirements` and `resources.memory/custom` on the
two-node cluster (tests/cluster/test_jobs.py).

The packages are wheels built here (no index, no network): `--pip` names one, `--requirements` a file that
names the other. Neither is installed where the tests run, so a job without them fails at its first import.
"""

import base64
import hashlib
import shutil
import zipfile
from pathlib import Path

PIP_PACKAGE, REQUIREMENTS_PACKAGE = "tuning_probe_pip", "tuning_probe_req"
PIP_VALUE, REQUIREMENTS_VALUE = 40, 2  # the model logs their sum as `probe`

MODEL = f'''"""The user's model: imports {PIP_PACKAGE} and {REQUIREMENTS_PACKAGE} as it is built (not at import: the
submitting machine checks the class without them) and writes where each trial runs to `log`."""

import json

import ray

from my_models import LinearClassifier


class ProbeClassifier(LinearClassifier):
    def __init__(self, width: int, lr: float = 0.01, log: str = ""):
        import {PIP_PACKAGE}
        import {REQUIREMENTS_PACKAGE}

        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()
        self.probe = float({PIP_PACKAGE}.VALUE + {REQUIREMENTS_PACKAGE}.VALUE)

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.log("probe", self.probe)

    def on_fit_start(self):
        group = ray.util.get_current_placement_group() if ray.is_initialized() else None
        if group is None:  # the driver's metric check, before any trial
            return
        node = ray.get_runtime_context().get_node_id()
        custom = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"] and "tuning_probe" in n["Resources"])
        with open(self.hparams.log, "a") as out:
            out.write(json.dumps({{"node": node, "bundles": group.bundle_specs, "probe_nodes": custom}}) + "\\n")
'''


def make_wheel(folder: Path, package: str, value: int) -> Path:
    """A pure-Python wheel of one module `package` holding `VALUE = value`, built without pip or an index."""
    name, version = package, "1.0"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{package}.py": f"VALUE = {value}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def digest(text: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(text)},{len(text.encode())}\n" for path, text in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def make_pip_project(root: Path, wheels: Path, user_models: Path) -> tuple[Path, Path]:
    """The project (its model module and the user's base model) in `root`; the two wheels in `wheels`, outside
    it. Returns (the wheel for --pip, the requirements file naming the other)."""
    shutil.copy(user_models, root / "my_models.py")
    (root / "probe_models.py").write_text(MODEL)
    pip_wheel = make_wheel(wheels, PIP_PACKAGE, PIP_VALUE)
    requirements = root / "requirements.txt"
    other = make_wheel(wheels, REQUIREMENTS_PACKAGE, REQUIREMENTS_VALUE)
    requirements.write_text(f"# the job installs these\n\n{other}\n")
    return pip_wheel, requirements

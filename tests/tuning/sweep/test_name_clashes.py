"""A project with its own `data.py` and `models/` (the most common names in ML projects) next to the built-ins.

The suite runs under the default editable install (`pip install -e .`, the README's test command), so
this is that install mode for real: the built-ins resolve inside `tuning`, the project's modules from
its own folder, both in `validate` (read from source) and when the classes are imported and built.
"""

import json
import subprocess
import sys

import pytest
import yaml

PROBE = """
import inspect, json, sys
from tuning.sweep.class_paths import resolve_class
from tuning.sweep.classes import check_classes
from tuning.sweep.config import load_sweep
from tuning.sweep.classes import build
out = {}
for path in sys.argv[1:]:
    cfg = load_sweep(path)
    check_classes(cfg)
    out[path] = [inspect.getfile(type(build(getattr(cfg, s).model_dump(), s))) for s in ("model", "data")]
import tuning.data, tuning.models  # the built-ins, wherever this install keeps them (an editable one: models/, data/)
out["built-ins"] = [inspect.getfile(tuning.models).replace("__init__.py", "mlp.py"),
                    inspect.getfile(tuning.data).replace("__init__.py", "digits.py")]
print(json.dumps(out))
"""


@pytest.mark.integration  # real imports and builds in processes of their own
def test_a_projects_own_data_py_and_models_package_neither_shadow_nor_are_shadowed(tmp_path):
    (tmp_path / "data.py").write_text(
        "from tuning.data.digits import DigitsDataModule\n\n\nclass MyData(DigitsDataModule):\n    pass\n"
    )
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "net.py").write_text(
        "import lightning as L\nfrom tuning.models.mlp import MLPClassifier\n\n\n"
        "class Net(MLPClassifier):\n    pass\n\n\nassert issubclass(Net, L.LightningModule)\n"
    )
    base = {"trainer": {"max_epochs": 1}, "search": {"num_samples": 1}}
    sweeps = {
        "own.yaml": {
            "name": "own",
            "model": {"class_path": "models.net.Net"},
            "data": {"class_path": "data.MyData"},
            **base,
        },
        "builtin.yaml": {"name": "builtin", "model": {"class_path": "mlp"}, "data": {"class_path": "digits"}, **base},
    }
    for name, sweep in sweeps.items():
        (tmp_path / name).write_text(yaml.safe_dump(sweep))
        result = subprocess.run(
            [sys.executable, "-m", "tuning", "validate", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (name, result.stderr[-2000:])
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *sweeps], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = json.loads(result.stdout.splitlines()[-1])
    assert files["own.yaml"] == [str(tmp_path / "models" / "net.py"), str(tmp_path / "data.py")]
    assert files["builtin.yaml"] == files["built-ins"], files
    assert not any(f.startswith(str(tmp_path)) for f in files["builtin.yaml"]), files

"""Bad input of every kind is exit 2 with one message naming what is wrong, no traceback, nothing written.

`tuning validate` and the argument checks run in this process through `tuning.cli.main` (an exception
other than UserError would fail the test as the traceback it would print); `tuning run` runs as a
subprocess, so a check it misses would really start a sweep and write an experiment.
"""

import contextlib
import io
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuning.cli.commands import main
from tuning.sweep.config import builtin_sweeps


def validate(path, *args) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["validate", str(path), *args])
    return code, err.getvalue()


def quickstart() -> dict:
    return yaml.safe_load(builtin_sweeps()["quickstart"].read_text())


def write_sweep(tmp_path, data, name="sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


SPACE = "search.space.model.init_args."
# (--set overrides on the quickstart, text the message must hold)
REFUSED = [
    (["resources.gpu=.inf"], "resources.gpu: inf is not allowed"),
    (["resources.cpu=.nan"], "resources.cpu: nan is not allowed"),
    ([SPACE + "lr={uniform: [.nan, 0.5]}"], "lr.uniform[0]: nan is not allowed"),
    ([SPACE + "lr={loguniform: [1.0e-4, .inf]}"], "lr.loguniform[1]: inf is not allowed"),
    (["trainer.gradient_clip_val=-.inf"], "trainer.gradient_clip_val: -inf is not allowed"),
    (["trainer.max_epochs=0"], "trainer.max_epochs: must be a whole number >= 1, got 0"),
    (["trainer.max_epochs=2.5"], "trainer.max_epochs: must be a whole number >= 1"),
    (["trainer.check_val_every_n_epoch=0"], "trainer.check_val_every_n_epoch: must be a whole number >= 1"),
    (["trainer.accumulate_grad_batches=-1"], "trainer.accumulate_grad_batches"),
    (["trainer.limit_val_batches=1.5"], "trainer.limit_val_batches: must be a number of batches"),
    (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val: must be a number >= 0"),
    ([SPACE + "lr.inner={uniform: [0.1, 0.5]}"], "'model.init_args.lr' is 0.001, not a mapping"),
    (
        ["search.searcher.points_to_evaluate=[{model.init_args.dropout: 0.9}]"],
        "points_to_evaluate[0].model.init_args.dropout: 0.9 is outside its space entry",
    ),
    (["search.searcher.points_to_evaluate=[{model.init_args.hidden_dim: 48}]"], "48 is outside its space entry"),
    (
        ["search.searcher.sampler=cmaes", "search.searcher.history=500"],
        "search.searcher.history: bounds the tpe sampler's model; this sweep uses optuna with sampler cmaes",
    ),
    (["search.searcher.history=5"], "search.searcher.history"),
    (["search.scheduler={name: pbt}"], "pbt explores by itself and works with searcher random or grid, not optuna"),
    (
        ["search.scheduler={name: pbt}", "search.searcher.name=random", SPACE + "hidden_dim={grid: [8, 16]}"],
        "mutations.model.init_args.hidden_dim: pbt cannot mutate a grid entry; use choice",
    ),
    (
        ["search.scheduler={name: pbt}", "search.searcher.name=random", "search.space={}"],
        "search.scheduler.mutations: pbt needs something to mutate",
    ),
]


@pytest.mark.parametrize("overrides,message", REFUSED, ids=[o[0] for o, _ in REFUSED])
def test_out_of_range_and_non_finite_values_are_refused_naming_the_key(overrides, message):
    args = [a for o in overrides for a in ("--set", o)]
    code, err = validate("quickstart", *args)
    assert code == 2 and message in err, err


def test_yaml_1_2_floats_are_numbers():
    """`lr: 1e-3` (PyYAML alone reads a string) is the number 0.001, in files and in --set."""
    code, err = validate("quickstart", "--set", "model.init_args.lr=2e-3", "--set", "run.seed=1")
    assert code == 0, err
    from tuning.sweep.file import load_yaml

    assert load_yaml("a: 1e-3\nb: -2E+4\nc: .5e1\nd: e5\ne: 1e\n") == {
        "a": 0.001,
        "b": -20000.0,
        "c": 5.0,
        "d": "e5",
        "e": "1e",
    }


def test_a_binary_or_non_utf8_file_is_refused(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01name: x\n")
    code, err = validate(tmp_path / "binary.yaml")
    assert code == 2 and "not a UTF-8 text file" in err, err
    (tmp_path / "control.yaml").write_bytes(b"name: x\x00\x07\n")
    code, err = validate(tmp_path / "control.yaml")
    assert code == 2 and "control.yaml" in err, err


def test_a_yaml_alias_bomb_is_bounded(tmp_path):
    lines = ["  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values expanded
    sweep = yaml.safe_dump({k: v for k, v in quickstart().items() if k != "trainer"})
    path = write_sweep(tmp_path, sweep + "trainer:\n  max_epochs: 2\n  plugins:\n" + "\n".join("  " + x for x in lines))
    code, err = validate(path)
    assert code == 2 and "YAML alias bomb" in err, err


@pytest.mark.parametrize(
    "body,message",
    [
        ("import lightning as L\nclass Net(L.LightningModule)\n    pass\n", "SyntaxError"),
        ("import lightning as L\nraise RuntimeError('broken at import')\n", "RuntimeError: broken at import"),
    ],
)
def test_a_user_module_that_fails_to_import_is_named_with_its_file_and_line(tmp_path, monkeypatch, body, message):
    module = f"broken_{abs(hash(body)) % 10**6}"
    (tmp_path / f"{module}.py").write_text(body)
    data = quickstart() | {"model": {"class_path": f"{module}.Net"}}
    monkeypatch.chdir(tmp_path)
    code, err = validate(write_sweep(tmp_path, data))
    assert code == 2 and message in err and f"{tmp_path / module}.py:2" in err, err


def test_report_arguments_are_checked(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["report", str(tmp_path), "--top", "-1"]) == 2
    assert "--top: must be at least 1" in err.getvalue()


# --- Property: mutated built-in sweeps give exit 0 or 2, never a traceback -------------------------------------

SWEEPS = {name: yaml.safe_load(path.read_text()) for name, path in builtin_sweeps().items()}
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, -1, 1, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.sampled_from(["uniform", "choice", "mlp", "digits", "asha", "optuna", "1e-3", "cpu", "gpu"]),
)


def _paths(node, prefix=()):
    """Every (path, value) inside nested mappings and lists."""
    yield prefix, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _mutate(data, draw):
    import copy

    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["drop", "swap", "unknown key", "misspell"]))
        if action == "drop":
            del parent[path[-1]]
        elif action == "swap":
            parent[path[-1]] = draw(ANY_VALUE)
        elif isinstance(parent, dict):
            key = str(path[-1])
            new = draw(st.text(min_size=1, max_size=10)) if action == "unknown key" else key[:-1] + "x"
            parent[new] = parent.pop(key) if action == "misspell" else draw(ANY_VALUE)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_builtin_sweeps_exit_0_or_2_and_never_print_a_traceback(data):
    name = data.draw(st.sampled_from(sorted(SWEEPS)))
    if data.draw(st.integers(0, 9)) == 0:  # now and then, not YAML at all
        text = data.draw(st.binary(min_size=1, max_size=64))
    else:
        text = yaml.safe_dump(_mutate(SWEEPS[name], data.draw)).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.yaml"
        path.write_bytes(text)
        code, err = validate(path)
        assert code in (0, 2) and "Traceback" not in err, err
        if code == 2:
            assert err.startswith("tuning validate: error: ") and err.strip(), err
            storage = Path(tmp) / "runs"
            run_err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(run_err):
                assert main(["run", str(path), "--storage", str(storage)]) == 2, run_err.getvalue()
            assert not storage.exists(), "a refused sweep wrote into its storage"


# --- tuning run: exit 2 before anything is written ------------------------------------------------------------


def run_tuning(*args) -> tuple[int, str]:
    """`tuning run ARGS` in this process, on the session's Ray: (exit code, stderr). An unexpected exception
    (a traceback a user would see) fails the test where it is raised."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["run", *args])
    return code, err.getvalue()


def test_run_refuses_bad_init_args_and_storage_before_writing_anything(ray_session, tmp_path, monkeypatch):
    """init_args of the wrong type and an __init__ that raises are found by the preflight, before the experiment."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raising_init.py").write_text(
        "import lightning as L\nclass Net(L.LightningModule):\n    def __init__(self, lr=0.1):\n"
        "        super().__init__()\n        raise ValueError('no such lr')\n"
    )
    data = quickstart() | {"search": {"num_samples": 1}}
    cases = [
        (
            data | {"model": {"class_path": "mlp", "init_args": {"hidden_dim": "wide"}}},
            "model.init_args.hidden_dim: expects int, got 'wide'",
        ),
        (data | {"model": {"class_path": "raising_init.Net"}}, "ValueError: no such lr (at "),
    ]
    for i, (sweep, message) in enumerate(cases):
        code, err = run_tuning(str(write_sweep(tmp_path, sweep, f"s{i}.yaml")), "--storage", str(tmp_path / "runs"))
        assert code == 2 and message in err, err[-3000:]
    (tmp_path / "a_file").write_text("")
    code, err = run_tuning("quickstart", "--storage", str(tmp_path / "a_file" / "runs"))
    assert code == 2 and "a_file is a file, not a directory" in err, err[-3000:]
    assert not (tmp_path / "runs").exists() and (tmp_path / "a_file").read_text() == ""


# --- Experiment directories someone else wrote -------------------------------------------------------------------


def test_a_sweep_file_that_is_not_a_tuning_sweep_is_named(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    for text in ("[1, 2, 3]\n", "search: {metric: 3}\n", "search: [\n"):
        (exp / "sweep.yaml").write_text(text)
        for command in (
            ["report", str(exp)],
            ["compare", str(exp), str(exp)],
            ["export", str(exp), "--output", str(tmp_path / "out")],
        ):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                assert main(command) == 2, (text, command)
            assert f"{exp}/sweep.yaml" in err.getvalue(), err.getvalue()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "resources, message",
    [
        ({"cpu": 4096}, "resources.cpu: 4096 per worker x 1 workers, but this machine has"),
        ({"cpu": 1, "workers": 4096}, "resources.cpu: 1 per worker x 4096 workers"),
        ({"custom": {"A100": 1}}, "resources.custom.A100: a custom resource is a cluster node's label"),
        ({"memory": 1.0e6}, "resources.memory: 1e+06 GiB per worker x 1 workers, but this machine has"),
    ],
)
def test_a_local_sweep_no_trial_could_start_is_refused_before_anything_is_written(tmp_path, resources, message):
    """Ray would keep such trials pending forever: exit 2 before Ray starts, nothing written."""
    sweep = quickstart() | {"search": {"num_samples": 1}, "resources": resources}
    code, err = run_tuning(str(write_sweep(tmp_path, sweep, "s.yaml")), "--storage", str(tmp_path / "runs"))
    assert code == 2 and message in err, err[-3000:]
    assert not (tmp_path / "runs").exists()

"""The package's shape (README, "How it is built"): wings over a bottom, no import cycle, one seam for private
reaches."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tuning"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in it (inside functions too)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tuning"):
                for alias in node.names:  # `from tuning import compat` imports the module tuning.compat
                    found.add(
                        f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    )
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("tuning")}
        graph[name] = {m for m in found if m in modules and m != name and not name.startswith(m + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    assert "tuning.compat.ray" in graph["tuning.driver.tuner"], "the import graph is read (inside functions too)"
    assert _cycles(graph) == []


WINGS = ("cli", "api", "driver", "trial", "report")
MAY_USE = {
    "bottom": set(),
    "trial": set(),
    "report": set(),
    "driver": {"trial", "report"},
    "api": {"driver", "trial", "report"},  # the Python API (tuning.run, ...): the verbs, as the CLI calls them
    "cli": {"api", "driver", "trial", "report"},  # the job verbs share the API's checks (tuning.api.job)
}  # the wings each may import, through their faces


def _wing(module: str) -> str:
    if module == "tuning.__main__":
        return "cli"  # `python -m tuning` is the command line's other door
    if module == "tuning":
        return "api"  # the package's face lends the Python API's names (tuning.run, ...)
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else "bottom"


def _faces() -> dict[str, set[str]]:
    """wing -> the names its face exports (`__all__` of tuning/<wing>/__init__.py)."""
    faces = {}
    for wing in WINGS:
        tree = ast.parse((PACKAGE / wing / "__init__.py").read_text())
        faces[wing] = {
            name
            for node in tree.body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
            for name in ast.literal_eval(node.value)
        }
    return faces


def _crossings() -> list[str]:
    """Imports from one wing (or the bottom) into another that go up, sideways, or past the other's face."""
    faces, bad = _faces(), []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _wing(_module(path))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tuning"):
                targets = [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names if a.name.startswith("tuning")]
            else:
                continue
            for module, name in targets:
                there = _wing(module)
                if there in ("bottom", here) or module == "tuning":
                    continue
                face_ok = module == f"tuning.{there}" and name in faces[there]
                if there not in MAY_USE[here] or not face_ok:
                    bad.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {here} imports "
                        f"{module}{'.' + name if name else ''}"
                    )
    return bad


def test_wings_import_down_and_through_faces():
    faces = _faces()
    assert "run_sweep" in faces["driver"] and "run_trial" in faces["trial"], "the faces are read"
    assert {_wing(_module(p)) for p in PACKAGE.rglob("*.py")} == {"bottom", *WINGS}
    assert _crossings() == []


def test_each_face_exports_what_it_imports():
    for wing in WINGS:
        face = __import__(f"tuning.{wing}", fromlist=["__all__"])
        missing = [name for name in face.__all__ if not hasattr(face, name)]
        assert missing == [], f"tuning/{wing}/__init__.py: __all__ names {missing} it does not define"


def test_a_cycle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Every private name of Ray, Lightning or Optuna the seam reaches, and Ray's private packages: outside
# tuning/compat/, a line matching one is a reach past the seam.
PRIVATE = re.compile(
    r"\bray\._|\._private\b|\._internal\b|_raylet|\._get_file_writer|\._sanitize_params|"
    r"\._flatten_dict|\._convert_params|_init_optimizers_and_lr_schedulers|\b_loads_with_cloudpickle|"
    r"\._results\b|\._checkpoint_results|\._latest_checkpoint_result|class_cache|\._ot_\w+|"
    r"\b_setup_study\b|\._trial_id\b|\._storage\b|\._space\b|\._completed_trials\b|_InstantiatorFn|"
    r"\._get_trials\b|\b_sample\b|_thread_lock|\b_atomic_save\b|_load_newest_checkpoint|"
    r"_insert_into_sorted_list|\binternal_kv\b|\b_dir_travel\b|\b_get_excludes\b"
)
SEAM = PACKAGE / "compat"


def test_private_reaches_live_in_the_seam_only():
    outside = [
        f"{p.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for p in sorted(PACKAGE.rglob("*.py"))
        if SEAM not in p.parents
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PRIVATE.search(line.split("#")[0]) and not line.strip().startswith(('"', "'"))
    ]
    assert outside == [], "\n".join(outside)

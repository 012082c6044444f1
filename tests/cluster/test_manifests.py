"""Every file under cluster/ validates against the schema of the tool that reads it, and pins our Ray."""

import copy
import fnmatch
import functools
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import tomllib
import yaml

ROOT = Path(__file__).parents[2]
CLUSTER = ROOT / "cluster"
CRDS = Path(__file__).parent / "schemas"  # KubeRay's CRD schemas, trimmed (schemas/README.md)
LAUNCHER_FILES = sorted(CLUSTER.glob("*.yaml"))
KUBERAY_FILES = sorted((CLUSTER / "kuberay").glob("*.yaml"))


def launcher_schema() -> dict:
    """Ray's own schema for cluster launcher configs, shipped with the installed ray."""
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


def strict(schema: dict) -> dict:
    """The CRD schema with unknown fields rejected, as `kubectl apply --validate=strict` does."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def fixtures() -> dict[str, dict]:
    """kind -> the trimmed v1 openAPIV3Schema of KubeRay's CRDs (tests/cluster/schemas)."""
    docs = [yaml.safe_load(path.read_text()) for path in CRDS.glob("*.v1.yaml")]
    return {doc["kind"]: doc["openAPIV3Schema"] for doc in docs}


@functools.cache
def crd_schemas() -> dict[str, dict]:
    """kind -> the CRD schema, strict."""
    return {kind: strict(schema) for kind, schema in fixtures().items()}


def test_there_is_a_launcher_config_for_aws_gcp_and_on_premises():
    providers = {yaml.safe_load(p.read_text())["provider"]["type"] for p in LAUNCHER_FILES}
    assert providers == {"aws", "gcp", "local"}


@pytest.mark.parametrize("path", LAUNCHER_FILES, ids=lambda p: p.name)
def test_launcher_config_matches_rays_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), launcher_schema())


def test_the_launcher_schema_rejects_a_misspelled_key():
    config = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    config["max_worker"] = config.pop("max_workers")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, launcher_schema())


def _trimmed_reached(schema: dict, value, where: str) -> list[str]:
    """Places where `value` reaches into a field the fixture trimmed away (then: rerun schemas/trim.py)."""
    if schema.get("x-trimmed"):
        return [where]
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                found += _trimmed_reached(sub, item, f"{where}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _trimmed_reached(schema["items"], item, f"{where}[{i}]")
    return found


@pytest.mark.parametrize("path", KUBERAY_FILES, ids=lambda p: p.name)
def test_kuberay_manifest_matches_the_crd(path):
    schemas = crd_schemas()
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["apiVersion"] == "ray.io/v1":
            jsonschema.validate(doc, schemas[doc["kind"]])
            assert not _trimmed_reached(fixtures()[doc["kind"]], doc, doc["kind"]), "rerun schemas/trim.py"


def test_the_crd_fixtures_name_their_source():
    for path in CRDS.glob("*.v1.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert doc["source"].startswith("KubeRay ray-operator/config/crd/bases/ray.io_") and doc["source_sha256"]
    assert set(fixtures()) == {"RayCluster", "RayJob"}


def _pods(doc: dict) -> list[dict]:
    """Every pod spec of a RayCluster or RayJob manifest (head, worker groups, the job's submitter)."""
    spec = doc["spec"].get("rayClusterSpec", doc["spec"])
    templates = [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]
    if "submitterPodTemplate" in doc["spec"]:
        templates.append(doc["spec"]["submitterPodTemplate"])
    return [t["spec"] for t in templates]


def test_every_kuberay_pod_runs_hardened():
    docs = [d for p in KUBERAY_FILES for d in yaml.safe_load_all(p.read_text()) if d["apiVersion"] == "ray.io/v1"]
    hardened = {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pods = [pod for doc in docs for pod in _pods(doc)]
    assert len(pods) == 5  # RayCluster: head + gpu group; RayJob: head + gpu group + submitter
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert hardened.items() <= container["securityContext"].items(), container["name"]
    for doc in docs:
        spec = doc["spec"].get("rayClusterSpec", doc["spec"])
        assert hardened.items() <= spec["autoscalerOptions"]["securityContext"].items()  # the sidecar KubeRay adds


def test_launcher_configs_never_copy_the_secrets_tuning_submit_leaves_out():
    from tuning.driver.submit import SECRET_PATTERNS

    for path in LAUNCHER_FILES:
        config = yaml.safe_load(path.read_text())
        excludes = config["rsync_exclude"]
        assert [p for p in excludes if p not in (".git", ".venv", "runs", "lightning_logs")] == SECRET_PATTERNS, path
        # Ray copies the SSH key to the head through the same rsync: its name must not be excluded.
        key = Path(config["auth"]["ssh_private_key"]).name
        assert not any(fnmatch.fnmatchcase(key, p) for p in excludes if not p.endswith("/")), (path, key)
    ignored = (CLUSTER / "Dockerfile.dockerignore").read_text().splitlines()
    assert {f"**/{p.rstrip('/')}" for p in SECRET_PATTERNS} <= set(ignored)


@pytest.mark.needs("rsync", reason="the cluster launcher copies the project with it (.ci/run installs it)")
def test_rsync_with_the_launchers_excludes_leaves_the_secrets_and_copies_the_key_and_token(tmp_path):
    import subprocess

    from tests.cluster.secret_project import CODE_FILES, SECRET_FILES, make_secret_project

    config = yaml.safe_load((CLUSTER / "local.yaml").read_text())
    flags = [arg for p in config["rsync_exclude"] for arg in ("--exclude", p)]
    project = make_secret_project(tmp_path / "project", tmp_path / "outside")
    subprocess.run(["rsync", "-a", *flags, f"{project}/", str(tmp_path / "node")], check=True)
    copied = {p.relative_to(tmp_path / "node").as_posix() for p in (tmp_path / "node").rglob("*") if p.is_file()}
    assert set(CODE_FILES) <= copied and not copied & set(SECRET_FILES), copied & set(SECRET_FILES)
    home, key = tmp_path / "home", ".ssh/" + Path(config["auth"]["ssh_private_key"]).name
    for rel in [key, ".ray/auth_token"]:
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text("x")
    # as Ray's updater runs it for the file mounts and the head's ~/ray_bootstrap_key.pem: one file each
    for source, target in [(key, "ray_bootstrap_key.pem"), (".ray/auth_token", "auth_token")]:
        subprocess.run(["rsync", "-a", *flags, str(home / source), str(tmp_path / target)], check=True)
        assert (tmp_path / target).is_file(), source


def test_there_is_a_raycluster_with_gpu_autoscaling_and_a_rayjob():
    docs = [d for p in KUBERAY_FILES for d in yaml.safe_load_all(p.read_text())]
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    group = cluster["spec"]["workerGroupSpecs"][0]
    assert group["maxReplicas"] > group["minReplicas"]
    assert "nvidia.com/gpu" in group["template"]["spec"]["containers"][0]["resources"]["limits"]
    job = next(d for d in docs if d["kind"] == "RayJob")
    assert job["spec"]["entrypoint"].startswith("tuning run ")
    # A retried job continues its experiment (tuning run --resume-existing), and a retry is configured.
    assert job["spec"]["entrypoint"].endswith(" --resume-existing") and job["spec"]["backoffLimit"] >= 1


def test_the_crd_schema_rejects_a_misspelled_field():
    doc = next(yaml.safe_load_all((CLUSTER / "kuberay" / "raycluster.yaml").read_text()))
    doc["spec"]["workerGroupSpecs"][0]["maxReplica"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, crd_schemas()["RayCluster"])


def test_every_ray_version_under_cluster_matches_pyprojects_pin():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cluster"]
    pinned = next(re.fullmatch(r"ray\[[^]]*\]==([\d.]+)", dep).group(1) for dep in extra if dep.startswith("ray["))
    patterns = [r"rayproject/ray:([\d.]+)", r'rayVersion: "([\d.]+)"', r"ray\[[\w,]+\]==([\d.]+)", r"-ray([\d.]+\d)"]
    found = {}
    for path in [*LAUNCHER_FILES, *KUBERAY_FILES, CLUSTER / "Dockerfile", CLUSTER / "README.md"]:
        for pattern in patterns:
            for version in re.findall(pattern, path.read_text()):
                found.setdefault(version, []).append(path.name)
    assert found, "cluster/ names a Ray version"
    assert set(found) == {pinned}, found
    from packaging.requirements import Requirement

    declared = next(
        Requirement(d)
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if d.startswith("ray[")
    )
    assert pinned in declared.specifier, "the cluster pin lies in the range tuning declares"
    assert ray.__version__ in declared.specifier, "the venv runs a Ray of the declared range"

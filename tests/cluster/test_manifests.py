"""Every file under cluster/ validates against the schema of the tool that reads it, and pins our Ray."""

import copy
import functools
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

ROOT = Path(__file__).parents[2]
CLUSTER = ROOT / "cluster"
CRDS = ROOT.parent / "shared" / "schemas" / "kuberay"
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
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def crd_schemas() -> dict[str, dict]:
    """kind -> the v1 openAPIV3Schema of KubeRay's CRDs (../shared/schemas/kuberay)."""
    schemas = {}
    for path in CRDS.glob("ray.io_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schemas[crd["spec"]["names"]["kind"]] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


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


@pytest.mark.parametrize("path", KUBERAY_FILES, ids=lambda p: p.name)
def test_kuberay_manifest_matches_the_crd(path):
    schemas = crd_schemas()
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["apiVersion"] == "ray.io/v1":
            jsonschema.validate(doc, schemas[doc["kind"]])


def test_there_is_a_raycluster_with_gpu_autoscaling_and_a_rayjob():
    docs = [d for p in KUBERAY_FILES for d in yaml.safe_load_all(p.read_text())]
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    group = cluster["spec"]["workerGroupSpecs"][0]
    assert group["maxReplicas"] > group["minReplicas"]
    assert "nvidia.com/gpu" in group["template"]["spec"]["containers"][0]["resources"]["limits"]
    job = next(d for d in docs if d["kind"] == "RayJob")
    assert job["spec"]["entrypoint"].startswith("tuning run ")


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
    assert pinned == ray.__version__, "the venv runs the pinned Ray"

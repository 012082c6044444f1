"""Trim KubeRay's CRDs to the schema fixture tests/cluster/test_manifests.py validates the manifests with.

    python tests/cluster/schemas/trim.py PATH/ray.io_rayclusters.yaml PATH/ray.io_rayjobs.yaml

(PATH: a KubeRay checkout's ray-operator/config/crd/bases.) Writes `<kind>.v1.yaml` here. Every
object the manifests under cluster/kuberay reach keeps its whole list of fields, with their types,
required fields, enums and formats, so a misspelled or unknown field is still rejected at every
level the manifests use; a field no manifest uses keeps only its type (marked `x-trimmed`), and
descriptions are dropped. The test refuses a manifest that reaches into a trimmed field: rerun
this script after adding fields to a manifest.
"""

import hashlib
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
MANIFESTS = HERE.parents[2] / "cluster" / "kuberay"
KEEP = (
    "type",
    "required",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "nullable",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
)


def _plain(schema):
    """`schema` without descriptions (for anyOf/oneOf/allOf branches, kept whole)."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def _stub(schema: dict) -> dict:
    node = {
        k: schema[k]
        for k in ("type", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")
        if k in schema
    }
    if "anyOf" in schema:
        node["anyOf"] = _plain(schema["anyOf"])
    return {**node, "x-trimmed": True}


def trim(schema: dict, values: list) -> dict:
    """`schema` cut down to what `values` (every manifest value found at this place) reach."""
    node = {k: schema[k] for k in KEEP if k in schema}
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            node[key] = _plain(schema[key])
    objects = [v for v in values if isinstance(v, dict)]
    if "properties" in schema:
        node["properties"] = {}
        for name, prop in schema["properties"].items():
            found = [v[name] for v in objects if name in v]
            node["properties"][name] = trim(prop, found) if found else _stub(prop)
    if isinstance(schema.get("additionalProperties"), dict):
        known = set(schema.get("properties", {}))
        found = [item for v in objects for k, item in v.items() if k not in known]
        extra = schema["additionalProperties"]
        node["additionalProperties"] = trim(extra, found) if found else _stub(extra)
    elif "additionalProperties" in schema:
        node["additionalProperties"] = schema["additionalProperties"]
    if "items" in schema:
        found = [item for v in values if isinstance(v, list) for item in v]
        node["items"] = trim(schema["items"], found) if found else _stub(schema["items"])
    return node


def main(paths: list[str]) -> None:
    docs = [d for p in sorted(MANIFESTS.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    for path in map(Path, paths):
        raw = path.read_bytes()
        crd = yaml.safe_load(raw)
        kind = crd["spec"]["names"]["kind"]
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        values = [d for d in docs if d.get("apiVersion") == "ray.io/v1" and d.get("kind") == kind]
        fixture = {
            "kind": kind,
            "source": f"KubeRay ray-operator/config/crd/bases/{path.name}",
            "controller_gen": crd["metadata"]["annotations"]["controller-gen.kubebuilder.io/version"],
            "source_sha256": hashlib.sha256(raw).hexdigest(),
            "openAPIV3Schema": trim(version["schema"]["openAPIV3Schema"], values),
        }
        header = f"# Trimmed from KubeRay's {path.name} by tests/cluster/schemas/trim.py (README.md here).\n"
        (HERE / f"{kind.lower()}.v1.yaml").write_text(header + yaml.safe_dump(fixture, sort_keys=False, width=110))


if __name__ == "__main__":
    main(sys.argv[1:])

"""A tiny kustomize for the subset deploy/k8s uses, so CI renders overlays without kubectl:
`resources` (files and directories), `namespace`, `generatorOptions.disableNameSuffixHash`,
`configMapGenerator` (`literals`, `files`), `secretGenerator` (`envs`) and inline JSON 6902
`patches` with a kind/name target. Anything else is an error, never silently ignored.
tests/deploy/test_k8s.py checks its output equals `kubectl kustomize` where kubectl exists.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "generatorOptions",
    "configMapGenerator",
    "secretGenerator",
    "patches",
}
Obj = dict[str, Any]


class KustomizeError(ValueError):
    pass


def render(root: Path) -> list[Obj]:
    kfile = root / "kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    unknown = set(k) - KNOWN
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported fields {sorted(unknown)}")
    if not (k.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        if k.get("configMapGenerator") or k.get("secretGenerator"):
            raise KustomizeError(f"{kfile}: generators need generatorOptions.disableNameSuffixHash: true")
    objs: list[Obj] = []
    for res in k.get("resources", []):
        path = (root / res).resolve()
        if path.is_dir():
            objs += render(path)
        else:
            objs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for gen in k.get("configMapGenerator", []):
        objs.append(_config_map(root, gen))
    for gen in k.get("secretGenerator", []):
        objs.append(_secret(root, gen))
    for p in k.get("patches", []):
        _patch(objs, p, kfile)
    ns = k.get("namespace")
    if ns:
        for o in objs:
            if o["kind"] != "Namespace":
                o.setdefault("metadata", {})["namespace"] = ns
    return objs


def _config_map(root: Path, gen: Obj) -> Obj:
    data: dict[str, str] = {}
    for lit in gen.get("literals", []):
        key, _, value = lit.partition("=")
        data[key] = value
    for f in gen.get("files", []):
        key, _, rel = f.partition("=") if "=" in f else (Path(f).name, "", f)
        data[key] = _inside(root, rel).read_text()
    extra = set(gen) - {"name", "literals", "files"}
    if extra:
        raise KustomizeError(f"configMapGenerator {gen['name']}: unsupported {sorted(extra)}")
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}


def _secret(root: Path, gen: Obj) -> Obj:
    extra = set(gen) - {"name", "envs"}
    if extra:
        raise KustomizeError(f"secretGenerator {gen['name']}: unsupported {sorted(extra)}")
    data: dict[str, str] = {}
    for env in gen.get("envs", []):
        for line in _inside(root, env).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = base64.b64encode(value.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": gen["name"]},
        "type": "Opaque",
        "data": data,
    }


def _inside(root: Path, rel: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):  # kustomize's default load restrictor
        raise KustomizeError(f"{rel}: outside the kustomization root {root}")
    return path


def _patch(objs: list[Obj], p: Obj, kfile: Path) -> None:
    target = p.get("target") or {}
    if set(target) - {"kind", "name"} or set(p) - {"target", "patch"}:
        raise KustomizeError(f"{kfile}: only inline JSON 6902 patches with a kind/name target")
    hits = [
        o for o in objs if o["kind"] == target.get("kind") and o["metadata"]["name"] == target.get("name")
    ]
    if not hits:
        raise KustomizeError(f"{kfile}: patch target {target} not found")
    for o in hits:
        for op in yaml.safe_load(p["patch"]):
            _apply(o, op)


def _apply(doc: Obj, op: Obj) -> None:
    parts = [s.replace("~1", "/").replace("~0", "~") for s in op["path"].split("/")[1:]]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    value = copy.deepcopy(op.get("value"))
    if op["op"] == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), value)
        else:
            parent[last] = value
    elif op["op"] == "replace":
        if isinstance(parent, list):
            parent[int(last)] = value
        else:
            if last not in parent:
                raise KustomizeError(f"replace: {op['path']} does not exist")
            parent[last] = value
    elif op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise KustomizeError(f"unsupported patch op {op['op']!r}")

"""deploy/k8s: both overlays render (our tiny kustomize; kubectl's too where it exists, and the two
agree), every object validates against the Kubernetes schemas, and the manifests say what the
deployment promises (probes, limits, singleton execution, network reach, NATS cluster)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import KustomizeError, render
from tradebus import envfiles, k8s, security
from tradebus.cli import TARGETS
from tradebus.stack import read_strategies

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
STRATEGIES = read_strategies(ROOT / "config" / "strategies.yaml")
K8S_VERSION = "1.32.0"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s with freshly generated secrets, as an operator would have it."""
    tmp = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tmp, ignore=shutil.ignore_patterns("secrets"))
    assert envfiles.main(["--strategies", str(ROOT / "config/strategies.yaml"), "k8s", str(tmp)]) == 0
    return tmp


@pytest.fixture(scope="module", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest, tree: Path) -> tuple[str, dict[tuple[str, str], Obj]]:
    objs = render(tree / "overlays" / request.param)
    by_key = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    assert len(by_key) == len(objs), "two objects with one kind and name"
    return request.param, by_key


def _normal(o: Obj) -> Obj:
    if o["kind"] == "Secret":  # kubectl folds long base64 lines
        o = {**o, "data": {k: "".join(v.split()) for k, v in o.get("data", {}).items()}}
    return o


def test_every_object_validates_against_the_kubernetes_schemas(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    for key, o in objs.items():
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key}: {exc.message} at {list(exc.path)}")


def test_the_validator_catches_a_bad_field(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    bad = yaml.safe_load(yaml.safe_dump(objs["Deployment", "execution"]))
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_tiny_kustomize_agrees_with_kubectl(overlay: tuple[str, dict], tree: Path) -> None:  # type: ignore[type-arg]
    name, objs = overlay
    out = subprocess.run(
        ["kubectl", "kustomize", str(tree / "overlays" / name)], capture_output=True, text=True, check=True
    ).stdout
    theirs = {(o["kind"], o["metadata"]["name"]): _normal(o) for o in yaml.safe_load_all(out) if o}
    assert {k: _normal(v) for k, v in objs.items()} == theirs


def test_tiny_kustomize_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)


def _deployments(objs: dict[tuple[str, str], Obj]) -> dict[str, Obj]:
    return {name: o for (kind, name), o in objs.items() if kind == "Deployment" and name != "sim"}


def test_a_deployment_per_service_and_per_strategy(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    deps = _deployments(objs)
    targets = {d["spec"]["template"]["spec"]["containers"][0]["args"][0] for d in deps.values()}
    assert targets <= set(TARGETS)
    assert targets == set(TARGETS) - {"sim"}
    strategies = {
        e["value"]
        for d in deps.values()
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "TRADEBUS_SIGNALS_NAME"
    }
    assert strategies == {s.name for s in STRATEGIES}


def test_probes_resources_scrape_budget_and_policy_for_each(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    for name, d in _deployments(objs).items():
        pod = d["spec"]["template"]
        c = pod["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"]["path"] == "/healthz", (name, probe)
            assert c[probe]["httpGet"]["port"] in ports, (name, probe)
        assert c["livenessProbe"]["httpGet"]["port"] == "metrics"
        assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"], name
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
        assert {"configMapRef": {"name": "tradebus-config"}} in c["envFrom"]
        assert ("PodDisruptionBudget", name) in objs
        assert ("NetworkPolicy", name) in objs
        assert ("Service", name) in objs
    gw = _deployments(objs)["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gw["readinessProbe"]["httpGet"]["port"] == "http"


def test_execution_is_a_singleton(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    ex = objs["Deployment", "execution"]["spec"]
    assert ex["replicas"] == 1
    assert ex["strategy"] == {"type": "Recreate"}
    others = [
        n for n, d in _deployments(objs).items() if d["spec"].get("strategy", {}).get("type") == "Recreate"
    ]
    assert others == ["execution"]


def _egress_to(policy: Obj) -> set[str]:
    out = set()
    for rule in policy["spec"]["egress"]:
        for peer in rule["to"]:
            if "podSelector" in peer and "namespaceSelector" not in peer:
                out.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            elif "ipBlock" in peer:
                out.add(f"ip:{','.join(str(p['port']) for p in rule['ports'])}")
    return out


def test_network_policies_let_each_pod_reach_only_what_it_needs(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    name, objs = overlay
    venue = {"sim", "ip:8100,443"} if name == "dev" else {"sim", "ip:443"}
    db = {"postgres"} if name == "dev" else {"postgres", "ip:5432"}
    for dep in _deployments(objs):
        reach = _egress_to(objs["NetworkPolicy", dep])
        want = {"nats"}
        if dep in ("portfolio", "gateway"):
            want |= db
        if dep in ("marketdata", "execution"):
            want |= venue
        assert reach == want, dep


def test_secrets_and_config_maps_referenced_exist(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    for (kind, name), o in objs.items():
        if kind not in ("Deployment", "StatefulSet"):
            continue
        spec = o["spec"]["template"]["spec"]
        for c in spec["containers"]:
            for ref in c.get("envFrom", []):
                if "secretRef" in ref:
                    assert ("Secret", ref["secretRef"]["name"]) in objs, name
                else:
                    assert ("ConfigMap", ref["configMapRef"]["name"]) in objs, name
        for v in spec.get("volumes", []):
            for src in v.get("projected", {}).get("sources", []):
                assert ("ConfigMap", src["configMap"]["name"]) in objs, name


def test_each_service_gets_its_own_nats_user(overlay: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    _, objs = overlay
    users = {r.user for r in security.roles([s.name for s in STRATEGIES])}
    seen = set()
    for name in _deployments(objs):
        secret = objs["Secret", f"tradebus-{name}"]["data"]
        user = base64.b64decode(secret["TRADEBUS_NATS_USER"]).decode()
        assert user in users, name
        seen.add(user)
    assert seen == users - {security.ADMIN}


def test_prod_runs_a_three_node_jetstream_cluster_and_no_sim_or_postgres(tree: Path) -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render(tree / "overlays" / "prod")}
    nats = objs["StatefulSet", "nats"]["spec"]
    assert nats["replicas"] == 3
    anti = nats["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    conf = objs["ConfigMap", "nats-config"]["data"]["nats.conf"]
    assert conf.count("nats://nats-") == 3
    assert "sync_interval: always" in conf
    assert objs["ConfigMap", "tradebus-config"]["data"]["TRADEBUS_STREAM_REPLICAS"] == "3"
    assert not {("Deployment", "sim"), ("StatefulSet", "postgres")} & set(objs)


def test_dev_runs_one_nats_node_postgres_and_the_sim(tree: Path) -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render(tree / "overlays" / "dev")}
    assert objs["StatefulSet", "nats"]["spec"]["replicas"] == 1
    assert {("Deployment", "sim"), ("StatefulSet", "postgres")} <= set(objs)
    assert objs["ConfigMap", "tradebus-config"]["data"]["TRADEBUS_EXECUTION_VENUE_URL"] == "http://sim:8100"


def test_generated_files_are_up_to_date() -> None:
    assert (K8S / "base" / "services.yaml").read_text() == k8s.render(STRATEGIES), (
        "run: python -m tradebus.k8s > deploy/k8s/base/services.yaml"
    )
    auth = security.authorization(security.roles([s.name for s in STRATEGIES]))
    assert (ROOT / "deploy" / "nats" / "auth.conf").read_text() == auth, (
        "run: python -m tradebus.envfiles nats-auth > deploy/nats/auth.conf"
    )
    assert (K8S / "base" / "nats-auth.conf").read_text() == auth, (
        "copy deploy/nats/auth.conf to deploy/k8s/base/"
    )
    assert (K8S / "overlays" / "dev" / "nats.conf").read_text() == (
        ROOT / "deploy/nats/nats.conf"
    ).read_text()

"""The Kubernetes base manifests of every Tradebus process, made from one table and the strategies file.

    python -m tradebus.k8s > deploy/k8s/base/services.yaml

A Deployment per service and one per strategy (signals), each with probes on GET /healthz of its
metrics port, resource requests and a memory limit, Prometheus scrape annotations, a Service,
a PodDisruptionBudget and a NetworkPolicy that lets it reach only NATS (and Postgres or the venue
where it needs them). Secrets come from `tradebus-<process>` Secrets (see tradebus/envfiles.py).
tests/deploy checks the committed file equals this output.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tradebus.stack import StrategyEntry, read_strategies

METRICS_PORT = 9100
GATEWAY_PORT = 8000
IMAGE = "tradebus:latest"


@dataclass(frozen=True)
class Proc:
    name: str  # k8s name
    target: str  # `tradebus run` target
    env: dict[str, str]
    needs_postgres: bool = False
    needs_venue: bool = False
    singleton: bool = False
    http_port: int | None = None
    memory_mb: int = 256


def processes(strategies: list[StrategyEntry]) -> list[Proc]:
    out = [
        # venue names and URLs come from the tradebus-config ConfigMap of the overlay
        Proc("marketdata", "marketdata", {}, needs_venue=True),
        Proc("execution", "execution", {}, needs_venue=True, singleton=True),
        Proc("portfolio", "portfolio", {}, needs_postgres=True, memory_mb=512),
        Proc(
            "gateway",
            "gateway",
            {"TRADEBUS_GATEWAY_HOST": "0.0.0.0", "TRADEBUS_GATEWAY_PORT": str(GATEWAY_PORT)},
            needs_postgres=True,
            http_port=GATEWAY_PORT,
        ),
        Proc("backtest", "backtest", {}, memory_mb=1024),
    ]
    for s in strategies:
        env = {
            "TRADEBUS_SIGNALS_NAME": s.name,
            "TRADEBUS_SIGNALS_KIND": s.kind or s.name,
            "TRADEBUS_SIGNALS_VENUE": s.venue,
            "TRADEBUS_SIGNALS_SYMBOLS": json.dumps(s.symbols),
            "TRADEBUS_SIGNALS_PARAMS": json.dumps(s.params),
            "TRADEBUS_SIGNALS_ENABLED": str(s.enabled).lower(),
            "TRADEBUS_SIGNALS_DRY_RUN": str(s.dry_run).lower(),
        }
        out.append(Proc("signals-" + s.name.replace("_", "-"), "signals", env, memory_mb=384))
    return out


def _labels(p: Proc) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": p.name,
        "app.kubernetes.io/component": p.target,
        "app.kubernetes.io/part-of": "tradebus",
    }


def _probe(port: str, path: str = "/healthz", delay: int = 5) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": delay,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def deployment(p: Proc) -> dict[str, Any]:
    ports = [{"name": "metrics", "containerPort": METRICS_PORT}]
    if p.http_port:
        ports.append({"name": "http", "containerPort": p.http_port})
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in p.env.items()]
    env.append({"name": "TRADEBUS_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    container = {
        "name": p.target,
        "image": IMAGE,
        "args": [p.target],
        "ports": ports,
        "envFrom": [
            {"configMapRef": {"name": "tradebus-config"}},
            {"secretRef": {"name": f"tradebus-{p.name}"}},
        ],
        "env": env,
        "readinessProbe": _probe("http" if p.http_port else "metrics"),
        "livenessProbe": {**_probe("metrics", delay=20), "failureThreshold": 6},
        "resources": {
            "requests": {"cpu": "100m", "memory": f"{p.memory_mb // 2}Mi"},
            "limits": {"memory": f"{p.memory_mb}Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    spec: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": p.name}},
        "template": {
            "metadata": {
                "labels": _labels(p),
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(METRICS_PORT),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001},
                "terminationGracePeriodSeconds": 30,
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if p.singleton:  # one owner of the account: never two pods at once; the KV lease guards the rest
        spec["strategy"] = {"type": "Recreate"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": p.name, "labels": _labels(p)},
        "spec": spec,
    }


def service(p: Proc) -> dict[str, Any]:
    ports = [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}]
    if p.http_port:
        ports.append({"name": "http", "port": p.http_port, "targetPort": "http"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": p.name, "labels": _labels(p)},
        "spec": {"selector": {"app.kubernetes.io/name": p.name}, "ports": ports},
    }


def pdb(p: Proc) -> dict[str, Any]:
    # a singleton keeps its one pod through voluntary disruptions until someone drains on purpose
    budget = {"maxUnavailable": 0} if p.singleton else {"maxUnavailable": 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": p.name, "labels": _labels(p)},
        "spec": {**budget, "selector": {"matchLabels": {"app.kubernetes.io/name": p.name}}},
    }


def network_policy(p: Proc) -> dict[str, Any]:
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    nats = {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}],
        "ports": [{"protocol": "TCP", "port": 4222}],
    }
    egress = [dns, nats]
    if p.needs_postgres:
        egress.append(
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }
        )
    if p.needs_venue:  # the venue: the sim pod in dev, an exchange on the internet in prod (HTTPS)
        egress.append(
            {
                "to": [
                    {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "sim"}}},
                    {
                        "ipBlock": {
                            "cidr": "0.0.0.0/0",
                            "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                        }
                    },
                ],
                "ports": [{"protocol": "TCP", "port": 8100}, {"protocol": "TCP", "port": 443}],
            }
        )
    ingress_ports = [{"protocol": "TCP", "port": METRICS_PORT}]
    if p.http_port:
        ingress_ports.append({"protocol": "TCP", "port": p.http_port})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": p.name, "labels": _labels(p)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": p.name}},
            "policyTypes": ["Ingress", "Egress"],
            # scrapes by Prometheus and probes by the kubelet; nothing else dials a service pod
            "ingress": [{"ports": ingress_ports}],
            "egress": egress,
        },
    }


def manifests(strategies: list[StrategyEntry]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in processes(strategies):
        out += [deployment(p), service(p), pdb(p), network_policy(p)]
    return out


def render(strategies: list[StrategyEntry]) -> str:
    head = "# generated by `python -m tradebus.k8s > deploy/k8s/base/services.yaml`; do not edit\n"
    return head + yaml.safe_dump_all(manifests(strategies), sort_keys=False, width=110)


def secret_names(strategies: list[StrategyEntry]) -> list[str]:
    """The `tradebus-<process>` Secrets the Deployments read (tradebus/envfiles.py makes their files)."""
    return [f"tradebus-{p.name}" for p in processes(strategies)]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    path = Path(args[0]) if args else Path("config/strategies.yaml")
    sys.stdout.write(render(read_strategies(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

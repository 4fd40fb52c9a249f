"""The properties of infra/k8s that matter, on what `kubectl kustomize` renders.

Each check in manifest_checks.py is also run on a copy broken on purpose,
so a check that could never fail would show here.
"""
from __future__ import annotations

import base64
import copy
import re

import pytest

import manifest_checks as mc

CELL = {"app.kubernetes.io/name": "orrery", "app.kubernetes.io/component": "cell"}
CONTROL_PLANE = {"app.kubernetes.io/name": "orrery", "app.kubernetes.io/component": "control-plane"}
FROM_CONTROL_PLANE = {"podSelector": {"matchLabels": CONTROL_PLANE}}
FROM_CELLS = {"podSelector": {"matchLabels": CELL}}
FROM_MONITORING = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}

# Flags the manifests use that the in-progress multi-member cell adds; every
# other flag must exist in src/main.rs today.
PENDING_FLAGS = {
    "--member-id", "--peer-addr", "--peer-listen-addr", "--peer-tls-cert",
    "--peer-tls-key", "--peer-ca-file", "--history-shards",
}


@pytest.fixture(scope="module")
def dev():
    return mc.render("dev")


@pytest.fixture(scope="module")
def production():
    return mc.render("production")


@pytest.fixture(scope="module", params=["dev", "production"])
def overlay(request):
    return mc.render(request.param)


def find(docs, kind, name):
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


def test_production_replicas(production):
    assert find(production, "StatefulSet", "orrery-cell")["spec"]["replicas"] == 3
    assert find(production, "Deployment", "orrery-control-plane")["spec"]["replicas"] == 2
    # The autoscalers never go below those.
    assert find(production, "HorizontalPodAutoscaler", "orrery-cell")["spec"]["minReplicas"] == 3
    assert find(production, "HorizontalPodAutoscaler", "orrery-control-plane")["spec"]["minReplicas"] == 2


def test_dev_is_one_member_on_its_own_postgres_without_cert_manager(dev):
    assert find(dev, "StatefulSet", "orrery-cell")["spec"]["replicas"] == 1
    postgres = find(dev, "StatefulSet", "orrery-postgres")
    assert container(postgres)["image"].startswith("postgres:")
    assert not [d for d in dev if d["apiVersion"].startswith(("cert-manager.io/", "monitoring.coreos.com/"))]
    # Both processes' database URLs point at that PostgreSQL, each at a database of its own.
    databases = set()
    for kind, name, variable in (("StatefulSet", "orrery-cell", "ORRERY_DATABASE_URL"),
                                 ("Deployment", "orrery-control-plane", "ORRERY_CONTROL_PLANE_DATABASE_URL")):
        env = {e["name"]: e for e in container(find(dev, kind, name))["env"]}
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        url = base64.b64decode(find(dev, "Secret", ref["name"])["data"][ref["key"]]).decode()
        assert url.startswith("postgres://orrery:") and "@orrery-postgres:5432/" in url, url
        databases.add(url.rsplit("/", 1)[1])
    assert databases == {"orrery_cell", "orrery_control_plane"}
    # The image creates POSTGRES_DB; the init script the other one.
    env = {e["name"]: e.get("value") for e in container(postgres)["env"]}
    assert env["POSTGRES_DB"] == "orrery_cell"
    init = [d for d in dev if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("orrery-postgres-init")]
    assert "CREATE DATABASE orrery_control_plane" in init[0]["data"]["postgres-init.sql"]


def test_schemas(overlay):
    assert mc.check_schemas(overlay) == []


def test_schema_check_rejects_unknown_fields_and_unknown_kinds(production):
    docs = copy.deepcopy(production)
    container(find(docs, "StatefulSet", "orrery-cell"))["livenesProbe"] = {}
    docs.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    problems = mc.check_schemas(docs, versions=["1.37.0"])
    assert any("StatefulSet/orrery-cell" in p and "livenesProbe" in p for p in problems), problems
    assert any("Widget/w" in p and "no schema" in p for p in problems), problems


def test_crd_checks_reject_missing_required_fields(production):
    docs = copy.deepcopy(production)
    cert = find(docs, "Certificate", "orrery-cell-peer-tls")
    del cert["spec"]["secretName"]
    cert["spec"]["issuerRef"]["name"] = "nowhere"
    find(docs, "Issuer", "orrery-peer")["spec"] = {"ca": {}}
    find(docs, "ServiceMonitor", "orrery-cell")["spec"]["endpoints"] = []
    problems = mc.check_schemas(docs, versions=["1.37.0"])
    for expected in ("secretName is required", "Issuer 'nowhere'", "ca.secretName is required",
                     "at least one endpoint"):
        assert any(expected in p for p in problems), (expected, problems)


def test_every_container_is_non_root_with_a_read_only_root(overlay):
    assert mc.check_container_security(overlay) == []


def test_security_check_catches_root_and_writable_roots(production):
    docs = copy.deepcopy(production)
    job = find(docs, "Job", "orrery-migrate")
    job["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    container(find(docs, "Deployment", "orrery-control-plane"))["securityContext"]["readOnlyRootFilesystem"] = False
    problems = mc.check_container_security(docs)
    assert any("Job/orrery-migrate" in p and "runAsUser" in p for p in problems), problems
    assert any("Deployment/orrery-control-plane" in p and "writable" in p for p in problems), problems


def test_probes_and_resources(overlay):
    assert mc.check_probes(overlay) == []
    assert mc.check_resources(overlay) == []


def test_probe_check_catches_a_missing_probe(dev):
    docs = copy.deepcopy(dev)
    del container(find(docs, "StatefulSet", "orrery-cell"))["readinessProbe"]
    assert mc.check_probes(docs) == ["StatefulSet/orrery-cell container cell: no readinessProbe"]


def test_orrery_probes_use_livez_and_readyz(overlay):
    for kind, name, port in (("StatefulSet", "orrery-cell", "metrics"),
                             ("Deployment", "orrery-control-plane", "http")):
        c = container(find(overlay, kind, name))
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["port"] == port


def test_production_control_plane_probes_speak_https(production):
    c = container(find(production, "Deployment", "orrery-control-plane"))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["scheme"] == "HTTPS"


def test_network_policies_hold_admin_peer_and_metrics_ports(production):
    assert mc.check_network_policy(production, CELL, 7234, [FROM_CONTROL_PLANE]) == []
    assert mc.check_network_policy(production, CELL, 7235, [FROM_CELLS]) == []
    assert mc.check_network_policy(production, CELL, 9090, [FROM_MONITORING]) == []
    # Tenants reach the tenant ports from anywhere, and nothing else is open.
    assert mc.allowed_sources(production, CELL, 7233) == [{}]
    assert mc.allowed_sources(production, CELL, 7243) == [{}]
    assert mc.allowed_sources(production, CELL, 22) == []
    assert mc.allowed_sources(production, CONTROL_PLANE, 8233) == [{}]
    assert mc.allowed_sources(production, CONTROL_PLANE, 7234) == []
    # The default deny covers every pod of the namespace (the migrate Job too).
    assert mc.allowed_sources(production, {"app.kubernetes.io/component": "migrate"}, 7233) == []


def test_network_policy_check_catches_an_open_admin_port(production):
    docs = copy.deepcopy(production)
    tenants = find(docs, "NetworkPolicy", "orrery-cell-tenants")
    tenants["spec"]["ingress"][0]["ports"].append({"port": 7234, "protocol": "TCP"})
    assert mc.check_network_policy(docs, CELL, 7234, [FROM_CONTROL_PLANE]) != []
    without = [d for d in production if d["kind"] != "NetworkPolicy"]
    assert mc.check_network_policy(without, CELL, 7235, [FROM_CELLS]) != []


def test_disruption_budgets_cover_cells_and_control_plane(production):
    budgets = [d for d in production if d["kind"] == "PodDisruptionBudget"]
    for labels, replicas in ((CELL, 3), (CONTROL_PLANE, 2)):
        chosen = [b for b in budgets if mc.selects(b["spec"]["selector"], labels)]
        assert len(chosen) == 1, labels
        # Leaves room for one voluntary disruption at a time.
        assert 0 < chosen[0]["spec"]["minAvailable"] < replicas


def test_services_reach_ports_their_pods_have(overlay):
    assert mc.check_service_targets(overlay) == []


def test_service_target_check_catches_a_missing_port(dev):
    docs = copy.deepcopy(dev)
    find(docs, "Service", "orrery-cell")["spec"]["ports"][0]["targetPort"] = "admin"
    assert mc.check_service_targets(docs) == ["Service/orrery-cell: targetPort 'admin' is no port of its pods"]


def test_service_monitors_scrape_the_metrics_ports(production):
    assert mc.check_service_monitors(production) == []
    docs = copy.deepcopy(production)
    find(docs, "ServiceMonitor", "orrery-cell")["spec"]["endpoints"][0]["port"] = "grpc"
    assert mc.check_service_monitors(docs) != []


def test_dev_runs_one_process_owning_every_shard(dev):
    # A single member would only need the peer listener to talk to itself,
    # and the binary refuses plaintext between members off loopback.
    cell = find(dev, "StatefulSet", "orrery-cell")
    args = [a.split("=", 1)[0] for a in container(cell)["args"]]
    assert "--member-id" not in args and "--peer-addr" not in args
    assert cell["spec"]["replicas"] == 1


def test_peer_addresses_use_the_headless_service_and_its_port(production):
    cell = find(production, "StatefulSet", "orrery-cell")
    peers = find(production, "Service", "orrery-cell-peers")
    assert cell["spec"]["serviceName"] == "orrery-cell-peers"
    assert peers["spec"]["clusterIP"] == "None"
    args = dict(a.split("=", 1) for a in container(cell)["args"] if a.startswith("--"))
    assert args["--peer-addr"] == "$(POD_NAME).orrery-cell-peers.$(POD_NAMESPACE).svc.cluster.local:7235"
    assert args["--peer-listen-addr"].endswith(":7235")
    assert args["--member-id"] == "$(POD_NAME)"
    assert peers["spec"]["ports"][0]["port"] == 7235


def test_production_members_use_mtls_from_the_peer_ca(production):
    cell = find(production, "StatefulSet", "orrery-cell")
    args = dict(a.split("=", 1) for a in container(cell)["args"] if a.startswith("--"))
    volumes = {v["name"]: v for v in cell["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(cell)["volumeMounts"]}
    for flag in ("--peer-tls-cert", "--peer-tls-key", "--peer-ca-file"):
        directory, _ = args[flag].rsplit("/", 1)
        assert volumes[mounts[directory]]["secret"]["secretName"] == "orrery-cell-peer-tls"
    peer_cert = find(production, "Certificate", "orrery-cell-peer-tls")
    assert {"server auth", "client auth"} <= set(peer_cert["spec"]["usages"])
    assert peer_cert["spec"]["issuerRef"]["name"] == "orrery-peer"


def test_every_secret_is_created_or_documented(overlay):
    readme = (mc.ROOT / "infra" / "README.md").read_text()
    missing = mc.referenced_secrets(overlay) - mc.provided_secrets(overlay)
    undocumented = [name for name in missing if f"`{name}`" not in readme]
    assert undocumented == []


def test_flags_exist_in_the_binary(overlay):
    defined = mc.defined_flags((mc.ROOT / "src" / "main.rs").read_text())
    # The parser reads the flags main.rs has today.
    assert {"--database-url", "--grpc-addr", "--cell", "--metrics-addr", "--cell-credential-file",
            "--http-api-allowed-origin", "--control-plane-public-key"} <= defined
    used = mc.container_flags(overlay, "cell") + mc.container_flags(overlay, "control-plane")
    unknown = sorted(set(used) - defined - PENDING_FLAGS)
    assert unknown == []


def test_no_service_links(overlay):
    # Service links would set ORRERY_CELL_PORT, ORRERY_CONTROL_PLANE_PORT and
    # the like: the prefix the binary reads its settings from.
    for where, pod in mc.pod_specs(overlay):
        assert pod.get("enableServiceLinks") is False, where


def test_env_settings_are_ones_the_binary_reads(overlay):
    main_rs = (mc.ROOT / "src" / "main.rs").read_text()
    known = set(re.findall(r'env = "(ORRERY_[A-Z_]+)"', main_rs)) | {"ORRERY_KEY_ENCRYPTION_KEY", "RUST_LOG"}
    for cm in (d for d in overlay if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("orrery-c")):
        assert set(cm["data"]) <= known, cm["metadata"]["name"]

"""Checks on the Kubernetes manifests `kubectl kustomize` renders from infra/k8s.

Each check returns a list of problems (empty when the manifests are right),
so infra/validate.sh can print them all and tests/infra/test_manifests.py can
show that each check also fails on a manifest that breaks its rule.

Command line (infra/validate.sh): `python manifest_checks.py schemas FILE...`
validates every object of the rendered files: core kinds strictly against
kubernetes-validate's schemas for each supported Kubernetes version, and the
custom resources listed in CRD_KINDS (whose schemas it does not ship) against
the required fields checked below. Any other kind without a schema fails.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "infra" / "k8s" / "overlays"

# The Kubernetes versions the manifests are validated against: the oldest
# and newest kubernetes-validate ships schemas for (infra/README.md).
KUBERNETES_VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")

Doc = dict[str, Any]


def render(overlay: str) -> list[Doc]:
    """`kubectl kustomize` of an overlay, parsed."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAYS / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return load(out)


def load(text: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def name_of(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# --- Schemas ---------------------------------------------------------------


def _duration_ok(value: Any) -> bool:
    """A Go duration as cert-manager parses it (`2160h`, `90m`, `1h30m`)."""
    return isinstance(value, str) and re.fullmatch(r"(\d+(\.\d+)?(h|m|s|ms))+", value) is not None


CERT_SPEC_KEYS = {
    "secretName", "issuerRef", "commonName", "dnsNames", "ipAddresses", "uris",
    "emailAddresses", "duration", "renewBefore", "isCA", "usages", "privateKey",
    "subject", "secretTemplate", "keystores", "revisionHistoryLimit",
    "additionalOutputFormats", "literalSubject", "otherNames", "nameConstraints",
    "encodeUsagesInRequest", "renewBeforePercentage",
}
CERT_USAGES = {
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign",
    "encipher only", "decipher only", "any", "server auth", "client auth",
    "code signing", "email protection", "s/mime", "ipsec end system",
    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
}
ISSUER_TYPES = {"selfSigned", "ca", "acme", "vault", "venafi"}
ENDPOINT_KEYS = {
    "port", "targetPort", "path", "scheme", "interval", "scrapeTimeout",
    "tlsConfig", "bearerTokenSecret", "authorization", "honorLabels",
    "honorTimestamps", "relabelings", "metricRelabelings", "params",
    "followRedirects", "enableHttp2", "filterRunning", "basicAuth", "oauth2",
    "proxyUrl", "trackTimestampsStaleness",
}


def check_certificate(doc: Doc, docs: list[Doc]) -> list[str]:
    spec, where = doc.get("spec") or {}, name_of(doc)
    problems = [f"{where}: unknown spec field {k!r}" for k in spec if k not in CERT_SPEC_KEYS]
    if not isinstance(spec.get("secretName"), str) or not spec.get("secretName"):
        problems.append(f"{where}: spec.secretName is required")
    ref = spec.get("issuerRef") or {}
    if not ref.get("name"):
        problems.append(f"{where}: spec.issuerRef.name is required")
    kind = ref.get("kind", "Issuer")
    if kind not in ("Issuer", "ClusterIssuer"):
        problems.append(f"{where}: spec.issuerRef.kind {kind!r} is not Issuer or ClusterIssuer")
    if kind == "Issuer" and ref.get("name") and not any(
        d.get("kind") == "Issuer" and d["metadata"]["name"] == ref["name"] for d in docs
    ):
        problems.append(f"{where}: Issuer {ref['name']!r} is not among the manifests")
    subjects = ("commonName", "dnsNames", "ipAddresses", "uris", "emailAddresses", "literalSubject")
    if not any(spec.get(k) for k in subjects):
        problems.append(f"{where}: names no subject (commonName, dnsNames, ...)")
    for key in ("duration", "renewBefore"):
        if key in spec and not _duration_ok(spec[key]):
            problems.append(f"{where}: spec.{key} {spec[key]!r} is not a duration")
    problems += [f"{where}: unknown usage {u!r}" for u in spec.get("usages", []) if u not in CERT_USAGES]
    algorithm = (spec.get("privateKey") or {}).get("algorithm", "RSA")
    if algorithm not in ("RSA", "ECDSA", "Ed25519"):
        problems.append(f"{where}: privateKey.algorithm {algorithm!r}")
    return problems


def check_issuer(doc: Doc, docs: list[Doc]) -> list[str]:
    spec, where = doc.get("spec") or {}, name_of(doc)
    kinds = [k for k in spec if k in ISSUER_TYPES]
    problems = [f"{where}: unknown spec field {k!r}" for k in spec if k not in ISSUER_TYPES]
    if len(kinds) != 1:
        problems.append(f"{where}: needs exactly one issuer type of {sorted(ISSUER_TYPES)}, has {kinds}")
    if "ca" in spec:
        secret = (spec["ca"] or {}).get("secretName")
        if not secret:
            problems.append(f"{where}: spec.ca.secretName is required")
        elif not any(
            d.get("kind") == "Certificate" and d["spec"].get("secretName") == secret and d["spec"].get("isCA")
            for d in docs
        ):
            problems.append(f"{where}: no CA Certificate writes Secret {secret!r}")
    return problems


def check_service_monitor(doc: Doc, docs: list[Doc]) -> list[str]:
    spec, where = doc.get("spec") or {}, name_of(doc)
    problems = []
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        problems.append(f"{where}: spec.selector needs matchLabels or matchExpressions")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append(f"{where}: spec.endpoints must list at least one endpoint")
        endpoints = []
    for i, endpoint in enumerate(endpoints):
        problems += [f"{where}: endpoints[{i}] unknown field {k!r}" for k in endpoint if k not in ENDPOINT_KEYS]
        if not endpoint.get("port") and not endpoint.get("targetPort"):
            problems.append(f"{where}: endpoints[{i}] needs port or targetPort")
        if endpoint.get("scheme", "http") not in ("http", "https"):
            problems.append(f"{where}: endpoints[{i}] scheme {endpoint['scheme']!r}")
    return problems


# Custom resources kubernetes-validate has no schema for, and their checks.
CRD_KINDS: dict[tuple[str, str], Callable[[Doc, list[Doc]], list[str]]] = {
    ("cert-manager.io/v1", "Certificate"): check_certificate,
    ("cert-manager.io/v1", "Issuer"): check_issuer,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): check_service_monitor,
}


def check_schemas(docs: list[Doc], versions: Iterable[str] = KUBERNETES_VERSIONS) -> list[str]:
    """Every object against its schema (strict) in every version, or its CRD check."""
    problems = []
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in CRD_KINDS:
            if not doc.get("metadata", {}).get("name"):
                problems.append(f"{name_of(doc)}: metadata.name is required")
            problems += CRD_KINDS[key](doc, docs)
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problems.append(f"{name_of(doc)} (Kubernetes {version}): {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name_of(doc)}: no schema for {key[0]} {key[1]} in Kubernetes {version}"
                                " and not one of the custom resources checked here")
    return problems


# --- Properties --------------------------------------------------------------


def pod_specs(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [
        (name_of(d), d["spec"]["template"]["spec"])
        for d in docs
        if d.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet")
    ]


def check_container_security(docs: list[Doc]) -> list[str]:
    """Every container non-root, read-only root, no privilege escalation, no capabilities."""
    problems = []
    for where, pod in pod_specs(docs):
        pod_ctx = pod.get("securityContext") or {}
        if (pod_ctx.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            ctx, at = c.get("securityContext") or {}, f"{where} container {c['name']}"
            if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
                problems.append(f"{at}: not runAsNonRoot")
            if ctx.get("runAsUser", pod_ctx.get("runAsUser")) in (0, None):
                problems.append(f"{at}: no numeric non-root runAsUser")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: root file system is writable")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: allowPrivilegeEscalation is not false")
            if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{at}: capabilities do not drop ALL")
            if (ctx.get("capabilities") or {}).get("add"):
                problems.append(f"{at}: adds capabilities")
            if ctx.get("privileged"):
                problems.append(f"{at}: privileged")
    return problems


def check_probes(docs: list[Doc]) -> list[str]:
    """Every long-running container has liveness and readiness probes."""
    problems = []
    for where, pod in pod_specs(docs):
        if where.startswith("Job/"):
            continue
        for c in pod.get("containers", []):
            for probe in ("livenessProbe", "readinessProbe"):
                if not c.get(probe):
                    problems.append(f"{where} container {c['name']}: no {probe}")
    return problems


def check_resources(docs: list[Doc]) -> list[str]:
    problems = []
    for where, pod in pod_specs(docs):
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (res.get(kind) or {}):
                        problems.append(f"{where} container {c['name']}: no {resource} {kind}")
    return problems


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels only, or a Service's plain map) on labels."""
    if "matchExpressions" in selector:
        raise ValueError("matchExpressions are not evaluated by these checks")
    match = selector.get("matchLabels", selector if "matchLabels" not in selector else {})
    return all(labels.get(k) == v for k, v in match.items())


def pod_labels(docs: list[Doc], kind: str, name: str) -> dict[str, str]:
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d["spec"]["template"]["metadata"]["labels"]
    raise KeyError(f"{kind}/{name} is not among the manifests")


def allowed_sources(docs: list[Doc], labels: dict[str, str], port: int) -> list[Doc] | None:
    """The `from` peers NetworkPolicies let reach `port` of pods with `labels`.

    None when no policy selects those pods (everything may connect); a list
    holding `{}` when some rule allows every source.
    """
    policies = [
        d for d in docs
        if d.get("kind") == "NetworkPolicy"
        and "Ingress" in d["spec"].get("policyTypes", ["Ingress"])
        and selects(d["spec"].get("podSelector") or {}, labels)
    ]
    if not policies:
        return None
    sources: list[Doc] = []
    for policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports is not None and not any(p.get("port") in (port, None) for p in ports):
                continue
            sources += rule.get("from") or [{}]
    return sources


def check_network_policy(docs: list[Doc], labels: dict[str, str], port: int,
                         expected: list[Doc]) -> list[str]:
    """Only `expected` peers (exactly) may reach `port` on pods with `labels`."""
    sources = allowed_sources(docs, labels, port)
    if sources is None:
        return [f"port {port}: no NetworkPolicy selects pods {labels}: open to everyone"]
    canonical = lambda peers: sorted(json.dumps(p, sort_keys=True) for p in peers)  # noqa: E731
    if canonical(sources) != canonical(expected):
        return [f"port {port}: reachable from {sources}, expected only {expected}"]
    return []


def referenced_secrets(docs: list[Doc]) -> set[str]:
    names = set()
    for _, pod in pod_specs(docs):
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                names.add(volume["secret"]["secretName"])
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    names.add(ref["name"])
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    names.add(source["secretRef"]["name"])
    for d in docs:
        if d.get("kind") == "ServiceMonitor":
            for endpoint in d["spec"]["endpoints"]:
                secret = ((endpoint.get("tlsConfig") or {}).get("ca") or {}).get("secret")
                if secret:
                    names.add(secret["name"])
    return names


def provided_secrets(docs: list[Doc]) -> set[str]:
    """Secrets the manifests create: generated ones and cert-manager's."""
    return {d["metadata"]["name"] for d in docs if d.get("kind") == "Secret"} | {
        d["spec"]["secretName"] for d in docs if d.get("kind") == "Certificate"
    }


def check_service_targets(docs: list[Doc]) -> list[str]:
    """Each Service selects pods, and each named targetPort is a port of theirs."""
    problems = []
    templates = [d["spec"]["template"] for d in docs if d.get("kind") in ("Deployment", "StatefulSet")]
    for svc in (d for d in docs if d.get("kind") == "Service"):
        if svc["spec"].get("type") == "ExternalName":
            continue
        pods = [t for t in templates if selects(svc["spec"].get("selector") or {}, t["metadata"]["labels"])]
        if not pods:
            problems.append(f"{name_of(svc)}: selects no pods")
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for t in pods:
                ports = [p for c in t["spec"]["containers"] for p in c.get("ports", [])]
                if not any(target in (p.get("name"), p["containerPort"]) for p in ports):
                    problems.append(f"{name_of(svc)}: targetPort {target!r} is no port of its pods")
    return problems


def check_service_monitors(docs: list[Doc]) -> list[str]:
    """Each ServiceMonitor endpoint is a named port of a Service it selects."""
    problems = []
    services = [d for d in docs if d.get("kind") == "Service"]
    for sm in (d for d in docs if d.get("kind") == "ServiceMonitor"):
        chosen = [s for s in services if selects(sm["spec"]["selector"], s["metadata"].get("labels", {}))]
        for endpoint in sm["spec"]["endpoints"]:
            if not any(endpoint.get("port") == p.get("name") for s in chosen for p in s["spec"]["ports"]):
                problems.append(f"{name_of(sm)}: no selected Service has a port {endpoint.get('port')!r}")
    return problems


def defined_flags(main_rs: str) -> set[str]:
    """Long flags `orrery` defines, read from clap's derive attributes."""
    flags = set()
    pattern = re.compile(r"#\[arg\(([^\]]*?)\)\]\s*(?:///[^\n]*\s*|#\[[^\n]*\]\s*)*(\w+)\s*:", re.S)
    for attrs, field in pattern.findall(main_rs):
        if not re.search(r"\blong\b", attrs):
            continue
        explicit = re.search(r'\blong\s*=\s*"([^"]+)"', attrs)
        flags.add("--" + (explicit.group(1) if explicit else field.replace("_", "-")))
    return flags


def container_flags(docs: list[Doc], component: str) -> list[str]:
    """The `--flags` in the args of a component's containers."""
    flags = []
    for d in docs:
        if d.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") != component:
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            flags += [a.split("=", 1)[0] for a in c.get("args", []) if a.startswith("--")]
    return flags


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "schemas":
        print("usage: manifest_checks.py schemas FILE...", file=sys.stderr)
        return 2
    failed = False
    for path in argv[1:]:
        docs = load(Path(path).read_text())
        problems = check_schemas(docs)
        for problem in problems:
            print(f"{path}: {problem}")
        failed |= bool(problems)
        kinds = sorted({d["kind"] for d in docs})
        print(f"{path}: {len(docs)} objects ({', '.join(kinds)}): "
              f"{'FAILED' if problems else 'valid'} for Kubernetes {', '.join(KUBERNETES_VERSIONS)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env bash
# Validates the deployment material without a cluster or a Docker engine:
#   1. yamllint on infra/ (config infra/.yamllint);
#   2. each overlay renders with `kubectl kustomize`, and the output passes
#      yamllint and schema validation (kubernetes-validate, strict, for each
#      supported Kubernetes version; cert-manager and Prometheus Operator
#      resources against their required fields, tests/infra/manifest_checks.py);
#   3. static checks on infra/docker/Dockerfile;
#   4. the property tests in tests/infra (pytest).
# Python tools go into the repository's .venv, as scripts/test installs its own.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v kubectl >/dev/null 2>&1; then
  echo "error: infra/validate.sh needs kubectl (its built-in kustomize renders the overlays)." >&2
  exit 1
fi

step "Python tools (.venv: kubernetes-validate, yamllint, pytest)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/infra/requirements.txt
py=.venv/bin/python

step "yamllint infra/"
"$py" -m yamllint -s -c infra/.yamllint infra/

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
for overlay in dev production; do
  step "kubectl kustomize infra/k8s/overlays/$overlay"
  kubectl kustomize "infra/k8s/overlays/$overlay" >"$rendered/$overlay.yaml"
  echo "$(grep -c '^kind:' "$rendered/$overlay.yaml") objects"
  "$py" -m yamllint -s -c infra/.yamllint "$rendered/$overlay.yaml"
  "$py" tests/infra/manifest_checks.py schemas "$rendered/$overlay.yaml"
done

step "Dockerfile (static: stages, pinned images, non-root final stage)"
"$py" tests/infra/dockerfile_checks.py infra/docker/Dockerfile
bash -n tests/infra/test_image.sh

step "Properties (tests/infra)"
"$py" -m pytest -q -p no:cacheprovider tests/infra

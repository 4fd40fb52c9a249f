#!/usr/bin/env bash
# Builds the image from infra/docker/Dockerfile and checks what it holds.
# Needs a Docker engine: where `docker info` fails (CI and the development
# machines have only the client) it says so and builds nothing.
# Usage: tests/infra/test_image.sh [TAG]   (default orrery:test)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-orrery:test}

if ! docker info >/dev/null 2>&1; then
  echo "no Docker engine here: image not built"
  exit 0
fi

DOCKER_BUILDKIT=1 docker build -f infra/docker/Dockerfile -t "$tag" .

fail() { echo "FAIL: $*" >&2; exit 1; }

user=$(docker image inspect -f '{{.Config.User}}' "$tag")
[ "$user" = "65532:65532" ] || fail "image user is '$user', expected 65532:65532"
entrypoint=$(docker image inspect -f '{{json .Config.Entrypoint}}' "$tag")
[ "$entrypoint" = '["/orrery"]' ] || fail "entrypoint is $entrypoint"
for port in 7233 7234 7235 7243 8233 9090; do
  docker image inspect -f '{{json .Config.ExposedPorts}}' "$tag" | grep -q "\"$port/tcp\"" \
    || fail "port $port is not exposed"
done

# The binary runs as the image's user with a read-only root and no
# capabilities, as the manifests run it.
run=(docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges "$tag")
"${run[@]}" --version | grep -q '^orrery ' || fail "orrery --version"
for sub in cell control-plane dev; do
  "${run[@]}" "$sub" --help >/dev/null || fail "orrery $sub --help"
done

# The binary is where the entrypoint looks for it.
container=$(docker create "$tag")
trap 'docker rm -f "$container" >/dev/null' EXIT
docker export "$container" | tar -t | grep -qx 'orrery' || fail "/orrery missing"
echo "image $tag: built; non-root, /orrery entrypoint, ports exposed, subcommands answer"

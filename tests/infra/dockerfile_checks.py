"""Static checks on infra/docker/Dockerfile (no Docker engine needed).

`python dockerfile_checks.py [PATH]` prints each problem and exits 1 if any.
tests/infra/test_dockerfile.py shows each rule failing on a Dockerfile that
breaks it.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"

# Every port a process listens on in the manifests (infra/k8s).
PORTS = {"7233", "7234", "7235", "7243", "8233", "9090"}


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """Stages and their instructions; continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    stages: list[Stage] = []
    for line in lines:
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
        elif not stages:
            if op != "ARG":
                raise ValueError(f"{op} before the first FROM")
        else:
            stages[-1].instructions.append((op, rest))
    return stages


def pinned(image: str, stage_names: set[str]) -> bool:
    """An image with an explicit tag other than `latest`, or a digest."""
    if image in stage_names or "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.split(":", 1)[1] not in ("", "latest")


def check(text: str) -> list[str]:
    try:
        stages = parse(text)
    except ValueError as e:
        return [str(e)]
    if len(stages) < 2:
        return ["not a multi-stage build"]
    problems = []
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if not pinned(stage.image, names):
            problems.append(f"FROM {stage.image}: not pinned by tag or digest")
    if not any(re.fullmatch(r"(docker\.io/(library/)?)?rust:1\.95(\.\d+)?-bookworm", s.image) for s in stages):
        problems.append("no builder FROM rust:1.95-bookworm (the workspace's rust-version)")
    if not any(re.fullmatch(r"(docker\.io/(library/)?)?node:20(\.\d+)*-bookworm(-slim)?", s.image) for s in stages):
        problems.append("no Node.js 20 stage (control-plane/build.rs builds the console with npm)")
    builds = [rest for s in stages[:-1] for op, rest in s.instructions if op == "RUN"]
    if not any(re.search(r"cargo build (.* )?--release\b", r) and "--locked" in r and "-p orrery" in r for r in builds):
        problems.append("no `cargo build --release --locked -p orrery` before the final stage")

    final = stages[-1]
    if final.image in names:
        problems.append("the final stage builds on another stage instead of a minimal base")
    elif not re.match(r"(gcr\.io/distroless/cc-debian12|debian:bookworm-slim)\b", final.image):
        problems.append(f"final image {final.image}: not distroless/cc-debian12 or debian:bookworm-slim")
    users = [rest for op, rest in final.instructions if op == "USER"]
    if not users:
        problems.append("the final stage sets no USER")
    elif users[-1].split(":")[0] in ("0", "root", ""):
        problems.append(f"the final stage runs as {users[-1]}")
    elif not users[-1].split(":")[0].isdigit():
        problems.append(f"USER {users[-1]}: not numeric (the kubelet cannot verify runAsNonRoot)")
    copies = [(op, rest) for op, rest in final.instructions if op in ("COPY", "ADD")]
    if len(copies) != 1:
        problems.append(f"the final stage copies {len(copies)} things; only the binary belongs there")
    for op, rest in copies:
        words = rest.split()
        sources, dest = [w for w in words[:-1] if not w.startswith("--")], words[-1] if words else ""
        if op == "ADD" or not any(w.startswith("--from=") for w in words):
            problems.append(f"{op} {rest}: the final stage takes only the binary from the builder")
        if len(sources) != 1 or not sources[0].endswith("/orrery") or dest != "/orrery":
            problems.append(f"{op} {rest}: not the one `orrery` binary to /orrery")
    if any(op == "RUN" for op, _ in final.instructions):
        problems.append("the final stage RUNs commands (it has no shell, and should add nothing)")
    entry = [rest for op, rest in final.instructions if op == "ENTRYPOINT"]
    try:
        entrypoint = json.loads(entry[-1]) if entry else None
    except json.JSONDecodeError:
        entrypoint = None
    if entrypoint != ["/orrery"]:
        problems.append('ENTRYPOINT is not ["/orrery"] (exec form)')
    exposed = {p.split("/")[0] for op, rest in final.instructions if op == "EXPOSE" for p in rest.split()}
    if missing := PORTS - exposed:
        problems.append(f"EXPOSE lacks {sorted(missing)}")
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DOCKERFILE
    problems = check(path.read_text())
    for problem in problems:
        print(f"{path}: {problem}")
    if not problems:
        print(f"{path}: multi-stage, pinned images, non-root final stage with only the binary")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

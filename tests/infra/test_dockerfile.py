"""infra/docker/Dockerfile meets the static rules, and each rule can fail."""
from __future__ import annotations

import pytest

import dockerfile_checks as dc

TEXT = dc.DOCKERFILE.read_text()


def test_dockerfile_passes():
    assert dc.check(TEXT) == []


def test_parse_joins_continuations_and_names_stages():
    stages = dc.parse(TEXT)
    assert [s.name for s in stages] == ["node", "builder", None]
    run = [rest for op, rest in stages[1].instructions if op == "RUN"][-1]
    assert "cargo build --release --locked -p orrery" in run and "install -D" in run


@pytest.mark.parametrize("old,new,expected", [
    ("FROM gcr.io/distroless/cc-debian12:nonroot", "FROM gcr.io/distroless/cc-debian12",
     "not pinned"),
    ("FROM rust:1.95-bookworm AS builder", "FROM rust:latest AS builder", "not pinned"),
    ("USER 65532:65532", "USER root", "runs as root"),
    ("USER 65532:65532", "USER nonroot", "not numeric"),
    ("USER 65532:65532\n", "", "sets no USER"),
    ("COPY --from=builder /out/orrery /orrery",
     "COPY --from=builder /out/orrery /orrery\nCOPY --from=builder /src/migrations /migrations",
     "copies 2 things"),
    ("COPY --from=builder /out/orrery /orrery", "COPY . /orrery", "only the binary"),
    ('ENTRYPOINT ["/orrery"]', "ENTRYPOINT /orrery", "ENTRYPOINT"),
    ("EXPOSE 7233 7234 7235 7243 8233 9090", "EXPOSE 7233 8233", "EXPOSE lacks"),
    ("cargo build --release --locked -p orrery", "cargo build --release -p orrery", "--locked"),
    ("FROM node:20.19-bookworm-slim AS node", "FROM node:18-bookworm-slim AS node", "Node.js 20"),
])
def test_each_rule_fails_when_broken(old, new, expected):
    assert old in TEXT
    problems = dc.check(TEXT.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def test_final_stage_must_not_run_commands():
    broken = TEXT.replace("USER 65532:65532", "RUN chmod 0755 /orrery\nUSER 65532:65532")
    assert any("RUNs commands" in p for p in dc.check(broken))

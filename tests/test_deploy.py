"""deploy/: the Dockerfiles, the Kubernetes manifests and the compose file pass their linters,
and the linters do catch a broken file (no container engine runs here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MANIFESTS = sorted(p for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed: run scripts/setup.sh --test")
    return path


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_the_dockerfiles_pass_hadolint_and_run_as_a_user_without_privileges(dockerfile):
    result = _run(_tool("hadolint"), str(DEPLOY / dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr
    text = (DEPLOY / dockerfile).read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and 'VOLUME ["/models", "/data"]' in text


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nRUN cd /app\n")
    assert _run(_tool("hadolint"), str(bad)).returncode != 0


def test_the_kubernetes_manifests_are_valid_and_sessions_are_sticky():
    result = _run(_tool("kubernetes-validate"), "--strict", *map(str, MANIFESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sessionAffinity: ClientIP" in (DEPLOY / "k8s" / "service.yaml").read_text()
    assert "affinity: \"cookie\"" in (DEPLOY / "k8s" / "ingress.yaml").read_text()
    listed = (DEPLOY / "k8s" / "kustomization.yaml").read_text()
    assert all(p.name in listed for p in MANIFESTS)


def test_kubernetes_validate_catches_a_broken_manifest(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text((DEPLOY / "k8s" / "statefulset.yaml").read_text()
                      .replace("replicas: 2", "replicas: two"))
    assert _run(_tool("kubernetes-validate"), "--strict", str(broken)).returncode != 0


def test_the_compose_file_follows_the_compose_spec(tmp_path):
    check = _tool("check-jsonschema")
    compose = DEPLOY / "compose.yaml"
    result = _run(check, "--builtin-schema", "vendor.compose-spec", str(compose))
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"127.0.0.1:7860:7860"' in compose.read_text()  # not open to the network
    broken = tmp_path / "compose.yaml"
    broken.write_text(compose.read_text().replace("restart: unless-stopped",
                                                  "restart: [always]"))
    assert _run(check, "--builtin-schema", "vendor.compose-spec", str(broken)).returncode != 0

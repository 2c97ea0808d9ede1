"""
Fixtures of imagectl's tests: a build context (``context``), an extra CA (``cert``) and
the docker double put in place of imagectl's docker and registry calls (``fake``).
"""

import pytest

from tests.common.fake_docker_cli import FakeDocker, imagectl


@pytest.fixture
def context(tmp_path):
    ctx = tmp_path / "hub"
    (ctx / "pkg" / "__pycache__").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM ${BASE_IMAGE}\n")
    (ctx / "pkg" / "mod.py").write_text("x = 1\n")
    (ctx / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    return ctx


@pytest.fixture
def cert(tmp_path):
    path = tmp_path / "corp.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    return path


@pytest.fixture
def fake(monkeypatch):
    docker = FakeDocker({"debian:bookworm": {"id": "sha256:" + "b" * 64}})
    monkeypatch.setattr(imagectl, "docker", docker)
    monkeypatch.setattr(imagectl, "registry_digest", docker.registry_digest)
    return docker

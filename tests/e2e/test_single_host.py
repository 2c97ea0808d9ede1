"""
The single-host variant (`script/lab up --single`): one host holding every role, deployed
by the same states from an ordinary site pillar, as a small class on one server would be.
It runs on Debian 12 (`--release bookworm`, its own host and base images): the proof that
the previous release still deploys, serves and spawns, while the rest of the suite runs on
Debian 13.

Runs after the other e2e modules: it replaces the multi-host lab (`script/lab up` brings
that back).
"""

import http.client
import subprocess

import pytest

from tests.common.hubclient import Student
from tests.common.lab import HTTP_PORT, HTTPS_PORT, LAB, Lab


@pytest.fixture(scope="module")
def single():
    subprocess.run([LAB, "up", "--single", "--release", "bookworm"], check=True, timeout=3600)
    lab = Lab(single=True)
    lab.wait_for_hub()
    return lab


def test_single_host_runs_debian_12(single):
    assert "VERSION_CODENAME=bookworm" in single.exec("hub", "cat", "/etc/os-release").stdout


def test_single_host_second_highstate_changes_nothing(single):
    result = single.salt("*", "state.apply", timeout=1800)
    assert set(result) == {"allinone"}
    states = result["allinone"]
    assert isinstance(states, dict), states
    assert {k: v["comment"] for k, v in states.items() if v["result"] is not True} == {}
    assert {k: v["changes"] for k, v in states.items() if v["changes"]} == {}


def test_single_host_serves_the_hub_over_tls_and_redirects_http(single):
    with single.https("/hub/health") as response:
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    conn = http.client.HTTPConnection("localhost", HTTP_PORT, timeout=10)
    conn.request("GET", "/hub/")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://localhost:{HTTPS_PORT}/hub/"


def test_single_host_student_server_runs_on_the_one_host(single, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(single.exec("proxy", "cat", "/etc/nginx/tls/ca.crt").stdout)
    alice = Student("alice", ca)
    alice.login()
    alice.start_server()
    try:
        node = single.exec("hub", "docker", "service", "ps", "jupyter-alice", "--format",
                           "{{.Node}}", "--filter", "desired-state=running").stdout  # fmt: skip
        assert node.split() == ["allinone"]
        alice.open_lab()
        assert alice.execute("import os; print(os.getuid() >= 10000)").strip() == "True"
    finally:
        alice.stop_server()

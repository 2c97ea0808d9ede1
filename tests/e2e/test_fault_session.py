"""
Faults while a student works, on the shared lab: nginx restarts, the salt master restarts
and a full highstate runs. The student's kernel keeps its state (one kernel, reached over a
new websocket after each fault, as JupyterLab reconnects) and no container is recreated.
"""

import time

import pytest
import websocket

from tests.common.hubclient import BASE, Kernel, working_students

NAME = "student21"
HOSTS = ("hub", "node1", "node2")


@pytest.fixture(scope="module")
def working(lab, ca_file):
    """student21 logged in, its server up, a kernel holding x = 41."""
    with working_students([NAME], ca_file) as people:
        kernel = Kernel(people[NAME])
        assert kernel.run("x = 41; print('set')").strip() == "set"
        yield people[NAME], kernel
        lab.wait_for_hub()
        kernel.shutdown()


def containers(lab):
    """``{host: {container id: name}}`` of every running container on the hub and nodes."""
    found = {}
    for host in HOSTS:
        out = lab.exec(host, "docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}").stdout
        found[host] = dict(line.split(" ", 1) for line in out.splitlines())
    return found


def test_nginx_restart_mid_session_the_kernel_reconnects_and_keeps_its_state(lab, working):
    student, kernel = working
    ws = student.websocket(f"/api/kernels/{kernel.id}/channels")
    ws.settimeout(60)
    lab.exec("proxy", "systemctl", "restart", "nginx")
    # The open websocket went down with the old nginx.
    with pytest.raises((websocket.WebSocketException, OSError)):
        while True:
            ws.recv()
    lab.wait_for_hub()
    assert kernel.run("print(x + 1)").strip() == "42"
    # Once nginx is back, nothing answers 5xx: hub, the server's API and its lab page.
    for request in (
        lambda: student.hub_api("GET", f"/users/{NAME}"),
        lambda: student.server_api("GET", "/status"),
        lambda: student.http.get(f"{BASE}/user/{NAME}/lab", timeout=60),
    ):
        response = request()
        assert response.status_code == 200, (response.status_code, response.text[:300])


def test_salt_master_restart_and_a_highstate_while_students_work(lab, working):
    """Their servers keep running, their kernels keep their state, no container is recreated."""
    student, kernel = working
    before = containers(lab)
    assert any(f"jupyter-{NAME}" in name for c in before.values() for name in c.values())
    lab.exec("hub", "systemctl", "restart", "salt-master")
    lab.wait_for_minions(["proxy", "hub", "node1", "node2"])
    started = time.monotonic()
    result = lab.salt("*", "state.apply")
    print(f"highstate of the lab took {time.monotonic() - started:.1f}s")
    for host, states in result.items():
        assert isinstance(states, dict), (host, states)
        failed = {k: v["comment"] for k, v in states.items() if not v["result"]}
        changed = {k: v["changes"] for k, v in states.items() if v["changes"]}
        assert not failed, (host, failed)
        assert not changed, (host, changed)
    assert containers(lab) == before
    assert kernel.run("print(x + 1)").strip() == "42"

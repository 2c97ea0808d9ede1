"""
Culling through the real path: the hub minion's jupyterhub_idle beacon fires, the master's
reactor runs `jupyterhub.cull` on the hub, which stops the idle server through the hub's
API, while a student who keeps working keeps theirs.

The lab's site pillar is edited for the test (an interval of seconds and a timeout of
minutes instead of 1 h and 24 h) and put back afterwards.
"""

import json
import time

import pytest

from tests.common.hubclient import working_students

IDLE, ACTIVE = "student05", "student06"
TIMEOUT = 150
INTERVAL = 20


@pytest.fixture(scope="module")
def pair(lab, ca_file):
    with working_students((IDLE, ACTIVE), ca_file) as people:
        yield people


def running(lab):
    return set(lab.salt("hub", "jupyterhub.running_servers")["hub"])


def test_test_mode_lists_servers_without_stopping_them(lab, pair):
    # Every server counts as idle with a timeout of 0 s; test=True must stop none. (The
    # validator wants a timeout of at least twice hub:activity_interval: 0 s for both.)
    zero = 'pillar={"cull": {"timeout": 0}, "hub": {"activity_interval": 0}}'
    result = lab.salt("hub", "state.apply", "cull", "test=True", zero)["hub"]
    (state,) = result.values()
    assert state["result"] is None
    assert {IDLE, ACTIVE} <= set(state["changes"])
    assert {IDLE, ACTIVE} <= running(lab)


def test_beacon_reactor_and_state_cull_the_idle_server_only(lab, pair):
    beacons = lab.salt("hub", "beacons.list", "return_yaml=False")["hub"]
    assert beacons["jupyterhub_idle"][0] == {"interval": 3600}
    with lab.site_changes({"cull": {"interval": f"{INTERVAL}s", "timeout": f"{TIMEOUT}s"}}):
        beacons = lab.salt("hub", "beacons.list", "return_yaml=False")["hub"]
        assert beacons["jupyterhub_idle"][0] == {"interval": INTERVAL}
        deadline = time.monotonic() + TIMEOUT + 4 * INTERVAL + 120
        while IDLE in running(lab):
            assert time.monotonic() < deadline, f"{IDLE} was not culled"
            # The other student keeps working: kernel traffic through the proxy.
            assert pair[ACTIVE].execute("print(6 * 7)").strip() == "42"
            time.sleep(10)
        still = running(lab)
    assert ACTIVE in still
    record = lab.salt("hub", "jupyterhub.last_cull")["hub"]
    assert IDLE in record["culled"] and ACTIVE not in record["culled"]
    assert record["results"][IDLE] == "stopped"
    # The reactor ran it (jupyterhub.cull coalesced, as reactor/cull.sls calls it) and the
    # master's job cache has it.
    jobs = json.loads(lab.exec("hub", "salt-run", "--out=json", "jobs.list_jobs",
                               "search_function=jupyterhub.cull").stdout)  # fmt: skip
    reactor_runs = [job for job in jobs.values()
                    if {"coalesce": 10, "__kwarg__": True} in job["Arguments"]]  # fmt: skip
    assert reactor_runs, jobs
    # Its swarm service is gone; the student can start again.
    services = lab.exec("hub", "docker", "service", "ls", "--format", "{{.Name}}").stdout
    assert f"jupyter-{IDLE}" not in services.split()

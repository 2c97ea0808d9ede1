"""The server's swarm service: swarm never restarts it, and poll knows a dead node's task.

Docker is the recording fake of tests/common/fake_docker.py, with the tasks and nodes given
here; the spawner comes from the unit tier's ``make_spawner`` fixture.
"""

import asyncio
import logging

import pytest
from docker.errors import APIError
from jupyterhub_deploy.service import live_task

from tests.common.fake_docker import FakeDocker, Response, service_spec
from tests.common.hub_objects import LOG, start

READY = {"ID": "n0de1d", "Status": {"State": "ready"}, "Description": {"Hostname": "node1"}}
DOWN = {"ID": "n0de2d", "Status": {"State": "down"}, "Description": {"Hostname": "node2"}}


def task(node, state="running", desired="running"):
    return {"NodeID": node["ID"], "Status": {"State": state}, "DesiredState": desired}


class ClusterDocker(FakeDocker):
    """A service whose tasks and the swarm's nodes are set by the test."""

    def __init__(self, tasks, nodes):
        super().__init__()
        self.service = {"ID": "svc0123456789"}
        self.task_list, self.node_list = tasks, nodes

    async def __call__(self, method, *args, **kwargs):
        if method == "tasks":
            self.calls.append((method, args, kwargs))
            return self.task_list
        if method == "nodes":
            self.calls.append((method, args, kwargs))
            return self.node_list
        return await super().__call__(method, *args, **kwargs)


@pytest.fixture
def poll(make_spawner):
    """``poll(tasks, nodes)``: what a spawner's poll says of a service with these tasks."""

    def run(tasks, nodes):
        return asyncio.run(make_spawner(docker=ClusterDocker(tasks, nodes)).poll())

    return run


def test_a_task_running_on_a_ready_node_is_alive(poll):
    assert poll([task(READY)], [READY, DOWN]) is None


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_task_on_a_node_that_died_is_not_and_the_log_names_the_node(poll):
    """Swarm still says "running" for it: the node's last report before it went away."""
    recorder = Recorder()
    LOG.addHandler(recorder)
    try:
        assert poll([task(DOWN)], [READY, DOWN]) == 1
    finally:
        LOG.removeHandler(recorder)
    assert "jupyter-alice: its node node2 is down: the server counts as stopped" in recorder.lines


def test_a_task_swarm_is_shutting_down_or_that_exited_is_not(poll):
    assert poll([task(READY, desired="shutdown")], [READY]) == 1
    assert poll([task(READY, state="failed", desired="shutdown")], [READY]) == 1
    assert poll([task(READY, state="complete")], [READY]) == 1


def test_no_service_means_stopped(make_spawner):
    docker = ClusterDocker([], [READY])
    docker.service = None
    assert asyncio.run(make_spawner(docker=docker).poll()) == 0


def test_a_node_swarm_removed_counts_as_down():
    assert live_task([task(DOWN)], [READY]) is None


def test_swarm_never_restarts_a_server_itself(make_spawner):
    """A restarted task would get a new address, and the hub's route would be stale."""
    spawner = make_spawner()
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    start(spawner)
    template = service_spec(spawner)["task_template"]
    assert template["RestartPolicy"]["Condition"] == "none"


def test_a_node_a_new_manager_has_not_heard_from_yet_is_alive(poll):
    """After the hub host reboots, swarm calls every node "unknown" until it reports."""
    unknown = {"ID": "n0de1d", "Status": {"State": "unknown"}}
    assert poll([task(unknown)], [unknown]) is None


def test_poll_waits_for_a_manager_without_a_leader(make_spawner, monkeypatch):
    """A poll that failed at the hub's start would stop the server."""

    class Leaderless(ClusterDocker):
        refusals = 2

        async def __call__(self, method, *args, **kwargs):
            if method == "nodes" and self.refusals:
                self.refusals -= 1
                raise APIError("The swarm does not have a leader", response=Response(503))
            return await super().__call__(method, *args, **kwargs)

    async def no_sleep(seconds):
        return None

    monkeypatch.setattr("jupyterhub_deploy.service.asyncio.sleep", no_sleep)
    docker = Leaderless([task(READY)], [READY])
    assert asyncio.run(make_spawner(docker=docker).poll()) is None
    assert docker.refusals == 0


def test_other_docker_errors_are_not_waited_for(make_spawner):
    class Broken(ClusterDocker):
        async def __call__(self, method, *args, **kwargs):
            if method == "nodes":
                raise APIError("boom", response=Response(500))
            return await super().__call__(method, *args, **kwargs)

    with pytest.raises(APIError):
        asyncio.run(make_spawner(docker=Broken([task(READY)], [READY])).poll())

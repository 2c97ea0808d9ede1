"""_modules/swarm.py on a manager: nodes by minion id, drain and undrain, tasks by node.

Docker is a small fake of the SDK's nodes (the parts set_availability uses); the real
engine is exercised by the lab's fault tests (tests/e2e/test_fault_nodes.py).
"""

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load

HOSTS = {"hub.example.edu": "10.0.0.10", "node1.example.edu": "10.0.0.11"}
swarm = load("_modules/swarm.py", {"__pillar__": {"hosts": HOSTS}})


def attrs(hostname, addr, availability="active"):
    return {
        "ID": f"id-{hostname}",
        "Description": {"Hostname": hostname},
        "Status": {"State": "ready", "Addr": addr},
        "Spec": {"Role": "worker", "Availability": availability, "Labels": {}},
    }


class FakeNode:
    def __init__(self, attrs):
        self.attrs = attrs
        self.updates = []

    def update(self, spec):
        self.updates.append(spec)
        self.attrs["Spec"] = spec

    def reload(self):
        pass


class FakeClient:
    def __init__(self, *nodes):
        self.node_list = [FakeNode(a) for a in nodes]
        self.nodes = self

    def list(self):
        return self.node_list


def test_a_node_is_named_by_the_minion_whose_address_it_has():
    """Hostnames are often short where minion ids are FQDNs: the address decides."""
    assert swarm._minion_of(attrs("node1", "10.0.0.11")) == "node1.example.edu"
    assert swarm._minion_of(attrs("stray", "10.9.9.9")) == "stray"


def test_drain_pauses_the_node_and_keeps_the_rest_of_its_spec(monkeypatch):
    client = FakeClient(attrs("node1", "10.0.0.11"), attrs("hub", "10.0.0.10"))
    monkeypatch.setattr(swarm, "_client", lambda: client)
    result = swarm.set_availability("node1.example.edu", "pause")
    (update,) = client.node_list[0].updates
    assert update == {"Role": "worker", "Availability": "pause", "Labels": {}}
    assert result["minion"] == "node1.example.edu" and result["availability"] == "pause"
    assert not client.node_list[1].updates


def test_an_unknown_node_or_availability_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(swarm, "_client", lambda: FakeClient(attrs("node1", "10.0.0.11")))
    with pytest.raises(CommandExecutionError, match="'node7' is not a node of this swarm"):
        swarm.set_availability("node7", "pause")
    with pytest.raises(CommandExecutionError, match="availability 'off' is not one of"):
        swarm.set_availability("node1", "off")


# --- on a node: the students' containers -------------------------------------------------


@pytest.mark.parametrize(
    "reference, image",
    [
        (
            "10.0.0.10:5000/jupyterhub-deploy/singleuser:week5@sha256:" + "a" * 64,
            "jupyterhub-deploy/singleuser:week5",
        ),
        (
            "10.0.0.10:5000/jupyterhub-deploy/singleuser:current",
            "jupyterhub-deploy/singleuser:current",
        ),
        ("registry.example.edu/jupyterhub-deploy/singleuser:w5", "jupyterhub-deploy/singleuser:w5"),
        ("localhost/x/singleuser:w5", "x/singleuser:w5"),
        ("jupyterhub-deploy/singleuser:week5", "jupyterhub-deploy/singleuser:week5"),
        ("debian:bookworm", "debian:bookworm"),
        (
            "10.0.0.10:5000/jupyterhub-deploy/singleuser@sha256:" + "a" * 64,
            "jupyterhub-deploy/singleuser",
        ),
        (None, ""),
    ],
)
def test_the_image_of_a_container_drops_the_registry_and_the_digest(reference, image):
    assert swarm.image_of(reference) == image


class FakeContainer:
    def __init__(self, service, image, status="running"):
        self.name = f"{service}.1.abc"
        self.status = status
        self.labels = {swarm.SERVICE_LABEL: service}
        self.attrs = {"Config": {"Image": image}}

    def stats(self, stream):
        return {"memory_stats": {"usage": 300 * 2**20, "limit": 2**30, "stats": {}}}


class FakeContainers:
    def __init__(self, *containers):
        self.containers = self
        self.found = list(containers)

    def list(self, filters):
        assert filters == {"label": swarm.SERVICE_LABEL}
        return self.found


def test_student_containers_name_their_image(monkeypatch):
    week5 = "10.0.0.10:5000/jupyterhub-deploy/singleuser:week5@sha256:" + "a" * 64
    client = FakeContainers(
        FakeContainer("jupyter-bob", week5),
        FakeContainer("jupyter-alice", week5.replace("week5", "week4")),
        FakeContainer("registry-thing", "registry:2"),
    )
    monkeypatch.setattr(swarm, "_client", lambda: client)
    found = swarm.student_containers()
    assert [(c["service"], c["image"]) for c in found] == [
        ("jupyter-alice", "jupyterhub-deploy/singleuser:week4"),
        ("jupyter-bob", "jupyterhub-deploy/singleuser:week5"),
    ]
    assert found[0] == {
        "service": "jupyter-alice",
        "container": "jupyter-alice.1.abc",
        "status": "running",
        "memory_bytes": 300 * 2**20,
        "memory_limit_bytes": 2**30,
        "image": "jupyterhub-deploy/singleuser:week4",
    }


class StoppedContainer(FakeContainer):
    def __init__(self, service, finished):
        super().__init__(service, "x", status="exited")
        self.attrs["State"] = {"FinishedAt": finished}


class AllContainers(FakeContainers):
    def list(self, all, filters):
        assert all and filters == {"label": swarm.SERVICE_LABEL, "status": "exited"}
        return self.found


def test_dead_servers_are_those_stopped_before_the_engine_started(monkeypatch):
    """2026-12-07T14:38:28Z is 1796654308 s; the engine started at 1796656854."""
    client = AllContainers(
        StoppedContainer("jupyter-bob", "2026-12-07T14:38:28.429900027Z"),
        StoppedContainer("jupyter-carol", "2026-12-07T15:30:00.000000001Z"),
        StoppedContainer("registry-thing", "2026-12-07T14:00:00Z"),
        StoppedContainer("jupyter-dave", "0001-01-01T00:00:00Z"),
    )
    monkeypatch.setattr(swarm, "_client", lambda: client)
    monkeypatch.setattr(
        swarm,
        "__salt__",
        {"cmd.run_stdout": lambda argv, python_shell, ignore_retcode: "@1796656854\n"},
        raising=False,
    )
    # dave never ran (FinishedAt is docker's zero time): also older than the engine.
    assert swarm.dead_servers() == ["jupyter-bob.1.abc", "jupyter-dave.1.abc"]


def test_an_engine_that_never_started_has_no_dead_servers(monkeypatch):
    """A new host in a test=True highstate: docker is not even installed yet."""

    def no_engine():
        raise AssertionError("docker asked without an engine")

    monkeypatch.setattr(swarm, "_client", no_engine)
    monkeypatch.setattr(
        swarm,
        "__salt__",
        {"cmd.run_stdout": lambda argv, python_shell, ignore_retcode: ""},
        raising=False,
    )
    assert swarm.dead_servers() == []

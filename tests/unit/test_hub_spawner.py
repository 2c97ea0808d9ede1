"""SwarmSystemUserSpawner: the swarm service it asks Docker for, and when it refuses.

The spawner is built with a fake user and hub (as dockerspawner's own tests do with
JupyterHub's objects) by the unit tier's ``make_spawner`` fixture; Docker is replaced by a
recorder of API calls (tests/common/fake_docker.py), restuser by the fake of
tests/common/fake_restuser.py.
"""

import asyncio

import pytest
from jupyterhub_deploy.spawner import SpawnRefused, SwarmSystemUserSpawner

from tests.common.fake_docker import FakeDocker, service_spec
from tests.common.fake_restuser import FakeRestuser
from tests.common.hub_objects import IMAGE, start


def test_the_service_it_creates(make_spawner):
    spawner = make_spawner(cpu_limit=1.5)
    spawner.load_state({"user_id": 10001, "group_id": 10002})
    assert start(spawner) == ("jupyter-alice", 8888)

    spec = service_spec(spawner)
    assert spec["name"] == "jupyter-alice"
    task = spec["task_template"]
    container = task["ContainerSpec"]
    assert container["Image"] == IMAGE
    assert container["User"] == "10001:10002"
    assert container["Dir"] == "/home/alice"
    assert container["Args"] == ["jupyterhub-singleuser"]
    mounts = {m["Target"]: m for m in container["Mounts"]}
    assert mounts["/home/alice"]["Source"] == "/home/alice"
    assert mounts["/home/alice"]["Type"] == "bind"
    assert mounts["/home/alice"]["ReadOnly"] is False
    assert mounts["/srv/nbgrader/exchange"]["Source"] == "/srv/nbgrader/exchange"
    env = dict(line.split("=", 1) for line in container["Env"])
    assert env["HOME"] == "/home/alice"
    assert env["USER"] == env["NB_USER"] == "alice"
    assert (env["NB_UID"], env["NB_GID"]) == ("10001", "10002")
    assert env["JUPYTERHUB_API_TOKEN"] == "secret-token"
    assert env["JUPYTERHUB_API_URL"] == "http://jupyterhub:8081/hub/api"
    assert env["JUPYTER_IMAGE_SPEC"] == IMAGE
    assert task["Resources"]["Limits"] == {
        "MemoryBytes": 1024**3,
        "NanoCPUs": 1_500_000_000,
        "Pids": 512,
    }
    assert container["CapabilityDrop"] == ["ALL"]
    assert task["Placement"]["Constraints"] == ["node.role==worker"]
    assert task["Networks"] == [{"Target": "jupyterhub"}]
    assert spec["endpoint_spec"]["Mode"] == "dnsrr"
    assert not spec["endpoint_spec"].get("Ports")


def test_single_host_may_run_on_the_manager(make_spawner):
    spawner = make_spawner(single_host=True)
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    start(spawner)
    assert not service_spec(spawner)["task_template"].get("Placement", {}).get("Constraints")


def test_extra_constraints_are_kept(make_spawner):
    spawner = make_spawner(extra_placement_spec={"constraints": ["node.labels.big==yes"]})
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    start(spawner)
    placement = service_spec(spawner)["task_template"]["Placement"]
    assert placement["Constraints"] == ["node.labels.big==yes", "node.role==worker"]


def test_state_keeps_the_uid_across_stops(make_spawner):
    spawner = make_spawner()
    spawner.load_state({"user_id": 10001, "group_id": 10001, "object_id": "x"})
    assert spawner.get_state()["user_id"] == 10001
    # What DockerSpawner.stop does once the service is gone.
    spawner.object_id = ""
    spawner.clear_state()
    assert spawner.get_state() == {"user_id": 10001, "group_id": 10001}


def test_uid_from_restuser_when_state_has_none(make_spawner, tmp_path):
    sock = tmp_path / "restuser.sock"
    account = {"name": "alice", "uid": 10042, "gid": 10042, "home": "/home/alice"}

    async def go():
        async with FakeRestuser(sock, {"alice": account}) as fake:
            spawner = make_spawner(restuser_socket=str(sock))
            await spawner.start()
            return spawner, fake

    spawner, fake = asyncio.run(go())
    assert fake.requests == [("GET", "/users/alice")]
    assert service_spec(spawner)["task_template"]["ContainerSpec"]["User"] == "10042:10042"
    assert spawner.get_state()["user_id"] == 10042


def test_no_account_refuses_clearly(make_spawner, tmp_path):
    sock = tmp_path / "restuser.sock"

    async def go():
        async with FakeRestuser(sock):
            spawner = make_spawner(restuser_socket=str(sock))
            try:
                await spawner.start()
            finally:
                assert spawner.docker.created == []

    with pytest.raises(SpawnRefused, match="no system account for 'alice'"):
        asyncio.run(go())


def test_restuser_down_refuses_clearly(make_spawner, tmp_path):
    spawner = make_spawner(restuser_socket=str(tmp_path / "missing.sock"))
    with pytest.raises(SpawnRefused, match="restuser.*not answering"):
        start(spawner)
    assert spawner.docker.created == []


@pytest.mark.parametrize("uid", [0, 999, 2001, 9999, 60000])
def test_uids_outside_the_student_range_are_refused(make_spawner, uid):
    spawner = make_spawner()
    spawner.load_state({"user_id": uid, "group_id": uid})
    with pytest.raises(SpawnRefused):
        start(spawner)
    assert spawner.docker.created == []


def test_staff_run_as_their_fixed_uid(make_spawner):
    spawner = make_spawner("ada", fixed_accounts={"ada": {"uid": 2001, "gid": 2001}})
    # Whatever the state says, a staff account's uid comes from the pillar.
    spawner.load_state({"user_id": 10005, "group_id": 10005})
    start(spawner)
    container = service_spec(spawner)["task_template"]["ContainerSpec"]
    assert container["User"] == "2001:2001"
    assert container["Dir"] == "/home/ada"


def test_unsafe_names_are_refused(make_spawner):
    spawner = make_spawner("john.smith")
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    with pytest.raises(SpawnRefused, match="cannot be a system account"):
        start(spawner)


def test_a_leftover_service_is_replaced(make_spawner):
    docker = FakeDocker()
    docker.service = {"ID": "old0123456789"}
    spawner = make_spawner(docker=docker)
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    start(spawner)
    methods = [method for method, _, _ in docker.calls]
    assert methods.index("remove_service") < methods.index("create_service")


def test_a_failed_task_fails_the_spawn(make_spawner):
    spawner = make_spawner(docker=FakeDocker(state="failed"))
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    with pytest.raises(SpawnRefused, match="could not start on node1: failed"):
        start(spawner)


def test_a_rejected_task_fails_at_once_naming_node_image_and_reason(make_spawner):
    """SwarmSpawner would wait for start_timeout while swarm replaced the task."""
    docker = FakeDocker(state="rejected", err=f"No such image: {IMAGE}")
    spawner = make_spawner(docker=docker)
    spawner.load_state({"user_id": 10001, "group_id": 10001})
    with pytest.raises(SpawnRefused) as info:
        start(spawner)
    assert "on node1: No such image" in str(info.value) and IMAGE in str(info.value)
    assert docker.service is None  # removed: swarm must not keep retrying the task
    # No polling: the first look at the tasks decides (one more is SwarmSpawner's own).
    assert [m for m, _, _ in docker.calls].count("tasks") <= 2


def test_server_address_is_the_running_tasks_own_ip(make_spawner):
    import asyncio

    spawner = make_spawner()
    spawner.network_name = "jupyterhub"
    task = {
        "NetworksAttachments": [
            {"Network": {"Spec": {"Name": "ingress"}}, "Addresses": ["10.0.0.7/24"]},
            {"Network": {"Spec": {"Name": "jupyterhub"}}, "Addresses": ["10.0.1.31/24"]},
        ]
    }

    async def get_task():
        return task

    spawner.get_task = get_task
    assert asyncio.run(spawner.get_ip_and_port()) == ("10.0.1.31", spawner.port)


def test_servers_start_in_turn_and_the_queued_one_is_told(make_spawner):
    """concurrent_starts=1: the second start waits until the first server's port answers."""
    events = []

    async def go():
        gate = asyncio.Event()
        first = make_spawner("alice", concurrent_starts=1)
        second = make_spawner("bob", concurrent_starts=1)
        for spawner in (first, second):
            spawner.load_state({"user_id": 10001, "group_id": 10001})

        async def first_listening(ip, port):
            events.append("alice listening?")
            await gate.wait()

        first.wait_until_listening = first_listening
        one = asyncio.ensure_future(first.start())
        while "alice listening?" not in events:
            await asyncio.sleep(0.01)
        two = asyncio.ensure_future(second.start())
        await asyncio.sleep(0.05)
        assert second.docker.created == []  # still waiting for its turn
        gate.set()
        await asyncio.gather(one, two)
        return [e["message"] for e in second._progress_events]

    messages = asyncio.run(go())
    assert messages[0] == "Waiting for a turn to start (0 waiting before you)"
    assert "Starting Jupyter" in messages


def test_auto_limit_is_the_workers_cores_and_falls_back_to_two(make_spawner):
    class NodesDocker(FakeDocker):
        def __init__(self, nodes):
            super().__init__()
            self.nodes = nodes

        async def __call__(self, method, *args, **kwargs):
            if method == "nodes":
                if isinstance(self.nodes, Exception):
                    raise self.nodes
                return self.nodes
            return await super().__call__(method, *args, **kwargs)

    worker = {"Spec": {"Role": "worker", "Availability": "active"}, "Status": {"State": "ready"},
              "Description": {"Resources": {"NanoCPUs": 6_000_000_000}}}  # fmt: skip
    SwarmSystemUserSpawner._cores.update(value=None, at=0.0)
    spawner = make_spawner(docker=NodesDocker([worker, worker]))
    assert asyncio.run(spawner.start_limit()) == 12
    SwarmSystemUserSpawner._cores.update(value=None, at=0.0)
    spawner = make_spawner(docker=NodesDocker(RuntimeError("manager down")))
    assert asyncio.run(spawner.start_limit()) == 2
    assert asyncio.run(make_spawner(concurrent_starts=5).start_limit()) == 5
    SwarmSystemUserSpawner._cores.update(value=None, at=0.0)

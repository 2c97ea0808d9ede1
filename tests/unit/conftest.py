"""Fixtures of the unit tier: a spawner built against the doubles of tests/common."""

import pytest

from tests.common.hub_objects import IMAGE, LOG, FakeUser


async def _listening(ip, port):
    return None


@pytest.fixture
def make_spawner():
    """
    ``make_spawner(name="alice", docker=None, **config)``: a SwarmSystemUserSpawner for a
    fake user, Docker a FakeDocker unless ``docker`` is given, ``config`` over the settings
    a hub gives it. The test file makes the hub's packages importable (and skips without
    dockerspawner), so they are imported here, not at the top.
    """
    from jupyterhub.objects import Hub
    from jupyterhub_deploy.spawner import SwarmSystemUserSpawner

    from tests.common.fake_docker import FakeDocker  # docker: a dependency of dockerspawner

    def make(name="alice", docker=None, **config):
        user = FakeUser(name)
        hub = Hub(ip="0.0.0.0", port=8081, base_url="/hub/", connect_ip="jupyterhub")
        settings = dict(
            image=IMAGE,
            network_name="jupyterhub",
            mem_limit="1G",
            uid_min=10000,
            uid_max=59999,
            api_token="secret-token",
            oauth_client_id=f"jupyterhub-user-{name}",
            volumes={"/srv/nbgrader/exchange": {"bind": "/srv/nbgrader/exchange", "mode": "rw"}},
        )
        settings.update(config)
        spawner = SwarmSystemUserSpawner(user=user, hub=hub, log=LOG, **settings)
        spawner.docker = docker or FakeDocker()
        spawner.wait_until_listening = _listening  # no server answers in unit tests
        return spawner

    return make

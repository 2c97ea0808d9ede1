"""The overlay network state: created on its subnet, made again (only) when nothing but
the hub's container uses it on other addresses."""

from tests.common.loaders import load

SUBNET, RANGE = "10.213.0.0/16", "10.213.128.0/17"


class FakeDocker:
    """The swarm module's network calls, over one network and what uses it."""

    def __init__(self, current, services=(), containers=("jupyterhub",)):
        self.current = current
        self.users = {"services": list(services), "containers": list(containers)}
        self.calls = []

    def salt(self):
        return {
            "swarm_network.get": lambda name: self.current,
            "swarm_network.users": lambda name: self.users,
            "swarm_network.remove": lambda name, disconnect: self.calls.append(
                ("remove", list(disconnect))
            ),
            "swarm_network.create": lambda name, subnet, ip_range: self.calls.append(
                ("create", subnet, ip_range)
            ),
        }


def network(fake, test=False):
    module = load("_states/swarm.py", {"__salt__": fake.salt(), "__opts__": {"test": test}})
    return module.network("jupyterhub", SUBNET, RANGE)


def overlay(subnet, ip_range=None, count=1):
    return {"driver": "overlay", "scope": "swarm", "attachable": True, "subnet": subnet,
            "ip_range": ip_range, "count": count}  # fmt: skip


def test_a_missing_network_is_created_on_its_subnet():
    fake = FakeDocker(None)
    assert network(fake)["changes"]
    assert fake.calls == [("create", SUBNET, RANGE)]


def test_the_network_on_its_subnet_changes_nothing():
    fake = FakeDocker(overlay(SUBNET, RANGE))
    ret = network(fake)
    assert ret["result"] is True and ret["changes"] == {} and fake.calls == []


def test_a_network_on_docker_s_default_pool_used_only_by_the_hub_is_made_again():
    fake = FakeDocker(overlay("10.0.1.0/24"))
    ret = network(fake)
    assert ret["result"] is True and "was 10.0.1.0/24" in ret["changes"]["network"]
    assert fake.calls == [("remove", ["jupyterhub"]), ("create", SUBNET, RANGE)]


def test_two_networks_of_one_name_are_made_one_again():
    """Swarm lists a removed network a little longer, and allows a second of the same name:
    seen in the lab as "network jupyterhub is ambiguous"."""
    fake = FakeDocker(overlay(SUBNET, RANGE, count=2), containers=())
    ret = network(fake)
    assert "was 2 networks" in ret["changes"]["network"]
    assert fake.calls == [("remove", []), ("create", SUBNET, RANGE)]


def test_while_servers_use_it_the_network_is_left_and_they_are_named():
    fake = FakeDocker(overlay("10.0.1.0/24"), services=["jupyter-alice"])
    ret = network(fake)
    assert ret["result"] is False and fake.calls == []
    assert "jupyter-alice" in ret["comment"] and "Stop the students' servers" in ret["comment"]


def test_test_mode_only_says_it_would_make_it_again():
    fake = FakeDocker(overlay("10.0.1.0/24"))
    ret = network(fake, test=True)
    assert ret["result"] is None and fake.calls == []

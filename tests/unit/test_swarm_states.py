"""The swarm worker state: join, stay, and rejoin when the manager forgot this node."""

import pytest

from tests.common.loaders import load

TOKEN = {"hub": {"token": "SWMTKN-1-x", "managers": ["10.0.0.10:2377"]}}


class FakeSwarm:
    def __init__(self, states):
        self.states = list(states)  # what swarm.status says, call after call
        self.calls = []

    def status(self):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"state": state, "manager": False, "node_id": "n1", "managers": []}

    def salt(self):
        return {
            "swarm.status": self.status,
            "mine.get": lambda target, fun: TOKEN,
            "swarm.join": lambda *a: self.calls.append(("join", a)),
            "swarm.leave": lambda force=False: self.calls.append(("leave", force)),
        }


def worker(fake, test=False):
    opts = {"id": "node1", "test": test}
    module = load("_states/swarm.py", {"__salt__": fake.salt(), "__opts__": opts})
    module._settled.__defaults__ = (0.2, 0.05)  # wait=0.2 s, interval 0.05 s
    return module.worker("swarm", "hub", "10.0.0.11")


def test_an_inactive_node_joins():
    fake = FakeSwarm(["inactive"])
    ret = worker(fake)
    assert ret["result"] is True and ret["changes"]
    assert [c[0] for c in fake.calls] == ["join"]


def test_an_active_node_changes_nothing():
    fake = FakeSwarm(["active"])
    assert worker(fake)["changes"] == {} and fake.calls == []


def test_a_reconnecting_node_is_left_alone():
    """Pending for a moment (the manager restarting), then active: no leave."""
    fake = FakeSwarm(["pending", "pending", "active"])
    ret = worker(fake)
    assert ret["changes"] == {} and fake.calls == []


@pytest.mark.parametrize("state", ["pending", "error"])
def test_a_node_the_manager_forgot_leaves_and_joins_again(state):
    fake = FakeSwarm([state])
    ret = worker(fake)
    assert [c[0] for c in fake.calls] == ["leave", "join"]
    assert fake.calls[0] == ("leave", True)
    assert "the manager had forgotten this node" in ret["changes"]["swarm"]


def test_test_mode_says_it_would_rejoin_and_does_nothing():
    fake = FakeSwarm(["pending"])
    ret = worker(fake, test=True)
    assert ret["result"] is None and "leave the stale swarm" in ret["comment"]
    assert fake.calls == []


@pytest.mark.parametrize("test", [False, True])
def test_dead_servers_are_removed_and_a_second_run_changes_nothing(test):
    dead = ["jupyter-bob.1.abc"]
    removed = []
    salt = {
        "swarm.status": lambda: {"state": "active"},
        "swarm.dead_servers": lambda prefix: list(dead),
        "swarm.remove_containers": lambda names: (removed.extend(names), dead.clear()),
    }
    module = load("_states/swarm.py", {"__salt__": salt, "__opts__": {"test": test}})
    ret = module.dead_servers_absent("dead")
    if test:
        assert ret["result"] is None and "jupyter-bob.1.abc" in ret["comment"] and not removed
        return
    assert ret["result"] is True and ret["changes"] == {"removed": ["jupyter-bob.1.abc"]}
    assert removed == ["jupyter-bob.1.abc"]
    again = module.dead_servers_absent("dead")
    assert again["result"] is True and again["changes"] == {}

"""
Nodes in trouble, on the shared lab: a node drained for maintenance, and a node lost (its
host container stopped, as a server that lost power) and brought back by the highstate.
"""

import subprocess
import time

import pytest

from tests.common.hubclient import Kernel, working_students
from tests.common.lab import SITE

NODES = SITE["roles"]["nodes"]


def placement(lab):
    """``{student: minion}`` of every student server swarm wants running (the hub's view)."""
    tasks = lab.salt("hub", "swarm.student_tasks")["hub"]
    assert isinstance(tasks, list), tasks
    return {t["service"].removeprefix("jupyter-"): t["minion"] for t in tasks}


def swarm_node(lab, node):
    nodes = lab.salt("hub", "swarm.nodes")["hub"]
    return next(n for n in nodes if n["minion"] == node)


def wait_until(what, check, timeout=180, every=3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(every)


def test_drain_sends_new_servers_elsewhere_and_undrain_brings_the_node_back(lab, ca_file):
    drained, other = NODES[0], NODES[1]
    code, report = lab.salt_run("jupyterhub.drain", drained)
    assert code == 0 and report["swarm"] == "ready, pause", report
    try:
        with working_students(["student22", "student23"], ca_file):
            where = placement(lab)
            assert where["student22"] == where["student23"] == other, where
            code, status = lab.salt_run("jupyterhub.status")
            assert status["swarm"][drained] == "ready, pause (drained: no new servers)", status
            # A highstate of the node leaves it drained.
            result = lab.salt(drained, "state.apply")[drained]
            assert all(s["result"] for s in result.values()), result
            assert swarm_node(lab, drained)["availability"] == "pause"
            code, report = lab.salt_run("jupyterhub.undrain", drained)
            assert code == 0 and report["swarm"] == "ready, active", report
            # Swarm spreads: with two servers on the other node, the next one comes here.
            with working_students(["student24"], ca_file):
                assert placement(lab)["student24"] == drained
    finally:
        lab.salt_run("jupyterhub.undrain", drained)


def test_draining_a_host_that_is_not_a_node_names_it(lab):
    code, report = lab.salt_run("jupyterhub.drain", "node9")
    assert code != 0 and "'node9' is not a node" in report["error"], report


@pytest.fixture
def node_stopped_and_restored(lab):
    """Stops a node's host container on request; starts it again and re-applies it after."""
    stopped = []

    def stop(node):
        subprocess.run(["docker", "stop", f"jhd-{node}"], check=True, timeout=120)
        stopped.append(node)

    yield stop
    for node in stopped:
        subprocess.run(["docker", "start", f"jhd-{node}"], check=True, timeout=120)
        lab.wait_for_minions([node])
        lab.salt(node, "state.apply")


def test_node_loss_names_the_node_frees_its_students_and_the_node_returns(
    lab, ca_file, node_stopped_and_restored
):
    names = ["student25", "student26"]
    with working_students(names, ca_file) as people:
        where = placement(lab)
        lost = where["student25"]
        survivor = next(n for n in NODES if n != lost)
        on_lost = sorted(n for n in names if where[n] == lost)
        victim = people["student25"]
        kernel = Kernel(victim)
        assert kernel.run("open('before-loss.txt', 'w').write('kept'); print('ok')") == "ok\n"

        node_stopped_and_restored(lost)
        wait_until(f"swarm sees {lost} down", lambda: swarm_node(lab, lost)["state"] == "down")
        asked = time.monotonic()
        code, status = lab.salt_run("jupyterhub.status")
        assert code == 1, status
        assert f"node {lost}: swarm says down" in status["problems"], status["problems"]
        print(f"status took {time.monotonic() - asked:.1f}s:", status["problems"])
        # Servers still assigned there are named; the hub frees them at its next poll (30 s),
        # which may come first: then its log names them (checked once they are freed).
        named = next((p for p in status["problems"] if "(servers there:" in p), "")

        # The hub's poll sees the server gone; the student starts again on the other node.
        started = time.monotonic()

        def freed():
            return not any(people[n].hub_api("GET", f"/users/{n}").json()["servers"]
                           for n in on_lost)  # fmt: skip

        wait_until(f"the hub to see the servers of {on_lost} stopped", freed)
        log = lab.exec("hub", "docker", "logs", "jupyterhub").stderr
        for name in on_lost:
            said = f"jupyter-{name}: its node {lost} is down: the server counts as stopped"
            assert f"jupyter-{name}" in named or said in log, (name, status["problems"])
        print(f"the hub freed student25 {time.monotonic() - started:.0f}s after swarm saw it")
        victim.start_server()
        victim.open_lab()
        assert placement(lab)["student25"] == survivor
        assert victim.execute("print(open('before-loss.txt').read())").strip() == "kept"

        # The node comes back: the highstate puts it in the swarm, nothing of the old task
        # is left on it, and it takes servers again.
        subprocess.run(["docker", "start", f"jhd-{lost}"], check=True, timeout=120)
        lab.wait_for_minions([lost])
        result = lab.salt(lost, "state.apply")[lost]
        assert all(s["result"] for s in result.values()), result
        wait_until(f"{lost} ready in the swarm", lambda: swarm_node(lab, lost)["state"] == "ready")
        assert swarm_node(lab, lost)["availability"] == "active"

        def old_containers_gone():
            out = lab.exec(lost, "docker", "ps", "-a", "--format", "{{.Names}}").stdout
            return "jupyter-student25" not in out

        wait_until(f"the old jupyter-student25 container removed from {lost}", old_containers_gone)
        _, status = lab.salt_run("jupyterhub.status")
        assert not any(lost in problem for problem in status["problems"]), status["problems"]

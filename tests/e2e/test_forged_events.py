"""
A node minion forges events (as root on a node could, with its own salt key): the idle
beacon's tag in the hub's name, with data naming a student who is working, through both of
the master's event paths, and other jupyterhub/* and beacon tags.

The master authenticates the sending minion but not an event's tag or, on the list path
that beacons use, its data; so the idle event does reach the reactor. What protects the
student is that the reactor ignores the event's data and runs the cull state on the hub,
which stops only what the hub itself reports idle past cull:timeout. No other event starts
anything.
"""

import contextlib
import json
import time

from tests.e2e.hubclient import working_students

NAME = "student28"
IDLE_TAG = "salt/beacon/hub/jupyterhub_idle/idle"
FORGED = {"id": "hub", "idle": [NAME], "servers": {NAME: {"idle_seconds": 999999}}}


def fire(lab, tag, data, preload=None):
    args = ["salt-call", "--out=json", "event.fire_master", json.dumps(data), tag]
    if preload is not None:
        args.append(f"preload={json.dumps(preload)}")
    result = json.loads(lab.exec("node1", *args).stdout)["local"]
    assert result is True, result


def jobs_since(lab, before):
    _, jobs = lab.salt_run("jobs.list_jobs")
    return {jid: job for jid, job in jobs.items() if jid not in before}


@contextlib.contextmanager
def dashboard_snapshots_paused(lab):
    """The dashboard's snapshot timer stopped (and any run of it ended), so the only new
    jobs are what the events started: each snapshot's salt-run targets the hub and nodes
    (jupyterhub.list_users, ...) and would blur the test's list of jobs."""
    lab.exec("hub", "systemctl", "stop", "jupyterhub-dashboard-snapshot.timer",
             "jupyterhub-dashboard-snapshot.service")  # fmt: skip
    try:
        yield
    finally:
        lab.exec("hub", "systemctl", "start", "jupyterhub-dashboard-snapshot.timer")


def test_forged_events_from_a_node_stop_no_working_student(lab, ca_file):
    with dashboard_snapshots_paused(lab), working_students([NAME], ca_file) as people:
        last_cull = lab.salt("hub", "jupyterhub.last_cull")["hub"]
        _, before = lab.salt_run("jobs.list_jobs")
        # The direct path (the data carries node1's authenticated id) ...
        fire(lab, IDLE_TAG, FORGED)
        # ... and the list path beacons use, where the data's id is whatever node1 wrote.
        fire(lab, "ignored", {}, preload={"events": [{"tag": IDLE_TAG, "data": FORGED}]})
        for tag in ("jupyterhub/cull", "jupyterhub/stop/" + NAME, "salt/beacon/hub/other/x",
                    "salt/beacon/node1/jupyterhub_idle/idle"):  # fmt: skip
            fire(lab, tag, FORGED)

        deadline = time.monotonic() + 60
        while True:
            new = jobs_since(lab, before)
            culls = [j for j in new.values() if j["Function"] == "state.apply"]
            if culls or time.monotonic() > deadline:
                break
            time.sleep(3)
        # The idle tag reached the reactor, which ran the cull state on the hub ...
        assert culls, f"the forged idle event started no cull: {new}"
        print("jobs after the forged events:", sorted(j["Function"] for j in new.values()))
        for job in new.values():
            # The reactor's cull, salt's checks on it, and this test's own salt-calls and
            # job listings.
            assert job["Function"] in ("state.apply", "saltutil.find_job", "event.fire_master",
                                       "runner.jobs.list_jobs"), job  # fmt: skip
            if job["Function"] == "state.apply":
                # The hub nodegroup, as the master expands it (its minion id list).
                assert job["Target"] in ("hub", "L@hub", ["hub"]), job
                assert json.dumps(job["Arguments"]) == '[{"__kwarg__": true, "mods": "cull"}]'

        # ... which asked the hub and stopped nobody who is working.
        deadline = time.monotonic() + 120
        while lab.salt("hub", "jupyterhub.last_cull")["hub"] == last_cull:
            assert time.monotonic() < deadline, "the cull did not finish"
            time.sleep(3)
        assert NAME not in (lab.salt("hub", "jupyterhub.last_cull")["hub"]["culled"] or {})
        model = people[NAME].hub_api("GET", f"/users/{NAME}").json()
        assert model["servers"][""]["ready"], model
        assert people[NAME].execute("print('still here')").strip() == "still here"

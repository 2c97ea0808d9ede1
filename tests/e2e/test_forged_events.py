"""
A node minion forges events (as root on a node could, with its own salt key): the idle
beacon's tag in the hub's name, with data naming a student who is working, through both of
the master's event paths, and other jupyterhub/* and beacon tags.

The master authenticates the sending minion but not an event's tag or, on the list path
that beacons use, its data; so the idle event does reach the reactor. What protects the
student is that the reactor ignores the event's data and runs jupyterhub.cull on the hub,
which stops only what the hub itself reports idle past cull:timeout; a flood of them runs
one cull (the rest coalesce) and never holds the state lock. No other event starts
anything.
"""

import contextlib
import json
import time

from tests.common.hubclient import working_students

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


def wait_past_coalesce(lab):
    """The reactor's culls coalesce (10 s): let the last cull be older than that."""
    last = lab.salt("hub", "jupyterhub.last_cull")["hub"]
    if last:
        lab.exec("hub", "sh", "-c", f"while [ $(( $(date +%s) - $(date -d {last['time']} +%s) ))"
                 " -lt 12 ]; do sleep 1; done")  # fmt: skip
    return last


def test_forged_events_from_a_node_stop_no_working_student(lab, ca_file):
    with dashboard_snapshots_paused(lab), working_students([NAME], ca_file) as people:
        last_cull = wait_past_coalesce(lab)
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
            culls = [j for j in new.values() if j["Function"] == "jupyterhub.cull"]
            if culls or time.monotonic() > deadline:
                break
            time.sleep(3)
        # The idle tag reached the reactor, which ran the cull on the hub ...
        assert culls, f"the forged idle event started no cull: {new}"
        print("jobs after the forged events:", sorted(j["Function"] for j in new.values()))
        for job in new.values():
            # The reactor's cull, salt's checks on it, and this test's own salt-calls and
            # job listings.
            allowed = ("jupyterhub.cull", "saltutil.find_job", "event.fire_master",
                       "runner.jobs.list_jobs")  # fmt: skip
            assert job["Function"] in allowed, job
            if job["Function"] == "jupyterhub.cull":
                # The hub nodegroup, as the master expands it (its minion id list).
                assert job["Target"] in ("hub", "L@hub", ["hub"]), job
                assert json.dumps(job["Arguments"]) == '[{"__kwarg__": true, "coalesce": 10}]'

        # ... which asked the hub and stopped nobody who is working.
        deadline = time.monotonic() + 120
        while lab.salt("hub", "jupyterhub.last_cull")["hub"] == last_cull:
            assert time.monotonic() < deadline, "the cull did not finish"
            time.sleep(3)
        assert NAME not in (lab.salt("hub", "jupyterhub.last_cull")["hub"]["culled"] or {})
        model = people[NAME].hub_api("GET", f"/users/{NAME}").json()
        assert model["servers"][""]["ready"], model
        assert people[NAME].execute("print('still here')").strip() == "still here"


def test_a_flood_of_forged_idle_events_runs_one_cull_and_never_locks_out_state_apply(lab):
    """Issue #18 item 8: the reactor used to run state.apply per event, so a flood kept the
    hub's state lock and an admin's state.apply was refused ("already running")."""
    wait_past_coalesce(lab)
    _, before = lab.salt_run("jobs.list_jobs")
    events = [{"tag": IDLE_TAG, "data": FORGED}] * 30
    fire(lab, "ignored", {}, preload={"events": events})
    applied = lab.salt("hub", "state.apply", "cull", "test=True")["hub"]
    assert isinstance(applied, dict), applied  # a state run, not "is running as PID ..."
    deadline = time.monotonic() + 60
    while True:
        culls = [j for j in jobs_since(lab, before).values() if j["Function"] == "jupyterhub.cull"]
        if len(culls) >= 30 or time.monotonic() > deadline:
            break
        time.sleep(3)
    returns = [lab.salt_run("jobs.lookup_jid", jid)[1].get("hub") for jid in
               [j for j, job in jobs_since(lab, before).items()
                if job["Function"] == "jupyterhub.cull"]]  # fmt: skip
    ran = [r for r in returns if isinstance(r, dict) and "culled" in r]
    skipped = [r for r in returns if isinstance(r, dict) and "skipped" in r]
    print(f"{len(culls)} reactor culls: {len(ran)} ran, {len(skipped)} coalesced")
    assert len(ran) == 1 and len(skipped) == len(returns) - 1, returns

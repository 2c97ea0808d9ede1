"""
The single-host variant (`script/lab up --single`): one host holding every role, deployed
by the same states from an ordinary site pillar, as a small class on one server would be.
It runs on Debian 12 (`--release bookworm`, its own host and base images): the proof that
the previous release still deploys, serves and spawns, while the rest of the suite runs on
Debian 13.

It is also where JupyterHub is upgraded (issue #21): the site comes up on the previous
release series (hub:jupyterhub_version 5.5.4) with a student's running server, kernel,
API token and activity; a migration is made to fail once (the site must run on as it
was); then the pillar's release goes (the pinned one) and one state.apply upgrades it.
Every other test here runs on the upgraded site.

Runs after the other e2e modules: it replaces the multi-host lab (`script/lab up` brings
that back).
"""

import http.client
import pathlib
import re
import subprocess

import pytest
import yaml

from tests.common.hubclient import Kernel, Student
from tests.common.lab import HTTP_PORT, HTTPS_PORT, LAB, Lab

# The last release of the series before the pinned one: what a site upgrades from.
PREVIOUS = "5.5.4"
PINNED = re.search(
    r"(?m)^jupyterhub==(\S+)$",
    (pathlib.Path(__file__).parents[2] / "hub" / "requirements.txt").read_text(),
).group(1)
HUB_DB = "/srv/jupyterhub/jupyterhub.sqlite"
STATS_DB = "/srv/stats/db/activity.sqlite"
# The first migration after 5.5's schema adds this column: present already, it fails.
CLASH = "ALTER TABLE services {} COLUMN timeout{}"


def hub_version(lab):
    return lab.exec("hub", "docker", "exec", "jupyterhub", "jupyterhub", "--version").stdout.strip()


def sql(lab, statement):
    code = (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(sys.argv[2])"
        "; db.commit()"
    )
    lab.exec("hub", "python3", "-c", code, HUB_DB, statement)


def highstate(lab):
    """`state.apply` on the one host: ``{state id: result}`` (the part after the last |)."""
    result = lab.salt("allinone", "state.apply", timeout=1800)["allinone"]
    assert isinstance(result, dict), result
    return {key.split("_|-")[1]: value for key, value in result.items()}


def site_release(lab, version):
    """The site pillar's hub:jupyterhub_version, as an operator edits it."""
    path = lab.site_dir() / "site.sls"
    site = yaml.safe_load(path.read_text())
    site["hub"]["jupyterhub_version"] = version
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    lab.refresh_pillar()


def snapshot(lab):
    return {
        "version": hub_version(lab),
        "users": lab.query(HUB_DB, "select name, created from users order by name"),
        "bob_activity": lab.query(HUB_DB, "select last_activity from users where name = 'bob'"),
        "service": lab.exec(
            "hub",
            "docker",
            "service",
            "inspect",
            "jupyter-bob",
            "--format",
            "{{.ID}} {{.CreatedAt}}",
        ).stdout.strip(),  # fmt: skip
        "revision": lab.query(HUB_DB, "select version_num from alembic_version"),
        "stats": lab.query(STATS_DB, "select count(*) from activity")[0][0],
    }


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory):
    """The site on JupyterHub 5.5.4 with bob's server, kernel and token, upgraded: what was
    recorded before, after the failed try, and after; the two highstates' results."""
    # A 5.x hub cannot read a 6.x database: the host starts afresh. Its engine's data (a
    # volume, kept for the image cache) still has an earlier run's hub, which restarts
    # (restart policy) and makes a database before salt runs: removed with what it made.
    subprocess.run(["docker", "rm", "-f", "jhd-allinone"], capture_output=True, check=False)
    up = [LAB, "up", "--single", "--release", "bookworm", "--jupyterhub-version", PREVIOUS]
    subprocess.run([*up, "--no-apply"], check=True, timeout=3600)
    lab = Lab(single=True)
    lab.exec("hub", "sh", "-c", "docker rm -f jupyterhub jupyterhub-proxy jupyterhub-dashboard"
             " 2>/dev/null; rm -rf /srv/jupyterhub")  # fmt: skip
    subprocess.run(up, check=True, timeout=3600)
    lab.wait_for_hub()
    ca = tmp_path_factory.mktemp("ca") / "ca.pem"
    lab.write_ca(ca)
    bob = Student("bob", ca)
    bob.login()
    bob.start_server()
    bob.open_lab()
    kernel = Kernel(bob)
    kernel.run("x = 41")
    created = bob.hub_api("POST", "/users/bob/tokens", json={"note": "the upgrade test"})
    assert created.status_code == 201, created.text[:300]
    lab.salt("allinone", "stats.record")
    before = snapshot(lab)

    # A clash the first 6.x migration trips on, then the release's upgrade tried.
    sql(lab, CLASH.format("ADD", " INTEGER"))
    site_release(lab, None)
    failed = highstate(lab)
    lab.wait_for_hub()
    during = snapshot(lab)
    during["kernel"] = kernel.run("print(x)").strip()

    sql(lab, CLASH.format("DROP", ""))
    upgraded = highstate(lab)
    lab.wait_for_hub()
    after = snapshot(lab)
    after["kernel"] = kernel.run("print(x + 1)").strip()
    after["token_user"] = bob.http.get(
        f"https://localhost:{HTTPS_PORT}/hub/api/user",
        headers={"Authorization": f"token {created.json()['token']}"},
        timeout=30,
    ).json()
    yield {"lab": lab, "bob": bob, "before": before, "during": during, "after": after,
           "failed": failed, "upgraded": upgraded}  # fmt: skip
    kernel.shutdown()
    bob.stop_server()


@pytest.fixture(scope="module")
def single(upgrade):
    return upgrade["lab"]


def test_a_failed_migration_leaves_the_site_running_as_it_was(upgrade):
    before, during = upgrade["before"], upgrade["during"]
    state = upgrade["failed"]["hub-database-migrated"]
    assert state["result"] is False
    assert "duplicate column name: timeout" in state["comment"]
    assert f"set hub:jupyterhub_version back to {PREVIOUS}" in state["comment"]
    assert f"{HUB_DB}.{PREVIOUS}." in state["comment"]
    # The old hub, its schema and every server as they were; the kernel kept its state.
    assert during["version"] == PREVIOUS
    assert during["revision"] == before["revision"]
    assert during["service"] == before["service"]
    assert during["kernel"] == "41"


def test_a_jupyterhub_upgrade_is_one_pillar_change_and_one_state_apply(upgrade):
    before, after = upgrade["before"], upgrade["after"]
    assert before["version"] == PREVIOUS and after["version"] == PINNED
    state = upgrade["upgraded"]["hub-database-migrated"]
    assert state["result"] is True, state["comment"]
    assert state["changes"]["jupyterhub"] == {"old": PREVIOUS, "new": PINNED}
    assert state["changes"]["schema"]["old"] == before["revision"][0][0]
    assert after["revision"][0][0] == state["changes"]["schema"]["new"]
    # The copy made before the migration: root's only, with the old version in its name.
    copy = state["changes"]["copy"]
    assert copy.startswith(f"{HUB_DB}.{PREVIOUS}.")
    lab = upgrade["lab"]
    assert lab.exec("hub", "stat", "-c", "%a %U", copy).stdout.split() == ["600", "root"]
    assert lab.query(copy, "select version_num from alembic_version") == before["revision"]
    assert not {k: v["comment"] for k, v in upgrade["upgraded"].items() if v["result"] is not True}


def test_after_the_upgrade_servers_users_tokens_and_activity_are_kept(upgrade):
    before, after = upgrade["before"], upgrade["after"]
    # bob's server was never restarted: the same service, and the kernel remembers x.
    assert after["service"] == before["service"]
    assert after["kernel"] == "42"
    assert after["users"] == before["users"]
    assert after["bob_activity"][0][0] >= before["bob_activity"][0][0]
    assert after["token_user"]["name"] == "bob"
    assert after["stats"] >= before["stats"]


def test_single_host_runs_debian_12(single):
    assert "VERSION_CODENAME=bookworm" in single.exec("hub", "cat", "/etc/os-release").stdout


def test_single_host_second_highstate_changes_nothing(single):
    result = single.salt("*", "state.apply", timeout=1800)
    assert set(result) == {"allinone"}
    states = result["allinone"]
    assert isinstance(states, dict), states
    assert {k: v["comment"] for k, v in states.items() if v["result"] is not True} == {}
    assert {k: v["changes"] for k, v in states.items() if v["changes"]} == {}


def test_single_host_serves_the_hub_over_tls_and_redirects_http(single):
    with single.https("/hub/health") as response:
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    conn = http.client.HTTPConnection("localhost", HTTP_PORT, timeout=10)
    conn.request("GET", "/hub/")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://localhost:{HTTPS_PORT}/hub/"


def test_single_host_student_server_runs_on_the_one_host(single, tmp_path):
    ca = tmp_path / "ca.pem"
    single.write_ca(ca)
    alice = Student("alice", ca)
    alice.login()
    alice.start_server()
    try:
        node = single.exec("hub", "docker", "service", "ps", "jupyter-alice", "--format",
                           "{{.Node}}", "--filter", "desired-state=running").stdout  # fmt: skip
        assert node.split() == ["allinone"]
        alice.open_lab()
        assert alice.execute("import os; print(os.getuid() >= 10000)").strip() == "True"
    finally:
        alice.stop_server()

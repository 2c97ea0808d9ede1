"""
A running site upgraded in place from Debian 12 to 13, as a real site would in term break:
a bookworm lab (proxy, hub, one node) with a student's files, hub users, activity records
and a backup; then on every host the apt sources switched to trixie, `apt full-upgrade`, a
reboot (the container restarted), script/bootstrap again and a highstate (`script/lab up`
does both). The phases' times are printed for docs/operations.md.
"""

import concurrent.futures
import subprocess
import time

import pytest

from tests.common.hubclient import Student
from tests.common.lab import LAB, Lab

HOSTS = ("proxy", "hub", "node1")
UP = [LAB, "up", "--release", "bookworm", "--nodes", "1"]
NOTE = "/home/alice/before-the-upgrade.txt"
HUB_DB = "/srv/jupyterhub/jupyterhub.sqlite"
STATS_DB = "/srv/stats/db/activity.sqlite"
UPGRADE = """
set -e
sed -i 's/bookworm/trixie/g' /etc/apt/sources.list
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get full-upgrade -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
"""


def timed(times, name, func, *args, **kwargs):
    began = time.monotonic()
    result = func(*args, **kwargs)
    times[name] = round(time.monotonic() - began)
    print(f"upgrade: {name} took {times[name]} s")
    return result


def upgrade_host(lab, host):
    lab.exec(host, "sh", "-c", UPGRADE, timeout=3600)
    subprocess.run(["docker", "restart", f"jhd-{host}"], check=True, timeout=300)
    lab.exec(host, "systemctl", "is-system-running", "--wait", check=False, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The bookworm site with what must survive, then upgraded; what was recorded before."""
    times = {}
    timed(times, "bookworm lab up", subprocess.run, UP, check=True, timeout=3600)
    lab = Lab()
    lab.wait_for_hub()
    ca = tmp_path_factory.mktemp("ca") / "ca.pem"
    lab.write_ca(ca)
    alice = Student("alice", ca)
    alice.login()
    alice.start_server()
    alice.open_lab()
    alice.execute(f"open({NOTE!r}, 'w').write('written on Debian 12\\n')")
    alice.stop_server()
    lab.salt("hub", "stats.record")
    backup = lab.salt("hub", "backup.run", "full=True", timeout=900)["hub"]
    assert backup["result"] is True, backup
    before = {
        "users": lab.query(HUB_DB, "select name from users order by name"),
        "activity": lab.query(STATS_DB, "select count(*) from activity")[0][0],
        "backup_time": int(lab.exec("hub", "date", "+%s").stdout),
        "duplicity": lab.exec("hub", "duplicity", "--version").stdout.strip(),
    }
    time.sleep(2)  # duplicity's times have a resolution of one second
    lab.exec("hub", "sh", "-c", f"echo changed after the backup > {NOTE}")
    with concurrent.futures.ThreadPoolExecutor(len(HOSTS)) as pool:
        began = time.monotonic()
        list(pool.map(lambda host: upgrade_host(lab, host), HOSTS))
        times["apt full-upgrade and reboot, 3 hosts at once"] = round(time.monotonic() - began)
    up = timed(times, "bootstrap and highstate", subprocess.run, UP, timeout=3600)
    lab.wait_for_hub(timeout=600)
    print("upgrade: times", times)
    return {"lab": lab, "ca": ca, "before": before, "up": up.returncode, "times": times}


def test_every_host_runs_debian_13(site):
    for host in HOSTS:
        release = site["lab"].exec(host, "cat", "/etc/os-release").stdout
        assert "VERSION_CODENAME=trixie" in release, (host, release)


def test_the_first_apply_after_the_upgrade_succeeds_and_a_second_changes_nothing(site):
    assert site["up"] == 0
    result = site["lab"].salt("*", "state.apply", timeout=1800)
    assert set(result) == set(HOSTS)
    for host, states in result.items():
        assert isinstance(states, dict), (host, states)
        assert {k: v["comment"] for k, v in states.items() if v["result"] is not True} == {}
        assert {k: v["changes"] for k, v in states.items() if v["changes"]} == {}, host


def test_salt_runs_from_a_venv_rebuilt_on_python_3_13(site):
    for host in HOSTS:
        record = site["lab"].exec(host, "cat", "/opt/jupyterhub-deploy/venv/.interpreter")
        assert record.stdout.startswith("cpython-313 "), (host, record.stdout)


def test_the_hub_keeps_its_users_and_the_activity_history(site):
    lab, before = site["lab"], site["before"]
    assert lab.query(HUB_DB, "select name from users order by name") == before["users"]
    after = lab.query(STATS_DB, "select count(*) from activity")[0][0]
    assert after >= before["activity"] > 0


def test_a_student_logs_in_and_finds_her_files(site):
    alice = Student("alice", site["ca"])
    alice.login()
    alice.start_server()
    try:
        alice.open_lab()
        assert alice.execute(f"print(open({NOTE!r}).read())").strip() == "changed after the backup"
    finally:
        alice.stop_server()


def test_backups_go_on_and_a_file_from_before_the_upgrade_restores(site):
    lab, before = site["lab"], site["before"]
    assert before["duplicity"].startswith("duplicity 0.8")
    assert lab.exec("hub", "duplicity", "--version").stdout.startswith("duplicity 3.")
    backup = lab.salt("hub", "backup.run", timeout=900)["hub"]
    assert backup["result"] is True, backup
    print("upgrade: first backup after the upgrade:", backup["type"])
    restored = lab.salt(
        "hub", "backup.restore", "alice/before-the-upgrade.txt", "/root/restored-note",
        f"time={before['backup_time']}", timeout=900,
    )["hub"]  # fmt: skip
    assert restored["result"] is True, restored
    text = lab.exec("hub", "cat", "/root/restored-note").stdout
    assert text == "written on Debian 12\n"

"""
Students in the lab, the way a browser does it: through nginx TLS, the stand-in for Google
(lab only: Google's servers cannot be reached here), the real LocalGoogleOAuthenticator,
restuser, and a swarm service per student on a node.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.common.hubclient import LoginRefused, Student
from tests.common.lab import SITE

NODES = SITE["roles"]["nodes"]
UID_MIN, UID_MAX = 10000, 59999
BURST = [f"student{n:02d}" for n in range(1, 11)]


@pytest.fixture(scope="module")
def timings(repo):
    record = {}
    yield record
    out = repo / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "e2e-spawn-times.json").write_text(json.dumps(record, indent=2) + "\n")


@pytest.fixture(scope="module")
def students(lab, ca_file, timings):
    """alice and bob, logged in with their servers running."""
    people = {name: Student(name, ca_file) for name in ("alice", "bob")}
    for name, person in people.items():
        person.login()
        timings[f"spawn {name}"] = round(person.start_server(), 1)
        person.open_lab()
    yield people
    for person in people.values():
        person.stop_server()


def account(lab, name):
    """The hub's passwd entry for name, or None."""
    proc = lab.exec("hub", "getent", "passwd", name, check=False)
    if proc.returncode != 0:
        return None
    fields = proc.stdout.strip().split(":")
    return {"uid": int(fields[2]), "gid": int(fields[3]), "home": fields[5]}


def service_node(lab, name):
    out = lab.exec("hub", "docker", "service", "ps", f"jupyter-{name}", "--filter",
                   "desired-state=running", "--format", "{{.Node}}").stdout  # fmt: skip
    return out.split()[0]


def test_students_exist_as_system_users_from_restuser(lab, students):
    for name in students:
        user = account(lab, name)
        assert user and UID_MIN <= user["uid"] <= UID_MAX
        assert user["home"] == f"/home/{name}"
        owner = lab.exec("hub", "stat", "-c", "%u", f"/home/{name}/README.md").stdout
        assert int(owner) == user["uid"]  # copied from the skeleton, owned by the student


def test_each_server_runs_on_a_node_as_the_student(lab, students):
    for name in students:
        node = service_node(lab, name)
        assert node in NODES
        label = f"label=com.docker.swarm.service.name=jupyter-{name}"
        container = lab.exec(node, "docker", "ps", "-q", "--filter", label).stdout
        uid = lab.exec(node, "docker", "exec", container.strip(), "id", "-u").stdout
        assert int(uid) == account(lab, name)["uid"]


def test_kernel_runs_code_and_writes_into_the_home_on_the_hub(lab, students):
    output = students["alice"].execute(
        "import os\n"
        "open('/home/alice/e2e-note.txt', 'w').write('written by the kernel')\n"
        "print(os.getuid(), os.getcwd())"
    )
    assert output.split() == [str(account(lab, "alice")["uid"]), "/home/alice"]
    owner = lab.exec("hub", "stat", "-c", "%U", "/home/alice/e2e-note.txt").stdout.strip()
    assert owner == "alice"


def test_a_file_survives_stop_and_start(students, timings):
    alice = students["alice"]
    alice.stop_server()
    timings["restart alice"] = round(alice.start_server(), 1)
    alice.open_lab()
    assert alice.execute("print(open('/home/alice/e2e-note.txt').read())").strip() == (
        "written by the kernel"
    )


def test_terminal_runs_commands_as_the_student(students):
    output = students["bob"].terminal("id -un; pwd")
    # What the shell printed, line by line, without its prompt's carriage returns.
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in output.split("\n")]
    assert "bob" in lines and "/home/bob" in lines


def test_nbgrader_is_importable_and_its_extensions_enabled(students):
    output = students["bob"].execute(
        "import subprocess, nbgrader\n"
        "print('nbgrader', nbgrader.__version__)\n"
        "r = subprocess.run(['jupyter', 'server', 'extension', 'list'],"
        " capture_output=True, text=True)\n"
        "print(r.stdout + r.stderr)"
    )
    assert "nbgrader 0.9" in output
    assert "nbgrader" in output.split("nbgrader 0.9", 1)[1] and "enabled" in output


def test_every_node_holds_the_current_student_image(lab):
    """The highstate pre-pulls it, so no first spawn waits for a pull (dockerspawner#293)."""
    image = f"{SITE['hosts'][SITE['roles']['hub']]}:5000/jupyterhub-deploy/singleuser:current"
    hub_id = lab.exec("hub", "docker", "image", "inspect", "-f", "{{.Id}}", image).stdout
    for node in NODES:
        node_id = lab.exec(node, "docker", "image", "inspect", "-f", "{{.Id}}", image).stdout
        assert node_id == hub_id, node


def test_user_outside_the_allowed_list_is_refused(lab, ca_file):
    with pytest.raises(LoginRefused) as refused:
        Student("mallory", ca_file).login()
    assert refused.value.status == 403
    assert account(lab, "mallory") is None


def test_account_outside_the_hosted_domain_is_refused(lab, ca_file):
    with pytest.raises(LoginRefused) as refused:
        Student("alice", ca_file).login(email="alice@gmail.example")
    assert refused.value.status == 403


def test_unsafe_google_username_gets_an_error_and_no_system_user(lab, ca_file):
    with pytest.raises(LoginRefused) as refused:
        Student("john.smith", ca_file).login(email="John.Smith@lab.example")
    assert refused.value.status == 403
    assert "cannot be used as an account name" in refused.value.body
    assert account(lab, "john.smith") is None and account(lab, "John.Smith") is None


def test_admin_lists_users_through_the_api(lab, ca_file, students):
    admin = Student("labadmin", ca_file)
    admin.login()
    users = admin.hub_api("GET", "/users")
    assert users.status_code == 200, users.text[:300]
    names = {u["name"] for u in users.json()}
    assert {"alice", "bob", "labadmin"} <= names
    # A student is not an admin.
    assert students["bob"].hub_api("GET", "/users").status_code == 403


def test_ten_students_logging_in_at_once_all_get_servers(lab, ca_file, timings):
    people = [Student(name, ca_file) for name in BURST]

    def arrive(person):
        started = time.monotonic()
        person.login()
        person.start_server(timeout=300)
        return time.monotonic() - started

    with ThreadPoolExecutor(len(people)) as pool:
        took = list(pool.map(arrive, people))
    timings["burst of 10: slowest login+spawn"] = round(max(took), 1)
    timings["burst of 10: median login+spawn"] = round(sorted(took)[len(took) // 2], 1)
    try:
        for person in people:
            assert service_node(lab, person.name) in NODES
    finally:
        with ThreadPoolExecutor(len(people)) as pool:
            list(pool.map(lambda p: p.stop_server(), people))


def test_restuser_down_gives_a_clear_error_and_creates_nothing(lab, ca_file):
    before = lab.exec("hub", "getent", "passwd").stdout
    lab.exec("hub", "systemctl", "stop", "restuser")
    try:
        with pytest.raises(LoginRefused) as refused:
            Student("student01", ca_file).login()
        assert refused.value.status >= 500
        assert "restuser" in refused.value.body.lower()
        log = lab.exec("hub", "docker", "logs", "--since", "2m", "jupyterhub").stderr
        assert "restuser" in log.lower()
    finally:
        lab.exec("hub", "systemctl", "start", "restuser")
    assert lab.exec("hub", "getent", "passwd").stdout == before
    # ... and it works again once the socket is back.
    deadline = time.monotonic() + 30
    while lab.exec("hub", "test", "-S", "/run/restuser/restuser.sock", check=False).returncode:
        assert time.monotonic() < deadline, "restuser's socket did not come back"
        time.sleep(0.5)
    Student("student01", ca_file).login()

"""
restuser for real: the service under Debian's python3, creating users with the real useradd,
talked to through the execution module and raw sockets.

Each service runs in a private mount namespace (unshare) over a copy of /etc and an empty
/home, /var/log and /var/mail, so useradd changes only the copies; the copies are read from
here to check what it did. A fixture checks afterwards that this machine's own account
files and /home are untouched and that no sandbox mount or process is left.

Why over 400 lines: every test shares the sandboxed service and its checks; one file per
module under test.
"""

import filecmp
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from salt.exceptions import CommandExecutionError

from tests.conftest import REPO
from tests.loaders import load
from tests.rawsocket import raw_request

SCRIPT = REPO / "salt/restuser/files/restuser.py"
PYTHON = "/usr/bin/python3"  # Debian's, as on the hub
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")
MARKER = ".restuser-sandbox"
UID_MIN, UID_MAX = 10000, 10099

# Bind the copies over the real directories, refuse to start unless that worked, then run
# restuser. "$1" is the sandbox directory, the rest are restuser's options.
NAMESPACE_SCRIPT = f"""
t=$1; shift
mount --bind "$t/etc" /etc
mount --bind "$t/home" /home
if [ "$RO_HOME" = 1 ]; then mount -o remount,bind,ro /home; fi
mount --bind "$t/varlog" /var/log
mount --bind "$t/mail" /var/mail
test -f /etc/{MARKER} && test -f /home/{MARKER} || exit 97
exec {PYTHON} -I "$t/restuser.py" "$@"
"""


def _unshare_works():
    if os.geteuid() != 0:
        return "needs root (unshare --mount, useradd)"
    for tool in ("unshare", "useradd", "userdel", "groupdel"):
        if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
            return f"needs {tool}"
    if not os.path.exists(PYTHON):
        return f"needs {PYTHON}"
    probe = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "mount",
            "-t",
            "tmpfs",
            "x",
            "/mnt",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --mount does not work here: {probe.stderr.strip()}"
    return None


SKIP_REASON = _unshare_works()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


def digest(paths):
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                out[str(path)] = hashlib.sha256(handle.read()).hexdigest()
        except FileNotFoundError:
            out[str(path)] = None
    return out


def sandbox_mounts():
    with open("/proc/self/mountinfo") as handle:
        return [line for line in handle if "restuser-fn-" in line]


@pytest.fixture(scope="module", autouse=True)
def host_untouched():
    """This machine's accounts and /home are the same after the tests as before."""
    files = [f"/etc/{name}" for name in ACCOUNT_FILES]
    before = digest(files), sorted(os.listdir("/home"))
    with open("/etc/passwd") as handle:
        passwd_before = handle.read()
    yield
    with open("/etc/passwd") as handle:
        passwd_after = handle.read()
    assert passwd_after == passwd_before, "this machine's /etc/passwd changed"
    assert (digest(files), sorted(os.listdir("/home"))) == before
    assert sandbox_mounts() == []


class Sandbox:
    """A copy of /etc with a staff account, and restuser running over it in a namespace."""

    def __init__(self, uid_min=UID_MIN, uid_max=UID_MAX, ro_home=False):
        self.uid_min, self.uid_max, self.ro_home = uid_min, uid_max, ro_home
        # Short: a unix socket path must stay under 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="restuser-fn-")
        self.etc = os.path.join(self.dir, "etc")
        self.home = os.path.join(self.dir, "home")
        self.skel = os.path.join(self.dir, "skel")
        self.socket = os.path.join(self.dir, "run", "restuser.sock")
        self.log = os.path.join(self.dir, "restuser.log")
        self.proc = None
        subprocess.run(["cp", "-a", "/etc", self.etc], check=True)
        for sub in ("home", "run", "varlog", "mail", "skel/.config"):
            os.makedirs(os.path.join(self.dir, sub))
        for marker in (self.etc, self.home):
            open(os.path.join(marker, MARKER), "w").close()
        shutil.copy(SCRIPT, os.path.join(self.dir, "restuser.py"))
        self._write("skel/.bashrc", "# the course's bashrc\n")
        self._write("skel/README.md", "Welcome\n")
        self._write("skel/.config/settings.json", "{}\n")
        # A staff member below the range, a student from before, a group with no user.
        self._append("passwd", "ada:x:2001:2001::/home/ada:/bin/bash")
        self._append("shadow", "ada:!:19000:0:99999:7:::")
        self._append("group", "ada:x:2001:")
        self._append("gshadow", "ada:!::")
        self._append("passwd", f"oldie:x:{uid_min + 1}:{uid_min + 1}::/home/oldie:/bin/bash")
        self._append("shadow", "oldie:!:19000:0:99999:7:::")
        self._append("group", f"oldie:x:{uid_min + 1}:")
        self._append("gshadow", "oldie:!::")
        self._append("group", "course:x:3000:")
        self._append("gshadow", "course:!::")
        # Homes with no account: root's is never adopted; one a student uid still owns is
        # (its account was lost: a rebuilt hub over the old /home); one whose owner's uid
        # another account holds is not.
        os.makedirs(os.path.join(self.home, "ghost"))
        self._orphan_home("orphan", uid_min + 50)
        self._orphan_home("squatter", uid_min + 1)
        self.module = load("_modules/restuser.py", {"__opts__": {"restuser.socket": self.socket}})

    def _orphan_home(self, name, owner):
        path = os.path.join(self.home, name)
        os.makedirs(path)
        self._write(f"home/{name}/thesis.ipynb", "my work\n")
        for entry in (path, os.path.join(path, "thesis.ipynb")):
            os.chown(entry, owner, owner)

    def _write(self, relpath, text):
        with open(os.path.join(self.dir, relpath), "w") as handle:
            handle.write(text)

    def _append(self, name, line):
        with open(os.path.join(self.etc, name), "a") as handle:
            handle.write(line + "\n")

    def start(self):
        argv = [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-euc", NAMESPACE_SCRIPT, "sh", self.dir,
            "--socket", self.socket,
            "--uid-min", str(self.uid_min),
            "--uid-max", str(self.uid_max),
            "--skeldir", self.skel,
            "--home-base", "/home",
            "--log", self.log,
        ]  # fmt: skip
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "RO_HOME": "1" if self.ro_home else "0"}
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 10
        while not self.module.available():
            if self.proc.poll() is not None:
                raise AssertionError(f"restuser exited {self.proc.returncode}: {self.output()}")
            assert time.monotonic() < deadline, "restuser did not listen within 10s"
            time.sleep(0.05)
        return self

    def output(self):
        return self.proc.stdout.read() if self.proc.stdout else ""

    def stop(self, sig=signal.SIGTERM):
        """Stop restuser (and with it the namespace); its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self):
        try:
            self.stop()
        finally:
            if self.proc and self.proc.stdout:
                self.proc.stdout.close()
            shutil.rmtree(self.dir)

    # --- reading what useradd did --------------------------------------------------------

    def read(self, name):
        with open(os.path.join(self.etc, name)) as handle:
            return handle.read()

    def entries(self, name="passwd"):
        return {line.split(":")[0]: line.split(":") for line in self.read(name).splitlines()}

    def snapshot(self):
        """Everything a refused request must leave as it was."""
        files = digest(os.path.join(self.etc, name) for name in ACCOUNT_FILES)
        return files, sorted(os.listdir(self.home))

    def lowest_free_uid(self):
        used = {int(e[2]) for e in self.entries().values()}
        return min(set(range(self.uid_min, self.uid_max + 1)) - used)

    def log_lines(self):
        try:
            with open(self.log) as handle:
                return handle.read().splitlines()
        except FileNotFoundError:
            return []

    def raw(self, data, shut=True):
        """Send raw bytes to the socket: (status, JSON body)."""
        status, _, body = raw_request(self.socket, data, shut=shut, timeout=20)
        return status, body


@pytest.fixture(scope="module")
def hub():
    """The main sandbox: restuser with students' uids 10000-10099."""
    sandbox = Sandbox()
    try:
        yield sandbox.start()
    finally:
        sandbox.close()


@pytest.fixture
def make_sandbox():
    sandboxes = []

    def make(**kwargs):
        sandboxes.append(Sandbox(**kwargs))
        return sandboxes[-1].start()

    yield make
    for sandbox in sandboxes:
        sandbox.close()


def refused(func, *args):
    with pytest.raises(CommandExecutionError) as info:
        func(*args)
    return str(info.value)


# --- creating ------------------------------------------------------------------------------


def test_create_makes_the_account_with_the_lowest_free_uid(hub):
    expected_uid = hub.lowest_free_uid()
    created = hub.module.create("alice")
    assert created == {
        "name": "alice",
        "uid": expected_uid,
        "gid": expected_uid,
        "home": "/home/alice",
        "created": True,
    }
    assert UID_MIN <= created["uid"] <= UID_MAX
    entry = hub.entries()["alice"]
    assert entry[2:4] == [str(expected_uid)] * 2
    assert entry[5:] == ["/home/alice", "/usr/sbin/nologin"]
    assert hub.entries("group")["alice"][2] == str(expected_uid)
    assert hub.entries("shadow")["alice"][1].startswith("!")  # no password: no ssh login
    assert "alice" not in hub.read("subuid")


def test_the_uid_skips_taken_ones(hub):
    # oldie holds uid_min + 1: the two new students get uid_min (or later) and skip it.
    uids = [hub.module.create(name)["uid"] for name in ("skip1", "skip2")]
    assert UID_MIN + 1 not in uids
    assert uids[1] > uids[0]


def test_create_is_idempotent(hub):
    first = hub.module.create("bob")
    before = hub.snapshot()
    again = hub.module.create("bob")
    assert again == dict(first, created=False)
    assert hub.snapshot() == before
    assert hub.module.get("bob") == {k: first[k] for k in ("name", "uid", "gid", "home")}


def test_an_existing_student_is_returned_as_is(hub):
    assert hub.module.create("oldie") == {
        "name": "oldie",
        "uid": UID_MIN + 1,
        "gid": UID_MIN + 1,
        "home": "/home/oldie",
        "created": False,
    }


def test_the_home_is_the_skeleton_owned_by_the_student(hub):
    account = hub.module.create("carol")
    home = os.path.join(hub.home, "carol")
    info = os.lstat(home)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert (info.st_uid, info.st_gid) == (account["uid"], account["gid"])
    compare = filecmp.dircmp(hub.skel, home)
    assert (
        sorted(compare.left_list)
        == sorted(compare.right_list)
        == [".bashrc", ".config", "README.md"]
    )
    assert compare.diff_files == [] and filecmp.dircmp(
        os.path.join(hub.skel, ".config"), os.path.join(home, ".config")
    ).same_files == ["settings.json"]
    for root, dirs, files in os.walk(home):
        for entry in dirs + files:
            owner = os.lstat(os.path.join(root, entry))
            assert (owner.st_uid, owner.st_gid) == (account["uid"], account["gid"])


def test_get_and_list(hub):
    hub.module.create("dave")
    assert hub.module.get("dave")["home"] == "/home/dave"
    assert hub.module.get("nosuchstudent") is None
    students = hub.module.list_users()
    names = [s["name"] for s in students]
    assert "dave" in names and "oldie" in names
    assert "ada" not in names and "root" not in names
    assert all(UID_MIN <= s["uid"] <= UID_MAX for s in students)
    assert [s["uid"] for s in students] == sorted(s["uid"] for s in students)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("root", "reserved name"),
        ("daemon", "reserved name"),
        ("ada", "outside the student uid range"),  # staff, uid 2001
        ("bin", "reserved name"),
        ("postgres", "outside the student uid range"),  # a service account of this machine
        ("docker", "reserved name"),  # reserved even before such an account exists
    ],
)
def test_accounts_outside_the_range_are_403_and_untouched(hub, name, reason):
    if name == "postgres" and "postgres" not in hub.entries():
        pytest.skip("no postgres account on this machine")
    before = hub.snapshot()
    for func in (hub.module.create, hub.module.get):
        message = refused(func, name)
        assert "(403)" in message and reason in message
    assert hub.snapshot() == before


def test_a_name_held_by_a_group_is_403(hub):
    before = hub.snapshot()
    message = refused(hub.module.create, "course")
    assert "(403)" in message and "group named 'course'" in message
    assert hub.snapshot() == before


def test_an_existing_home_without_account_is_409_and_not_adopted(hub):
    before = hub.snapshot()
    message = refused(hub.module.create, "ghost")
    assert "(409)" in message and "/home/ghost already exists" in message
    assert "owned by uid 0, outside the student range" in message
    assert hub.snapshot() == before


def test_a_home_owned_by_another_accounts_uid_is_409(hub):
    before = hub.snapshot()
    message = refused(hub.module.create, "squatter")
    assert "(409)" in message and f"uid {UID_MIN + 1}, which another account holds" in message
    assert hub.snapshot() == before


def test_a_home_that_outlived_its_account_is_adopted_with_its_uid(hub):
    """A rebuilt hub over the old /home: the student gets their uid and files back."""
    user = hub.module.create("orphan")
    assert user["uid"] == UID_MIN + 50 and user["home"].endswith("/home/orphan")
    home = os.path.join(hub.home, "orphan")
    with open(os.path.join(home, "thesis.ipynb")) as handle:
        assert handle.read() == "my work\n"
    assert not os.path.exists(os.path.join(home, "README.md"))  # no skeleton over their files
    assert os.stat(home).st_uid == UID_MIN + 50
    again = hub.module.create("orphan")
    assert again["uid"] == user["uid"] and again["created"] is False


@pytest.mark.parametrize(
    "name", ["Bob", "a;b", "../x", "%2e%2e", "a" * 33, "", "a\nb", "a/b", "-rf", "a b", "é"]
)
def test_unsafe_names_are_400_and_create_nothing(hub, name):
    before = hub.snapshot()
    message = refused(hub.module.create, name)
    assert "(400)" in message and "invalid user name" in message
    assert hub.snapshot() == before


@pytest.mark.parametrize(
    "target",
    [
        b"/users/../x",
        b"/users/..%2fx",
        b"/users/%2e%2e",
        b"/users/%2e%2e%2f%2e%2e%2fetc",
        b"/users/a;b",
        b"/users/a%3bid",
        b"/users/a%0Ab",
        b"/users/a%0D%0AX-Injected:%201",
        b"/users/a%00",
        b"/users/$(id)",
        b"/users/a%60id%60",
        b"/users/",
        b"/users/" + b"a" * 33,
    ],
)
def test_raw_unsafe_paths_are_400_and_create_nothing(hub, target):
    before = hub.snapshot()
    status, body = hub.raw(b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400, body
    assert hub.snapshot() == before


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /users/erin HTTP/1.1\r\nContent-Length: 4096\r\n\r\n" + b"{" * 4096, 413),
        (b"POST /users/erin HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope", 400),
        (b"POST /users/erin HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", 400),
        (b"POST /users/erin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"POST /users/erin\r\n\r\n", 400),
        (b"POST /users/erin HTTP/1.1\r\nBroken header\r\n\r\n", 400),
        (b"POST /users/" + b"e" * 4000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"POST /users/erin HTTP/1.1\r\nX: " + b"a" * 3000 + b"\r\n\r\n", 431),
        (b"DELETE /users/erin HTTP/1.1\r\n\r\n", 405),
        (b"GET /etc/passwd HTTP/1.1\r\n\r\n", 404),
        (b"GET /users/erin?x=1 HTTP/1.1\r\n\r\n", 400),
    ],
)
def test_bad_requests_are_refused_and_create_nothing(hub, request_bytes, status):
    before = hub.snapshot()
    got, body = hub.raw(request_bytes)
    assert got == status and body["error"], body
    assert hub.snapshot() == before
    assert hub.module.get("erin") is None


def test_a_json_object_body_is_ignored(hub):
    body = b'{"uid": 0, "shell": "/bin/sh", "home": "/root"}'
    status, answer = hub.raw(
        b"POST /users/frank HTTP/1.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert status == 201
    assert UID_MIN <= answer["uid"] <= UID_MAX and answer["home"] == "/home/frank"
    assert hub.entries()["frank"][6] == "/usr/sbin/nologin"


# --- concurrency ---------------------------------------------------------------------------


def test_ten_concurrent_creations_get_ten_distinct_uids(hub):
    names = [f"conc{i}" for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(hub.module.create, names))
    uids = [r["uid"] for r in results]
    assert all(r["created"] for r in results)
    assert len(set(uids)) == 10 and all(UID_MIN <= u <= UID_MAX for u in uids)
    entries = hub.entries()
    assert sorted(int(entries[n][2]) for n in names) == sorted(uids)
    assert all(os.path.isdir(os.path.join(hub.home, n)) for n in names)


def test_concurrent_creations_of_one_name_create_it_once(hub):
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(hub.module.create, ["twin"] * 10))
    assert sum(r["created"] for r in results) == 1
    assert len({r["uid"] for r in results}) == 1
    assert [line.split(":")[0] for line in hub.read("passwd").splitlines()].count("twin") == 1


# --- the socket and the log ----------------------------------------------------------------


def test_the_socket_is_root_only(hub):
    info = os.lstat(hub.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0


def test_every_request_is_logged(hub):
    before = len(hub.log_lines())
    hub.module.create("gina")
    hub.module.create("gina")
    hub.module.get("gina")
    hub.module.list_users()
    refused(hub.module.create, "root")
    refused(hub.module.create, "a;b")
    hub.raw(b"PATCH /users/gina HTTP/1.1\r\n\r\n")
    hub.raw(b"POST /users/gina HTTP/1.1\r\nContent-Length: 2000\r\n\r\n")
    lines = hub.log_lines()[before:]
    assert [line.split(" ")[1:4] for line in lines] == [
        ["POST", "/users/gina", "201"],
        ["POST", "/users/gina", "200"],
        ["GET", "/users/gina", "200"],
        ["GET", "/users", "200"],
        ["POST", "/users/root", "403"],
        ["POST", "/users/a%3Bb", "400"],
        ["PATCH", "/users/gina", "405"],
        ["POST", "/users/gina", "413"],
    ]
    assert all(line.split(" ")[0].endswith("Z") for line in lines)
    assert lines[4].endswith(" 403 \"'root' is a reserved name\"")


# --- failures ------------------------------------------------------------------------------


def test_an_exhausted_uid_range_is_a_clear_507(make_sandbox):
    # uids 20000-20002, of which oldie holds 20001.
    small = make_sandbox(uid_min=20000, uid_max=20002)
    assert [small.module.create(n)["uid"] for n in ("one", "two")] == [20000, 20002]
    before = small.snapshot()
    message = refused(small.module.create, "three")
    assert "(507)" in message and "no free uid left in 20000-20002" in message
    assert small.snapshot() == before
    assert small.module.create("one")["created"] is False  # existing students still work


def test_a_failed_useradd_is_500_with_its_stderr_and_rolled_back(make_sandbox):
    # /home is read-only: useradd writes the account, then cannot create the home.
    broken = make_sandbox(ro_home=True)
    before = broken.snapshot()
    message = refused(broken.module.create, "henry")
    assert "(500)" in message
    assert "useradd exited with 12: useradd: cannot create directory /home/henry" in message
    assert message.endswith("rolled back: user henry")  # userdel took the group with it
    assert broken.snapshot() == before  # passwd, group, shadow, gshadow, /home as they were
    assert broken.module.get("henry") is None


def test_sigterm_removes_the_socket_and_a_killed_one_is_replaced(make_sandbox):
    sandbox = make_sandbox()
    assert sandbox.stop() == 0
    assert not os.path.exists(sandbox.socket)
    sandbox.start()
    assert sandbox.stop(signal.SIGKILL) == -signal.SIGKILL
    assert stat.S_ISSOCK(os.lstat(sandbox.socket).st_mode)  # stale, nobody listens
    sandbox.start()
    assert sandbox.module.create("ivy")["created"] is True


def test_a_second_server_on_a_live_socket_refuses_to_start(hub):
    proc = subprocess.run(
        [PYTHON, "-I", str(SCRIPT), "--socket", hub.socket, "--skeldir", hub.skel,
         "--home-base", hub.home, "--log", os.path.join(hub.dir, "second.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "another server is listening" in proc.stderr
    assert hub.module.available()

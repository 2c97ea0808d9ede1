"""
The restuser execution module and state against restuser's own HTTP server in-process.

The server here is restuser.py's real Server and Handler on a unix socket, with a stand-in
for the account database: no useradd, no root needed. tests/functional covers the real thing.
"""

import os
import shutil
import socket
import stat
import tempfile
import threading
import time

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load
from tests.common.rawsocket import raw_request as raw

restuser = load("salt/restuser/files/restuser.py")
module = load("_modules/restuser.py", {"__opts__": {}})
state = load("_states/restuser.py", {"__opts__": {"test": False}, "__salt__": {}})


class FakeAccounts:
    """The account database of a hub with root, a staff member and a broken useradd."""

    def __init__(self):
        self.students = {"grace": {"name": "grace", "uid": 10000, "gid": 10000, "home": "/h"}}

    def list(self):
        return sorted(self.students.values(), key=lambda s: s["uid"])

    def get(self, name):
        self._refuse(name)
        return self.students.get(name)

    def create(self, name):
        self._refuse(name)
        if name in self.students:
            return 200, self.students[name]
        if name == "broken":
            raise restuser.HTTPError(500, "useradd exited with 1: useradd: boom; rolled back")
        uid = 10000 + len(self.students)
        self.students[name] = {"name": name, "uid": uid, "gid": uid, "home": f"/home/{name}"}
        return 201, self.students[name]

    def _refuse(self, name):
        if name in ("root", "ada"):
            raise restuser.HTTPError(403, f"{name!r} is a reserved name")


@pytest.fixture
def sockdir():
    # Not tmp_path: a unix socket path must stay under 108 bytes.
    path = tempfile.mkdtemp(prefix="restuser-")
    yield path
    shutil.rmtree(path)


def serve(path, log_path, accounts=None):
    server = restuser.Server(path, accounts or FakeAccounts(), restuser.RequestLog(log_path))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return server, thread


@pytest.fixture
def service(sockdir, monkeypatch):
    """restuser's server on a socket, and the execution module pointed at it."""
    path = os.path.join(sockdir, "restuser.sock")
    log_path = os.path.join(sockdir, "restuser.log")
    server, thread = serve(path, log_path)
    monkeypatch.setattr(module, "__opts__", {"restuser.socket": path}, raising=False)
    yield {"path": path, "log": log_path, "server": server}
    server.shutdown()
    server.server_close()
    thread.join()


# --- the execution module ------------------------------------------------------------------


def test_create_is_idempotent_and_says_whether_it_created(service):
    first = module.create("alice")
    assert first == {"name": "alice", "uid": 10001, "gid": 10001, "home": "/home/alice"} | {
        "created": True
    }
    assert module.create("alice") == dict(first, created=False)


def test_get_returns_the_student_or_none(service):
    assert module.get("grace")["uid"] == 10000
    assert module.get("nobody-here") is None


def test_list_is_exposed_as_restuser_list(service):
    assert module.__func_alias__ == {"list_users": "list"}
    assert [s["name"] for s in module.list_users()] == ["grace"]


@pytest.mark.parametrize("func", ["create", "get"])
def test_refusals_raise_with_the_services_reason(service, func):
    with pytest.raises(CommandExecutionError, match=r"\(403\): 'root' is a reserved name"):
        getattr(module, func)("root")


def test_a_failed_useradd_raises_with_its_stderr(service):
    with pytest.raises(CommandExecutionError, match=r"\(500\): useradd exited with 1: .*boom"):
        module.create("broken")


@pytest.mark.parametrize("name", ["../x", "a/b", "a;b", "a\nb", "%2e%2e", "a b", "", "Bob"])
def test_unsafe_names_are_escaped_and_refused_by_the_service(service, name):
    with pytest.raises(CommandExecutionError, match=r"\(400\): invalid user name"):
        module.create(name)
    with open(service["log"]) as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 1 and " 400 " in lines[0]


def test_a_missing_socket_fails_clearly_without_waiting(sockdir, monkeypatch):
    path = os.path.join(sockdir, "absent.sock")
    monkeypatch.setattr(module, "__opts__", {"restuser.socket": path}, raising=False)
    started = time.monotonic()
    with pytest.raises(CommandExecutionError, match="restuser is not running: .*absent.sock"):
        module.create("alice", wait=0)
    assert time.monotonic() - started < 1
    assert module.available() is False


def test_the_module_waits_for_a_socket_that_appears(sockdir, monkeypatch):
    path = os.path.join(sockdir, "late.sock")
    monkeypatch.setattr(module, "__opts__", {"restuser.socket": path}, raising=False)
    started = []

    def start_later():
        time.sleep(0.5)
        started.append(serve(path, os.path.join(sockdir, "log")))

    later = threading.Thread(target=start_later)
    later.start()
    try:
        assert module.create("alice", wait=10)["created"] is True
    finally:
        later.join()
        server, thread = started[0]
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_answer_that_is_not_json_is_an_error(sockdir, monkeypatch):
    path = os.path.join(sockdir, "odd.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def answer():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\noops!")
        conn.close()

    thread = threading.Thread(target=answer)
    thread.start()
    monkeypatch.setattr(module, "__opts__", {"restuser.socket": path}, raising=False)
    try:
        with pytest.raises(CommandExecutionError, match="502 with a body that is not JSON"):
            module.get("alice")
    finally:
        thread.join()
        listener.close()


# --- the server over its socket ------------------------------------------------------------


def test_the_socket_is_0600(service):
    info = os.stat(service["path"])
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600


def test_every_request_is_logged(service):
    module.create("alice")
    module.get("grace")
    raw(service["path"], b"DELETE /users/alice HTTP/1.1\r\n\r\n")
    raw(service["path"], b"nonsense\r\n\r\n")
    with open(service["log"]) as handle:
        lines = handle.read().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        'POST /users/alice 201 "created, uid 10001"',
        'GET /users/grace 200 "uid 10000"',
        'DELETE /users/alice 405 "DELETE is not allowed here (allowed: GET, POST)"',
        '- - 400 "malformed request line"',
    ]
    assert stat.S_IMODE(os.stat(service["log"]).st_mode) == 0o600


def test_an_oversized_body_is_413_before_it_is_read(service):
    status, _, body = raw(
        service["path"],
        b"POST /users/alice HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n",
        shut=False,
    )
    assert status == 413 and "limit" in body["error"]
    assert module.get("alice") is None


def test_a_json_object_body_is_accepted_and_ignored(service):
    body = b'{"uid": 0, "shell": "/bin/sh"}'
    status, _, answer = raw(
        service["path"],
        b"POST /users/alice HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert status == 201 and answer["uid"] == 10001


def test_a_malformed_body_is_400_and_creates_nothing(service):
    status, _, answer = raw(
        service["path"], b"POST /users/alice HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope"
    )
    assert status == 400 and "malformed JSON" in answer["error"]
    assert module.get("alice") is None


def test_405_has_an_allow_header(service):
    status, head, _ = raw(service["path"], b"PUT /users/alice HTTP/1.1\r\n\r\n")
    assert status == 405 and "\r\nAllow: GET, POST" in head


def test_a_slow_client_gets_408(sockdir, monkeypatch):
    monkeypatch.setattr(restuser.Handler, "timeout", 0.3)
    path = os.path.join(sockdir, "slow.sock")
    server, thread = serve(path, os.path.join(sockdir, "log"))
    try:
        status, _, answer = raw(path, b"GET /users HTTP/1.1\r\n", shut=False)
        assert status == 408 and "no complete request" in answer["error"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_connections_over_the_limit_get_503(sockdir, monkeypatch):
    monkeypatch.setattr(restuser, "MAX_CONNECTIONS", 1)
    monkeypatch.setattr(restuser, "SLOT_WAIT", 0.3)
    path = os.path.join(sockdir, "busy.sock")
    server, thread = serve(path, os.path.join(sockdir, "log"))
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        hog.connect(path)
        time.sleep(0.2)  # the server has taken the only slot for it
        status, _, answer = raw(path, b"", shut=False)  # the answer comes unasked
        assert status == 503 and "more than 1 connections for 0.3s" in answer["error"]
    finally:
        hog.close()
        server.shutdown()
        server.server_close()
        thread.join()


def test_connections_over_the_limit_wait_for_a_slot(sockdir, monkeypatch):
    monkeypatch.setattr(restuser, "MAX_CONNECTIONS", 1)
    path = os.path.join(sockdir, "queue.sock")
    server, thread = serve(path, os.path.join(sockdir, "log"))
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        hog.connect(path)
        time.sleep(0.2)
        threading.Timer(0.5, hog.close).start()  # frees the slot while the next one waits
        status, _, answer = raw(path, b"GET /users HTTP/1.1\r\n\r\n")
        assert status == 200 and answer[0]["name"] == "grace"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_stale_socket_is_replaced(sockdir):
    path = os.path.join(sockdir, "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays, nobody listens
    restuser.prepare_socket_path(path)
    assert not os.path.exists(path)


def test_a_live_socket_or_a_file_is_never_replaced(service, sockdir):
    with pytest.raises(SystemExit, match="another server"):
        restuser.prepare_socket_path(service["path"])
    other = os.path.join(sockdir, "file")
    open(other, "w").close()
    with pytest.raises(SystemExit, match="not a socket"):
        restuser.prepare_socket_path(other)
    assert os.path.exists(other)


# --- the state -----------------------------------------------------------------------------


@pytest.fixture
def salt_state(monkeypatch):
    """The state with a fake restuser module: one existing student, grace."""
    calls = []
    students = {"grace": {"name": "grace", "uid": 10000, "gid": 10000, "home": "/home/grace"}}
    available = {"value": True}

    def fake_available(wait):
        calls.append(("available", wait))
        return available["value"]

    def fake_get(name):
        if name == "root":
            raise CommandExecutionError("restuser refused GET /users/root (403): reserved")
        return students.get(name)

    def fake_create(name):
        calls.append(("create", name))
        students[name] = {"name": name, "uid": 10001, "gid": 10001, "home": f"/home/{name}"}
        return dict(students[name], created=True)

    monkeypatch.setattr(state, "__opts__", {"test": False}, raising=False)
    monkeypatch.setattr(state, "__context__", {}, raising=False)
    monkeypatch.setattr(
        state,
        "__salt__",
        {
            "restuser.available": fake_available,
            "restuser.get": fake_get,
            "restuser.create": fake_create,
        },
        raising=False,
    )
    return {"calls": calls, "available": available, "students": students}


def test_present_leaves_an_existing_student_alone(salt_state):
    ret = state.present("grace")
    assert ret["result"] is True and ret["changes"] == {}
    assert "exists (uid 10000)" in ret["comment"]


def test_present_creates_a_missing_student(salt_state):
    ret = state.present("alan")
    assert ret["result"] is True
    assert ret["changes"] == {
        "user": {
            "old": None,
            "new": {"name": "alan", "uid": 10001, "gid": 10001, "home": "/home/alan"},
        }
    }
    assert state.present("alan")["changes"] == {}


def test_present_in_test_mode_creates_nothing(salt_state, monkeypatch):
    monkeypatch.setattr(state, "__opts__", {"test": True}, raising=False)
    ret = state.present("alan")
    assert ret["result"] is None and ret["changes"]
    assert ("create", "alan") not in salt_state["calls"]
    assert state.present("grace")["result"] is True


def test_present_in_test_mode_before_the_service_exists(salt_state, monkeypatch):
    monkeypatch.setattr(state, "__opts__", {"test": True}, raising=False)
    salt_state["available"]["value"] = False
    ret = state.present("alan")
    assert ret["result"] is None and "not running yet" in ret["comment"]
    assert salt_state["calls"] == [("available", 0)]  # no waiting in test mode


def test_present_fails_once_per_run_when_the_service_is_down(salt_state):
    salt_state["available"]["value"] = False
    first, second = state.present("alan", wait=7), state.present("grace", wait=7)
    assert first["result"] is False and second["result"] is False
    assert "restuser is not running" in first["comment"]
    assert salt_state["calls"] == [("available", 7)]  # the second did not wait again


def test_present_reports_a_refusal(salt_state):
    ret = state.present("root")
    assert ret["result"] is False and "403" in ret["comment"]

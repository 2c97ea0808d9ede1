"""
The socket (root only), the request log, and the service's life: SIGTERM removes the
socket, a killed one's stale socket is replaced, a second server refuses a live socket.
"""

import os
import signal
import stat
import subprocess

from tests.common.restuser_sandbox import NEEDS_UNSHARE, PYTHON, SCRIPT, refused

pytestmark = NEEDS_UNSHARE


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
         "--home-base", hub.home, "--log", os.path.join(hub.dir, "second.log"),
         "--reserved-names", "root"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "another server is listening" in proc.stderr
    assert hub.module.available()

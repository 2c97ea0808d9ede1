"""
Students' system users on the hub, through the restuser service.

restuser (salt/restuser/files/restuser.py) is the root service that creates students'
accounts for the JupyterHub container; it speaks JSON over HTTP on a unix socket only.
This module is its client, so states can pre-create the pillar's students and admins can
look accounts up from the master.

The socket is ``/run/restuser/restuser.sock``; the minion option ``restuser.socket``
overrides it. Every function waits up to ``wait`` seconds for the socket to appear and
accept connections (the service may just have been started).
"""

import http.client
import json
import socket
import time
import urllib.parse

from salt.exceptions import CommandExecutionError

__virtualname__ = "restuser"
__func_alias__ = {"list_users": "list"}

SOCKET = "/run/restuser/restuser.sock"
# useradd copies the skeleton while the client waits.
TIMEOUT = 90
RETRY_INTERVAL = 0.2


def __virtual__():
    return __virtualname__


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket: the host name only fills the Host header."""

    def __init__(self, path, timeout=TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _socket_path():
    return __opts__.get("restuser.socket", SOCKET)


def _connect(path, wait):
    """A connected UnixHTTPConnection, retrying for ``wait`` seconds while nobody listens."""
    deadline = time.monotonic() + wait
    while True:
        conn = UnixHTTPConnection(path)
        try:
            conn.connect()
            return conn
        # Missing or refused: not (yet) running. BlockingIOError: its backlog is full.
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError) as exc:
            conn.close()
            if time.monotonic() >= deadline:
                state = "is overloaded" if isinstance(exc, BlockingIOError) else "is not running"
                raise CommandExecutionError(
                    f"restuser {state}: cannot connect to {path} ({exc.strerror}); "
                    "check `systemctl status restuser` on the hub"
                ) from None
            time.sleep(RETRY_INTERVAL)
        except OSError as exc:
            conn.close()
            raise CommandExecutionError(f"cannot connect to restuser at {path}: {exc}") from None


def _request(method, path, wait):
    """``(status, decoded JSON)`` of one request; errors of the transport raise."""
    conn = _connect(_socket_path(), wait)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        status, raw = response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise CommandExecutionError(f"restuser {method} {path} failed: {exc}") from None
    finally:
        conn.close()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CommandExecutionError(
            f"restuser {method} {path}: {status} with a body that is not JSON: {raw[:200]!r}"
        ) from None
    return status, data


def _fail(method, path, status, data):
    reason = data.get("error") if isinstance(data, dict) else None
    raise CommandExecutionError(f"restuser refused {method} {path} ({status}): {reason or data}")


def _user_path(name):
    # Every character but letters, digits and _.- is escaped: the service decodes it once
    # and refuses the name, so nothing in a name can change the path.
    return "/users/" + urllib.parse.quote(str(name), safe="")


def available(wait=0):
    """
    True when restuser accepts connections within ``wait`` seconds.

    CLI Example:

    .. code-block:: bash

        salt hub restuser.available
    """
    try:
        _connect(_socket_path(), wait).close()
    except CommandExecutionError:
        return False
    return True


def create(name, wait=10):
    """
    Create the student ``name`` (idempotent) and return ``{"name", "uid", "gid", "home",
    "created"}``; ``created`` is false when the student already existed.

    CLI Example:

    .. code-block:: bash

        salt hub restuser.create alice
    """
    path = _user_path(name)
    status, data = _request("POST", path, wait)
    if status not in (200, 201):
        _fail("POST", path, status, data)
    return dict(data, created=status == 201)


def get(name, wait=10):
    """
    The student ``name`` as ``{"name", "uid", "gid", "home"}``, or ``None`` if there is no
    such student. Names of other accounts (root, staff) are refused with an error.

    CLI Example:

    .. code-block:: bash

        salt hub restuser.get alice
    """
    path = _user_path(name)
    status, data = _request("GET", path, wait)
    if status == 404:
        return None
    if status != 200:
        _fail("GET", path, status, data)
    return data


def list_users(wait=10):
    """
    Every student account (uid in the student range), sorted by uid.

    CLI Example:

    .. code-block:: bash

        salt hub restuser.list
    """
    status, data = _request("GET", "/users", wait)
    if status != 200:
        _fail("GET", "/users", status, data)
    return data

#!/usr/bin/python3
# One file on purpose (issue #10): salt deploys it alone (salt/restuser/init.sls) and
# systemd runs it as root with Debian's python3, standard library only, importing nothing
# of ours; a root service that creates accounts is audited as one unit. Its sections:
# pure functions (parsing, routing), accounts, the server and its command line.
"""
restuser: create students' system users on the hub, for JupyterHub running in a container.

A re-creation of minrk/restuser, hardened. It runs as root (systemd, restuser.service) and
listens only on a unix socket with mode 0600, in a 0700 directory that is bind-mounted into
the hub container. Standard library only: it runs with Debian's python3.

API (JSON in and out; every error is ``{"error": reason}``):

``POST /users/<name>``
    Create the student ``name``: 201 with ``{"name", "uid", "gid", "home"}``, or 200 with
    the same for an existing student (idempotent). useradd makes the account with the
    lowest free uid in [uid_min, uid_max] (preferring one whose gid is also free, for the
    user private group), home ``<home-base>/<name>`` (mode 0700) from the skeleton, and
    /bin/bash. A home that outlived its account (a rebuilt hub, restored homes) is adopted
    when its owner is a student uid no account holds: the account gets that uid back and
    the home is left as it is. No body is needed; a body, if sent, must be a JSON object
    and is ignored.
``GET /users/<name>``
    200 with the same JSON, or 404.
``GET /users``
    200 with the list of student accounts (every account whose uid is in the range).

Refusals: 400 a name not matching ``^[a-z_][a-z0-9_-]{0,31}$`` after URL-decoding, a
malformed request or body, a query string; 403 a reserved name (root, system and service
accounts), an existing account outside the uid range, or a name held by an existing group;
404 an unknown path or student; 405 another method; 408 a request too slow to arrive; 409 a
home directory already at the path that cannot be adopted; 411 a chunked body; 413 a body
over 1 KiB; 414 a request line over 2 KiB; 431 headers over the limits; 500 useradd failed
(its stderr; whatever it had created is removed again); 503 too many connections for too
long; 507 no free uid left in the range.

Every request is logged as one line to ``--log``: time, method, path, status, reason.
"""

import argparse
import datetime
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import threading
import traceback
import urllib.parse

NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

# Request limits: the only client is the hub, whose requests are a few hundred bytes.
MAX_LINE = 2048  # request line and each header line, in bytes
MAX_HEADERS = 32
MAX_HEAD = 8192  # request line and headers together
MAX_BODY = 1024
TIMEOUT = 10  # seconds a client may take to send its request
MAX_CONNECTIONS = 32  # handled at once; more wait in the listen backlog ...
SLOT_WAIT = 10  # ... for up to this many seconds for a free slot, then get 503
USERADD_TIMEOUT = 60

# Students never log in to the hub itself (their servers give them bash): no shell here.
SHELL = "/usr/sbin/nologin"
HOME_MODE = "0700"
TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but TAB
VERSION_RE = re.compile(r"HTTP/(\d)\.(\d)")

REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
    507: "Insufficient Storage",
}


class HTTPError(Exception):
    """A refusal: the status to answer and the reason, sent as ``{"error": reason}``."""

    def __init__(self, status, reason, allow=None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.allow = allow
        # The request line's method and target, when it got that far (for the log).
        self.method = self.target = "-"


class Request:
    """A parsed request: method, raw target, lower-cased headers, body bytes."""

    def __init__(self, method, target, headers, body=b""):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body


# --- pure functions ------------------------------------------------------------------------


def check_name(name):
    """Return ``name`` if it is a safe user name, else raise HTTPError 400."""
    # fullmatch, not match with $: "$" also matches before a trailing newline.
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise HTTPError(400, f"invalid user name {name!r}: need {NAME_RE.pattern}")
    return name


def pick_uid(used_uids, used_gids, uid_min, uid_max):
    """
    The lowest uid in [uid_min, uid_max] no account has, preferring one no group has as
    its gid (so the user private group gets the same number); None when the range is full.
    """
    first_free = None
    for uid in range(uid_min, uid_max + 1):
        if uid in used_uids:
            continue
        if uid not in used_gids:
            return uid
        if first_free is None:
            first_free = uid
    return first_free


def read_request(rfile):
    """
    Read one request from the binary file ``rfile`` within the limits above.

    Returns a Request, None when the client sent nothing at all, or raises HTTPError.
    The request line and headers are parsed strictly: one client, no need for leniency.
    """
    line = _read_line(rfile, 414, "request line")
    if line is None:
        return None
    head_size = len(line)
    parts = line.split(" ")
    if len(parts) != 3:
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if not TOKEN_RE.fullmatch(method):
        raise HTTPError(400, "malformed method")
    match = VERSION_RE.fullmatch(version)
    if not match:
        raise HTTPError(400, "malformed HTTP version")
    if match.group(1) != "1":
        raise HTTPError(505, f"{version} is not supported: use HTTP/1.1")
    request = Request(method, target, {})
    try:
        _read_head_and_body(rfile, request, head_size)
    except HTTPError as exc:
        exc.method, exc.target = method, target
        raise
    return request


def _read_head_and_body(rfile, request, head_size):
    while True:
        line = _read_line(rfile, 431, "header line")
        if line is None:
            raise HTTPError(400, "incomplete request")
        if line == "":
            break
        head_size += len(line)
        if head_size > MAX_HEAD:
            raise HTTPError(431, f"request head over {MAX_HEAD} bytes")
        if len(request.headers) >= MAX_HEADERS:
            raise HTTPError(431, f"more than {MAX_HEADERS} headers")
        key, sep, value = line.partition(":")
        if not sep or not TOKEN_RE.fullmatch(key):
            raise HTTPError(400, "malformed header line")
        key = key.lower()
        if key in request.headers:
            raise HTTPError(400, f"duplicate header {key}")
        request.headers[key] = value.strip(" \t")
    request.body = _read_body(rfile, request.headers)


def _read_line(rfile, status, what):
    raw = rfile.readline(MAX_LINE + 1)
    if not raw:
        return None
    if len(raw) > MAX_LINE:
        raise HTTPError(status, f"{what} over {MAX_LINE} bytes")
    if not raw.endswith(b"\n"):
        raise HTTPError(400, "incomplete request")
    text = raw.decode("latin-1").removesuffix("\n").removesuffix("\r")
    if CONTROL_RE.search(text):
        raise HTTPError(400, f"control character in {what}")
    return text


def _read_body(rfile, headers):
    if "transfer-encoding" in headers:
        raise HTTPError(411, "send a body with Content-Length, not Transfer-Encoding")
    length = headers.get("content-length")
    if length is None:
        return b""
    if not length.isdigit() or not length.isascii():
        raise HTTPError(400, "malformed Content-Length")
    length = int(length)
    if length > MAX_BODY:
        raise HTTPError(413, f"body of {length} bytes is over the {MAX_BODY} byte limit")
    body = rfile.read(length)
    if len(body) < length:
        raise HTTPError(400, "incomplete body")
    return body


def parse_body(body):
    """A request body is optional; when present it must be a JSON object (then ignored)."""
    if not body:
        return None
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPError(400, f"malformed JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise HTTPError(400, "the body must be a JSON object")
    return value


def route(method, target):
    """
    ``(action, name)`` for a request: ("list", None), ("get", name) or ("create", name).

    The name is URL-decoded once before it is checked, so an encoded slash, dot, newline
    or semicolon reaches the check and is refused as a bad name, never as a path.
    """
    if not target.startswith("/"):
        raise HTTPError(400, "the request target must be a path")
    if "?" in target or "#" in target:
        raise HTTPError(400, "query strings are not accepted")
    if target == "/users":
        actions = {"GET": "list"}
        raw_name = None
    elif target.startswith("/users/"):
        actions = {"GET": "get", "POST": "create"}
        raw_name = target[len("/users/") :]
    else:
        raise HTTPError(404, "no such path")
    if method not in actions:
        allow = ", ".join(sorted(actions))
        raise HTTPError(405, f"{method} is not allowed here (allowed: {allow})", allow=allow)
    if raw_name is None:
        return actions[method], None
    try:
        name = urllib.parse.unquote(raw_name, errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "the name is not valid UTF-8") from None
    return actions[method], check_name(name)


def clean(text, limit=256):
    """``text`` for a log line: no spaces or control characters, at most ``limit`` long."""
    text = "".join(c if "!" <= c <= "~" else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def log_line(when, method, path, status, reason):
    """One line of the request log: time, method, path, status, reason (JSON string)."""
    stamp = when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{stamp} {clean(method)} {clean(path)} {status} {json.dumps(reason)}\n"


def response_bytes(status, payload, allow=None):
    """A complete HTTP/1.1 response; the connection closes after it."""
    body = (json.dumps(payload) + "\n").encode()
    head = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if allow:
        head.append(f"Allow: {allow}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# --- accounts ------------------------------------------------------------------------------


class Accounts:
    """The students: system accounts whose uid lies in [uid_min, uid_max]."""

    def __init__(self, uid_min, uid_max, skeldir, home_base, reserved):
        self.uid_min = uid_min
        self.uid_max = uid_max
        self.skeldir = skeldir
        self.home_base = home_base
        self.reserved = frozenset(reserved)
        # One lock for every read and write of the account databases: creations are
        # serialised (no two pick the same uid) and getpwent() is not thread-safe.
        self.lock = threading.Lock()

    def describe(self, entry):
        return {
            "name": entry.pw_name,
            "uid": entry.pw_uid,
            "gid": entry.pw_gid,
            "home": entry.pw_dir,
        }

    def is_student(self, entry):
        return self.uid_min <= entry.pw_uid <= self.uid_max

    def list(self):
        with self.lock:
            entries = [e for e in pwd.getpwall() if self.is_student(e)]
        return [self.describe(e) for e in sorted(entries, key=lambda e: e.pw_uid)]

    def get(self, name):
        """The student's JSON, None when there is no such account; 403 for other accounts."""
        check_name(name)
        with self.lock:
            return self._lookup(name)

    def _lookup(self, name):
        if name in self.reserved:
            raise HTTPError(403, f"{name!r} is a reserved name")
        entry = _getpwnam(name)
        if entry is None:
            return None
        if not self.is_student(entry):
            raise HTTPError(
                403,
                f"{name!r} is an existing account outside the student uid range "
                f"{self.uid_min}-{self.uid_max}",
            )
        return self.describe(entry)

    def create(self, name):
        """``(status, json)``: 200 for an existing student, 201 after creating one."""
        check_name(name)
        with self.lock:
            existing = self._lookup(name)
            if existing is not None:
                return 200, existing
            if _getgrnam(name) is not None:
                raise HTTPError(403, f"a group named {name!r} already exists")
            home = os.path.join(self.home_base, name)
            adopted = self._adoptable_uid(home) if os.path.lexists(home) else None
            if adopted is None and not os.path.isdir(self.skeldir):
                raise HTTPError(500, f"the skeleton directory {self.skeldir} is missing")
            uid = adopted or pick_uid(
                {e.pw_uid for e in pwd.getpwall()},
                {g.gr_gid for g in grp.getgrall()},
                self.uid_min,
                self.uid_max,
            )
            if uid is None:
                raise HTTPError(507, f"no free uid left in {self.uid_min}-{self.uid_max}")
            problem = self._useradd(name, uid, home, create_home=adopted is None)
            if problem is None:
                problem, entry = self._verify(name, uid, home)
            if problem is not None:
                # Nothing of this name existed before (checked above, under the lock):
                # whatever exists now was made by this request and is removed again;
                # an adopted home is the student's data and is never removed.
                raise HTTPError(
                    500, problem + self._rollback(name, uid, home, remove_home=adopted is None)
                )
            return 201, self.describe(entry)

    def _adoptable_uid(self, home):
        """
        The uid to recreate a lost account with, for a home that outlived it (a rebuilt hub
        over the old /home, or homes restored from a backup): the home's owner, when that is
        a student uid no account holds. Anything else is refused with 409.
        """
        info = os.lstat(home)
        owner = info.st_uid
        if not stat.S_ISDIR(info.st_mode):
            reason = "is not a directory"
        elif not self.uid_min <= owner <= self.uid_max:
            reason = f"is owned by uid {owner}, outside the student range"
        elif any(e.pw_uid == owner for e in pwd.getpwall()):
            reason = f"is owned by uid {owner}, which another account holds"
        else:
            return owner
        raise HTTPError(
            409, f"{home} already exists with no account and {reason}: an admin must resolve it"
        )

    def useradd_command(self, name, uid, home, create_home=True):
        make_home = (
            ["--create-home", "--skel", self.skeldir] if create_home else ["--no-create-home"]
        )
        return [
            "useradd",
            "--uid",
            str(uid),
            "--user-group",
            *make_home,
            "--home-dir",
            home,
            "--shell",
            SHELL,
            "--key",
            f"HOME_MODE={HOME_MODE}",
            # No subordinate uid ranges: students run no rootless containers on the hub,
            # and a large class would exhaust the subuid space.
            "--key",
            "SUB_UID_COUNT=0",
            "--key",
            "SUB_GID_COUNT=0",
            "--",
            name,
        ]

    def _useradd(self, name, uid, home, create_home=True):
        """None on success, else what went wrong."""
        try:
            proc = _run(self.useradd_command(name, uid, home, create_home))
        except subprocess.TimeoutExpired:
            return f"useradd did not finish within {USERADD_TIMEOUT}s"
        except OSError as exc:
            return f"cannot run useradd: {exc}"
        if proc.returncode != 0:
            return f"useradd exited with {proc.returncode}: {proc.stderr.strip()}"
        return None

    def _verify(self, name, uid, home):
        entry = _getpwnam(name)
        if entry is None or entry.pw_uid != uid or entry.pw_dir != home:
            return f"useradd succeeded but the account is not {name} with uid {uid}", None
        try:
            info = os.lstat(home)
        except OSError as exc:
            return f"useradd succeeded but the home directory is missing: {exc}", None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            return f"useradd succeeded but {home} is not a directory owned by {uid}", None
        return None, entry

    def _rollback(self, name, uid, home, remove_home=True):
        """Remove what a failed creation left; returns a note for the error reason."""
        removed, notes = [], []
        if _getpwnam(name) is not None:
            output = _try(["userdel", *(["--remove"] if remove_home else []), "--", name])
            if _getpwnam(name) is None:
                removed.append(f"user {name}")
            else:
                notes.append(f"userdel failed: {output}")
        if _getgrnam(name) is not None:
            output = _try(["groupdel", "--", name])
            if _getgrnam(name) is None:
                removed.append(f"group {name}")
            else:
                notes.append(f"groupdel failed: {output}")
        try:
            info = os.lstat(home) if remove_home else None
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid in (uid, 0):
            shutil.rmtree(home, ignore_errors=True)
            if not os.path.lexists(home):
                removed.append(home)
        if remove_home and os.path.lexists(home):
            notes.append(f"{home} is left behind")
        if notes:
            return "; rollback incomplete: " + "; ".join(notes)
        return "; rolled back: " + (", ".join(removed) if removed else "nothing was created")


def _run(argv):
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        env=TOOL_ENV,
        timeout=USERADD_TIMEOUT,
        check=False,
    )


def _try(argv):
    """Run a rollback command; its stderr, or why it could not run."""
    try:
        return _run(argv).stderr.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)


def _getpwnam(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _getgrnam(name):
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


# --- the server ----------------------------------------------------------------------------


class RequestLog:
    """Appends one line per request; reopened every time, so logrotate needs no signal."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, method, path, status, reason):
        line = log_line(datetime.datetime.now(datetime.UTC), method, path, status, reason)
        with self.lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as exc:
                print(f"restuser: cannot write {self.path}: {exc}", file=sys.stderr, flush=True)


class Handler(socketserver.StreamRequestHandler):
    """One request per connection; the answer closes it."""

    timeout = TIMEOUT

    def handle(self):
        method, target = "-", "-"
        allow = None
        try:
            request = read_request(self.rfile)
            if request is None:
                return  # connected and closed: nothing to answer or log
            method, target = request.method, request.target
            status, payload, reason = self.dispatch(request)
        except HTTPError as exc:
            status, reason, allow = exc.status, exc.reason, exc.allow
            payload = {"error": reason}
            if exc.method != "-":
                method, target = exc.method, exc.target
        except TimeoutError:
            status, reason = 408, f"no complete request within {TIMEOUT}s"
            payload = {"error": reason}
        except ConnectionError:
            return  # the client hung up mid-request: nobody to answer
        except Exception:  # answer 500 and keep serving; the trace goes to the journal
            traceback.print_exc(file=sys.stderr)
            status, reason = 500, "internal error (see journalctl -u restuser)"
            payload = {"error": reason}
        # Logged before the answer: once a client has its answer, the log has the line.
        self.server.request_log.write(method, target, status, reason)
        try:
            self.wfile.write(response_bytes(status, payload, allow))
        except OSError:
            pass  # the client went away; the request is logged all the same

    def dispatch(self, request):
        action, name = route(request.method, request.target)
        parse_body(request.body)
        accounts = self.server.accounts
        if action == "list":
            students = accounts.list()
            return 200, students, f"{len(students)} students"
        if action == "get":
            found = accounts.get(name)
            if found is None:
                raise HTTPError(404, f"no student {name!r}")
            return 200, found, f"uid {found['uid']}"
        status, info = accounts.create(name)
        verb = "created" if status == 201 else "exists"
        return status, info, f"{verb}, uid {info['uid']}"


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A thread per connection, at most MAX_CONNECTIONS at once; closing waits for them."""

    daemon_threads = False
    block_on_close = True
    # Connections waiting to be accepted: a class starting at once must not find it full.
    request_queue_size = 128

    def __init__(self, path, accounts, request_log):
        self.accounts = accounts
        self.request_log = request_log
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(path, Handler)

    def server_bind(self):
        # The socket is created 0600 (umask), never briefly open to others.
        old = os.umask(0o177)
        try:
            super().server_bind()
        finally:
            os.umask(old)
        os.chmod(self.server_address, 0o600)

    def process_request(self, request, client_address):
        # Waiting here stops accepting: a burst (a class logging in at once) queues in the
        # listen backlog instead of being refused.
        if not self.slots.acquire(timeout=SLOT_WAIT):
            reason = f"more than {MAX_CONNECTIONS} connections for {SLOT_WAIT}s"
            self.request_log.write("-", "-", 503, reason)
            try:
                # Take what the client has sent already: closing a unix socket with unread
                # data resets the connection before the client can read the answer.
                request.setblocking(False)
                request.recv(MAX_HEAD + MAX_BODY)
            except OSError:
                pass
            try:
                request.setblocking(True)
                request.sendall(response_bytes(503, {"error": reason}))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def prepare_socket_path(path):
    """Remove a stale socket; refuse to start over a live one or over anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SystemExit(f"restuser: {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: left by a killed restuser
    else:
        raise SystemExit(f"restuser: another server is listening on {path}")
    finally:
        probe.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/run/restuser/restuser.sock")
    parser.add_argument("--uid-min", type=int, default=10000)
    parser.add_argument("--uid-max", type=int, default=59999)
    parser.add_argument("--skeldir", default="/srv/skeldir")
    parser.add_argument("--home-base", default="/home")
    parser.add_argument("--log", default="/var/log/restuser.log")
    # The site pillar's users:reserved_names (salt/users/defaults.yaml), comma-separated:
    # names never handed to a student even when no such account exists yet.
    parser.add_argument("--reserved-names", required=True, type=_names)
    args = parser.parse_args(argv)
    if not 1000 <= args.uid_min <= args.uid_max < 2**31 - 1:
        parser.error("need 1000 <= --uid-min <= --uid-max < 2147483647")
    if args.uid_min <= 65534 <= args.uid_max or args.uid_min <= 65535 <= args.uid_max:
        parser.error("the uid range must not contain 65534 (nobody) or 65535")
    for option in ("socket", "skeldir", "home_base", "log"):
        if not os.path.isabs(getattr(args, option)):
            parser.error(f"--{option.replace('_', '-')} must be an absolute path")
    if not os.path.isdir(args.skeldir):
        parser.error(f"--skeldir {args.skeldir} is not a directory")
    if not os.path.isdir(args.home_base):
        parser.error(f"--home-base {args.home_base} is not a directory")
    return args


def _names(value):
    names = frozenset(value.split(","))
    if "root" not in names or not all(NAME_RE.fullmatch(name) for name in names):
        raise argparse.ArgumentTypeError("a comma-separated list of user names, root among them")
    return names


def _stop(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    args = parse_args(argv)
    prepare_socket_path(args.socket)
    accounts = Accounts(
        args.uid_min, args.uid_max, args.skeldir, args.home_base, args.reserved_names
    )
    server = Server(args.socket, accounts, RequestLog(args.log))
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        f"restuser: listening on {args.socket}, uids {args.uid_min}-{args.uid_max}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        # A second signal must not cut the wait below short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.server_close()  # waits for requests in flight (a useradd) to finish
        try:
            os.unlink(args.socket)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    main()

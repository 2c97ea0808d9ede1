"""
A stand-in for JupyterHub's REST API on loopback (``FakeHub``): the shapes JupyterHub 5
answers with, pagination included, the token it accepts (``TOKEN``), and a class of users
in every state a cull meets (``CLASS``) with the cull pillar (``CULL``) to judge them by.
"""

import copy
import datetime
import http.server
import json
import threading
import time
import urllib.parse

TOKEN = "s3cret-token"
NOW = datetime.datetime.now(datetime.UTC)


def iso(seconds_ago):
    return (NOW - datetime.timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def user(name, idle=None, started=None, admin=False, pending=None, ready=True):
    """A hub user model; ``idle`` seconds since the server's last activity (None: no server)."""
    servers = {}
    if idle is not None or started is not None or pending:
        servers[""] = {
            "name": "", "ready": ready and not pending, "pending": pending,
            "started": iso(started if started is not None else idle or 0),
            "last_activity": iso(idle) if idle is not None else None,
        }  # fmt: skip
    return {"name": name, "admin": admin, "last_activity": None, "servers": servers}


class FakeHub(http.server.ThreadingHTTPServer):
    """Users, a page size, and a log of requests; DELETE stops after one more GET (202)."""

    daemon_threads = True

    def __init__(self, users, page=2, delete_delay=0.0):
        super().__init__(("127.0.0.1", 0), Handler)
        self.users = {u["name"]: copy.deepcopy(u) for u in users}
        self.page = page
        self.delete_delay = delete_delay
        self.requests = []
        self.stopping = set()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hub/api"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=None):
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def authorized(self):
        hub = self.server
        url = urllib.parse.urlsplit(self.path)
        hub.requests.append((self.command, url.path, urllib.parse.parse_qs(url.query)))
        if self.headers.get("Authorization") != f"token {TOKEN}":
            self.reply(403, {"status": 403, "message": "Forbidden"})
            return None
        return url

    def do_GET(self):
        hub = self.server
        url = self.authorized()
        if url is None:
            return
        if url.path == "/hub/api/":
            return self.reply(200, {"version": "5.5.1"})
        if url.path == "/hub/api/users":
            query = urllib.parse.parse_qs(url.query)
            users = sorted(hub.users.values(), key=lambda u: u["name"])
            if query.get("state") == ["ready"]:
                users = [u for u in users if u["servers"].get("", {}).get("ready")]
            offset = int(query.get("offset", ["0"])[0])
            items = users[offset : offset + hub.page]
            following = None
            if offset + hub.page < len(users):
                following = {"offset": offset + hub.page, "limit": hub.page, "url": "..."}
            pagination = {"offset": offset, "limit": hub.page, "total": len(users)}
            pagination["next"] = following
            return self.reply(200, {"items": items, "_pagination": pagination})
        name = url.path.removeprefix("/hub/api/users/")
        if name not in hub.users:
            return self.reply(404, {"status": 404, "message": "Not Found"})
        if name in hub.stopping:
            hub.stopping.discard(name)
            hub.users[name]["servers"] = {}
        return self.reply(200, hub.users[name])

    def do_DELETE(self):
        hub = self.server
        url = self.authorized()
        if url is None:
            return
        name = url.path.removeprefix("/hub/api/users/").removesuffix("/server")
        if name not in hub.users:
            return self.reply(404, {"status": 404, "message": "Not Found"})
        server = hub.users[name]["servers"].get("")
        if server is None:
            return self.reply(404, {"status": 404, "message": f"{name} has no server"})
        if server.get("pending"):
            return self.reply(400, {"status": 400, "message": f"{name} is pending spawn"})
        with hub.lock:
            hub.in_flight += 1
            hub.max_in_flight = max(hub.max_in_flight, hub.in_flight)
        time.sleep(hub.delete_delay)
        with hub.lock:
            hub.in_flight -= 1
        hub.stopping.add(name)
        return self.reply(202)


CULL = {"timeout": 3600, "max_age": 0, "exempt_admins": True, "interval": 600}

CLASS = [
    user("alice", idle=7200),  # idle 2 h
    user("bob", idle=60),  # active a minute ago
    user("carol"),  # no server
    user("dave", idle=None, started=9000),  # never any activity: idle since its start
    user("labadmin", idle=99999, admin=True),
    user("erin", pending="spawn"),
]

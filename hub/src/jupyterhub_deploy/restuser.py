"""
A small asyncio client of restuser, the hub host's service that creates students' system
users (salt/restuser), over its unix socket.

API: ``POST /users/<name>`` creates (or returns) a student, ``GET /users/<name>`` looks one
up (404: none); both answer ``{"name", "uid", "gid", "home"}``; errors are
``{"error": reason}`` with a 4xx/5xx status.

Standard library only: the request is one short HTTP/1.1 exchange with ``Connection:
close``, which keeps the parsing small.
"""

import asyncio
import json
import re
import urllib.parse

DEFAULT_SOCKET = "/run/restuser/restuser.sock"

# What useradd accepts on Debian, without dots or capitals (the site pillar's rule too).
SAFE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def is_safe_name(name, reserved):
    """True for a name that can be a system account (and a swarm service name); ``reserved``:
    the site's users:reserved_names, which restuser refuses as well."""
    return isinstance(name, str) and bool(SAFE_NAME_RE.match(name)) and name not in reserved


class RestuserError(Exception):
    """restuser refused a request (``status`` and its ``reason``)."""

    def __init__(self, status, reason):
        super().__init__(f"restuser answered {status}: {reason}")
        self.status = status
        self.reason = reason


class RestuserUnavailable(Exception):
    """restuser could not be reached (socket missing, connection refused, timeout)."""


class RestuserClient:
    """Talks to restuser over ``socket_path``; every call is one connection."""

    def __init__(self, socket_path=DEFAULT_SOCKET, timeout=10.0):
        self.socket_path = socket_path
        self.timeout = timeout

    async def get_user(self, name):
        """The account of ``name`` (a dict), or None when restuser has none."""
        status, body = await self.request("GET", _user_path(name))
        if status == 404:
            return None
        return _account(status, body, name)

    async def create_user(self, name):
        """Create ``name`` if needed (idempotent) and return its account."""
        status, body = await self.request("POST", _user_path(name))
        return _account(status, body, name)

    async def request(self, method, path):
        """``(status, parsed JSON body)`` of one request."""
        try:
            return await asyncio.wait_for(self._exchange(method, path), self.timeout)
        except TimeoutError as exc:
            raise RestuserUnavailable(
                f"restuser at {self.socket_path} did not answer {method} {path} "
                f"within {self.timeout:g}s"
            ) from exc
        except OSError as exc:
            raise RestuserUnavailable(
                f"cannot reach restuser at {self.socket_path}: {exc.strerror or exc}"
            ) from exc

    async def _exchange(self, method, path):
        reader, writer = await asyncio.open_unix_connection(self.socket_path)
        try:
            writer.write(
                (
                    f"{method} {path} HTTP/1.1\r\n"
                    "Host: restuser\r\n"
                    "Accept: application/json\r\n"
                    "Content-Length: 0\r\n"
                    "Connection: close\r\n\r\n"
                ).encode("ascii")
            )
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
        return parse_response(raw)


def parse_response(raw):
    """``(status, JSON body or None)`` from a whole HTTP/1.1 response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise RestuserUnavailable(f"restuser sent an incomplete response: {raw[:80]!r}")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise RestuserUnavailable(f"restuser sent a malformed status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in headers:
        body = body[: int(headers["content-length"])]
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    return int(parts[1]), data


def _dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def _user_path(name):
    return "/users/" + urllib.parse.quote(name, safe="")


def _account(status, body, name):
    if status not in (200, 201):
        reason = body.get("error") if isinstance(body, dict) else None
        raise RestuserError(status, reason or "no reason given")
    if not isinstance(body, dict):
        raise RestuserError(status, "the answer is not a JSON object")
    try:
        account = {
            "name": str(body["name"]),
            "uid": int(body["uid"]),
            "gid": int(body["gid"]),
            "home": str(body.get("home") or f"/home/{name}"),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise RestuserError(status, f"the answer lacks name/uid/gid: {body!r}") from exc
    if account["name"] != name:
        raise RestuserError(status, f"asked for {name!r}, got {account['name']!r}")
    return account

"""
A double of the restuser service (salt/restuser/files/restuser.py) for the hub's tests: an
asyncio HTTP server on a unix socket speaking restuser's API, every request recorded.
"""

import asyncio
import json
import re

# The user names restuser accepts; another name is answered 400, as restuser does.
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class FakeRestuser:
    """restuser's API over a unix socket: accounts by name, every request recorded."""

    def __init__(self, path, accounts=None, next_uid=10000, status=None):
        self.path = str(path)
        self.accounts = dict(accounts or {})
        self.next_uid = next_uid
        # Force an answer: (status, body) for every request.
        self.status = status
        self.requests = []
        self.server = None

    async def __aenter__(self):
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.decode().split("\r\n")[0].split(" ", 2)
        self.requests.append((method, target))
        status, body = self.answer(method, target)
        payload = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    def answer(self, method, target):
        if self.status:
            return self.status
        name = target.removeprefix("/users/")
        if not NAME_RE.match(name):
            return 400, {"error": f"{name!r} is not a valid user name"}
        if method == "GET":
            if name in self.accounts:
                return 200, self.accounts[name]
            return 404, {"error": f"no student {name!r}"}
        if name in self.accounts:
            return 200, self.accounts[name]
        uid = self.next_uid
        self.next_uid += 1
        self.accounts[name] = {"name": name, "uid": uid, "gid": uid, "home": f"/home/{name}"}
        return 201, self.accounts[name]

    @property
    def created(self):
        return [
            target.removeprefix("/users/") for method, target in self.requests if method == "POST"
        ]

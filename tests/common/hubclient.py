"""
A student's browser, as a Python client: it logs in through nginx TLS and the lab's
stand-in for Google, starts its server and talks to it over HTTP and websockets.
"""

import contextlib
import json
import threading
import time
import urllib.parse
import uuid

import requests
import websocket

from tests.common.lab import HTTPS_PORT

BASE = f"https://localhost:{HTTPS_PORT}"
WSS = f"wss://localhost:{HTTPS_PORT}"
STANDIN = "http://localhost:8088"
DOMAIN = "lab.example"


class LoginRefused(Exception):
    """The hub answered the OAuth callback with an error page."""

    def __init__(self, status, body):
        super().__init__(f"{status}: {body[:300]}")
        self.status, self.body = status, body


class Student:
    """One person's browser session against the lab's hub."""

    def __init__(self, name, ca_file):
        self.name = name
        self.ca_file = str(ca_file)
        self.http = requests.Session()
        # This machine sets REQUESTS_CA_BUNDLE, which would override `verify`.
        self.http.trust_env = False
        self.http.verify = self.ca_file

    # --- login and server -----------------------------------------------------------------

    def login(self, email=None):
        """Sign in with the stand-in Google as `email` (default name@lab.example)."""
        email = email or f"{self.name}@{DOMAIN}"
        start = self.http.get(f"{BASE}/hub/oauth_login", allow_redirects=False, timeout=30)
        assert start.status_code == 302, start.text[:300]
        authorize = urllib.parse.urlsplit(start.headers["Location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == STANDIN
        query = dict(urllib.parse.parse_qsl(authorize.query))
        picked = self.http.post(
            f"{STANDIN}{authorize.path}",
            data={"email": email, "redirect_uri": query["redirect_uri"], "state": query["state"]},
            allow_redirects=False,
            timeout=30,
        )
        assert picked.status_code == 302, picked.text[:300]
        callback = self.http.get(picked.headers["Location"], allow_redirects=False, timeout=60)
        if callback.status_code >= 400:
            raise LoginRefused(callback.status_code, callback.text)
        assert callback.status_code == 302, callback.text[:300]
        return callback

    def login_with_password(self, password):
        """Sign in with JupyterHub's login form, as a form-driving load tool (hubtraf) does."""
        form = self.http.get(f"{BASE}/hub/login", timeout=30)
        assert form.status_code == 200, form.text[:300]
        xsrf = self.http.cookies.get("_xsrf", path="/hub/") or ""
        response = self.http.post(
            f"{BASE}/hub/login",
            data={"username": self.name, "password": password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=60,
        )
        if response.status_code >= 400:
            raise LoginRefused(response.status_code, response.text)
        assert response.status_code == 302, response.text[:300]
        return response

    def hub_api(self, method, path, **kwargs):
        headers = {"X-XSRFToken": self.http.cookies.get("_xsrf", path="/hub/") or ""}
        return self.http.request(
            method, f"{BASE}/hub/api{path}", headers=headers, timeout=60, **kwargs
        )

    def start_server(self, timeout=180):
        """Start this user's server and wait until it is ready; the seconds it took."""
        started = time.monotonic()
        response = self.hub_api("POST", f"/users/{self.name}/server")
        assert response.status_code in (201, 202, 400), response.text[:300]
        while time.monotonic() - started < timeout:
            model = self.hub_api("GET", f"/users/{self.name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return time.monotonic() - started
            if server is None and model.get("pending") is None and time.monotonic() - started > 10:
                raise AssertionError(f"{self.name}'s server stopped while starting: {model}")
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server not ready after {timeout}s")

    def stop_server(self):
        response = self.hub_api("DELETE", f"/users/{self.name}/server")
        assert response.status_code in (202, 204), response.text[:300]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not self.hub_api("GET", f"/users/{self.name}").json().get("servers"):
                return
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server did not stop")

    def open_lab(self):
        """Load /user/<name>/lab as a browser does (through the server's own OAuth)."""
        page = self.http.get(f"{BASE}/user/{self.name}/lab", timeout=60)
        assert page.status_code == 200, page.text[:300]
        return page

    # --- the student's server -------------------------------------------------------------

    def server_api(self, method, path, **kwargs):
        xsrf = self.http.cookies.get("_xsrf", path=f"/user/{self.name}/") or ""
        return self.http.request(
            method,
            f"{BASE}/user/{self.name}/api{path}",
            headers={"X-XSRFToken": xsrf},
            timeout=60,
            **kwargs,
        )

    def websocket(self, path):
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        return websocket.create_connection(
            f"{WSS}/user/{self.name}{path}",
            cookie=cookies,
            origin=BASE,
            sslopt={"ca_certs": self.ca_file},
            timeout=60,
        )

    def execute(self, code, timeout=60):
        """Run `code` in a new kernel over its websocket; its stdout and result text."""
        kernel = Kernel(self)
        try:
            return kernel.run(code, timeout)
        finally:
            kernel.shutdown()

    def terminal(self, command, marker="E2E-DONE", timeout=60):
        """Run `command` in a new terminal over its websocket; the terminal's output."""
        term = self.server_api("POST", "/terminals")
        assert term.status_code == 200, term.text[:300]
        name = term.json()["name"]
        ws = self.websocket(f"/terminals/websocket/{name}")
        try:
            ws.send(json.dumps(["stdin", f"{command}; echo {marker}-$((40+2))\r"]))
            output, deadline = "", time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg[0] == "stdout":
                    output += msg[1]
                    if f"{marker}-42" in output:
                        return output
            raise AssertionError(f"terminal output without the marker: {output!r}")
        finally:
            ws.close()
            self.server_api("DELETE", f"/terminals/{name}")


class Kernel:
    """One kernel of a student's server: its state lives across websocket connections."""

    def __init__(self, student):
        self.student = student
        response = student.server_api("POST", "/kernels", json={"name": "python3"})
        assert response.status_code == 201, response.text[:300]
        self.id = response.json()["id"]

    def run(self, code, timeout=60):
        """Run `code` over a new websocket (as a reconnecting browser does); its output."""
        ws = self.channels()
        try:
            return run_on(ws, code, timeout)
        finally:
            ws.close()

    def channels(self):
        """A websocket to the kernel's channels, for :func:`run_on` (the caller closes it)."""
        return self.student.websocket(f"/api/kernels/{self.id}/channels")

    def shutdown(self):
        self.student.server_api("DELETE", f"/kernels/{self.id}")


@contextlib.contextmanager
def working_students(names, ca_file):
    """``{name: Student}`` logged in, each with a server started and its lab page open;
    servers still running are stopped afterwards."""
    people = {name: Student(name, ca_file) for name in names}
    for person in people.values():
        person.login()
        person.start_server()
        person.open_lab()
    try:
        yield people
    finally:
        for person in people.values():
            if person.hub_api("GET", f"/users/{person.name}").json().get("servers"):
                person.stop_server()


def run_on(ws, code, timeout=60):
    """Run `code` over the open kernel websocket `ws`; its stdout and result text."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps(execute_request(msg_id, code)))
    output, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "execute_result":
            output.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(output)
    raise AssertionError(f"no idle status within {timeout}s: {output}")


def execute_request(msg_id, code):
    return {
        "header": {
            "msg_id": msg_id,
            "username": "e2e",
            "session": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


class Busy(threading.Thread):
    """A student at work: an execute every second on one open kernel websocket."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws, self.stop, self.done, self.failures = ws, threading.Event(), 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                assert run_on(self.ws, "print(6 * 7)", timeout=30).strip() == "42"
                self.done += 1
            except Exception as exc:  # noqa: BLE001 (any failure is the finding)
                self.failures.append(f"after {self.done} executes: {exc!r}")
                return
            self.stop.wait(1)

    def executes_for(self, seconds):
        """Let it work ``seconds`` more; the number of executes done meanwhile."""
        before = self.done
        time.sleep(seconds)
        assert not self.failures, self.failures
        return self.done - before

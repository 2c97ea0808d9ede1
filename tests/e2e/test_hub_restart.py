"""
Students do not notice the hub going away: their servers outlive the hub being recreated
(a new image, a new overlay address), and, the proxy being a container of its own, an open
kernel websocket stays open and working across hub restarts and an nginx reload; a server
starting as the hub restarts still comes up for the student waiting on it.
"""

import threading
import time
import urllib.error
import urllib.request

from tests.common.hubclient import Kernel, Student, run_on
from tests.common.lab import HTTPS_PORT

NAME = "student09"
BUSY = "student10"
LOST = "student11"


def test_a_running_server_survives_the_hub_being_recreated(lab, ca_file):
    student = Student(NAME, ca_file)
    student.login()
    student.start_server()
    try:
        student.open_lab()
        assert student.execute("print('before')").strip() == "before"
        before = lab.exec("hub", "docker", "inspect", "-f", "{{.Id}}", "jupyterhub").stdout
        lab.exec("hub", "docker", "rm", "-f", "jupyterhub")
        result = lab.salt("hub", "state.apply", "hub")["hub"]
        assert all(state["result"] for state in result.values()), result
        lab.wait_for_hub()
        after = lab.exec("hub", "docker", "inspect", "-f", "{{.Id}}", "jupyterhub").stdout
        assert after != before
        # A new browser session: the server must ask the new hub to authorise it.
        again = Student(NAME, ca_file)
        again.login()
        again.open_lab()
        assert again.execute("print('after')").strip() == "after"
    finally:
        student.stop_server()


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


def container_id(lab, host, name):
    return lab.exec(host, "docker", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def test_an_open_kernel_websocket_outlives_hub_restarts_and_an_nginx_reload(lab, ca_file):
    """Issue #21: configurable-http-proxy ran inside the hub's container, so `docker restart
    jupyterhub` closed every student's websocket at once."""
    student = Student(BUSY, ca_file)
    student.login()
    student.start_server()
    try:
        student.open_lab()
        ws = Kernel(student).channels()
        busy = Busy(ws)
        busy.start()
        proxy = container_id(lab, "hub", "jupyterhub-proxy")
        assert busy.executes_for(3) >= 1

        lab.exec("hub", "docker", "restart", "jupyterhub")
        lab.wait_for_hub()
        assert busy.executes_for(3) >= 1, "no execute after the hub's restart"

        # Recreated by salt, as a new hub image or a settings change does.
        hub = container_id(lab, "hub", "jupyterhub")
        lab.exec("hub", "docker", "rm", "-f", "jupyterhub")
        result = lab.salt("hub", "state.apply", "hub.proxy")["hub"]
        assert all(state["result"] for state in result.values()), result
        lab.wait_for_hub()
        assert container_id(lab, "hub", "jupyterhub") != hub
        assert busy.executes_for(3) >= 1, "no execute after the hub was recreated"

        lab.exec("proxy", "systemctl", "reload", "nginx")
        assert busy.executes_for(5) >= 2, "no execute after nginx reloaded"

        assert container_id(lab, "hub", "jupyterhub-proxy") == proxy
        busy.stop.set()
        busy.join(40)
        assert not busy.failures, busy.failures
        ws.close()
        # The recreated hub still routes and spawns: a new session reaches the server.
        again = Student(BUSY, ca_file)
        again.login()
        again.open_lab()
        assert again.execute("print('still')").strip() == "still"
    finally:
        student.stop_server()


def test_a_restarted_proxy_gets_its_routes_back_and_salt_sees_them(lab, ca_file):
    """The proxy's own restart (a crash, a new image) empties its routes; the hub puts
    them back at its next activity check (the lab's hub:activity_interval is 30 s), and
    salt reads them from the proxy's API on the hub host (jupyterhub.proxy_routes, which
    salt-run jupyterhub.status compares with the running servers)."""
    student = Student(NAME, ca_file)
    student.login()
    student.start_server()
    try:
        student.open_lab()
        assert NAME in lab.salt("hub", "jupyterhub.proxy_routes")["hub"]
        lab.exec("hub", "docker", "restart", "jupyterhub-proxy")
        deadline = time.monotonic() + 90
        while NAME not in lab.salt("hub", "jupyterhub.proxy_routes")["hub"]:
            assert time.monotonic() < deadline, "the hub did not put the route back"
            time.sleep(3)
        code, status = lab.salt_run("jupyterhub.status")
        assert not [p for p in status["problems"] if "proxy" in p], status["problems"]
        assert student.execute("print('routed')").strip() == "routed"
    finally:
        student.stop_server()


def test_a_start_the_hub_loses_in_a_restart_is_asked_for_again_by_the_page(lab, browser):
    """Issue #21 item 4, in a real browser: the hub restarts just as a student's server
    starts. JupyterHub's spawn-pending page lost its progress stream for good (the proxy
    answers 503 while the hub is down) and stayed "pending"; ours waits until the hub
    answers and asks for the server again, so the student ends in JupyterLab."""
    page = browser.new_context(ignore_https_errors=True).new_page()
    try:
        page.goto(f"https://localhost:{HTTPS_PORT}/hub/login", timeout=60_000)
        page.get_by_text("Sign in with Google").click()
        page.fill("#email", f"{LOST}@lab.example")
        page.click("#signin")
        page.wait_for_url("**/hub/spawn-pending/**", timeout=60_000)
        lab.exec("hub", "docker", "restart", "jupyterhub")
        page.get_by_text("The hub restarted while your server was starting").wait_for(
            timeout=60_000
        )
        page.wait_for_url(f"**/user/{LOST}/lab**", timeout=180_000)
    finally:
        page.close()
        lab.salt("hub", "jupyterhub.stop_server", LOST)


def fetch(lab, path):
    """``(status, headers, body)`` through nginx. The wait is long: the hub's address gone
    from the overlay, the hub's proxy's first attempt waits until the kernel gives the
    address up (about 75 s: measured); later ones fail in about 6 s."""
    try:
        with urllib.request.urlopen(
            f"https://localhost:{HTTPS_PORT}{path}", context=lab.ca_context(), timeout=200
        ) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def test_while_the_hub_is_down_its_pages_say_so_and_retry(lab):
    """The hub's proxy answers a bare "Service Unavailable" while the hub restarts; nginx
    puts a page there that says why and reloads itself. A student's server's own errors
    (here: a route the hub would answer) are not dressed up."""
    lab.exec("hub", "docker", "stop", "jupyterhub")
    try:
        for path in ("/hub/login", "/hub/spawn-pending/alice"):
            status, headers, page = fetch(lab, path)
            assert status == 503, (path, status)
            assert headers["Retry-After"] == "3"
            assert headers["Strict-Transport-Security"] == "max-age=31536000"
            assert "The hub is restarting" in page and 'http-equiv="refresh"' in page
        status, _, page = fetch(lab, "/user/nobody-here/tree")
        assert status == 503 and "The hub is restarting" not in page
        # The page is nginx's alone, not a URL anyone can fetch.
        assert fetch(lab, "/jupyterhub-deploy/errors/hub-restarting.html")[0] == 404
    finally:
        lab.exec("hub", "docker", "start", "jupyterhub")
        lab.wait_for_hub()

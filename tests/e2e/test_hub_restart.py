"""
Students do not notice the hub going away: their servers outlive the hub being recreated
(a new image, a new overlay address), and, the proxy being a container of its own, an open
kernel websocket stays open and working across hub restarts and an nginx reload; a server
starting as the hub restarts still comes up for the student waiting on it.
"""

import time
from concurrent.futures import ThreadPoolExecutor

from tests.common.hubclient import Busy, Kernel, Student
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


NODES = ("node1", "node2")


def test_a_start_the_hub_loses_in_a_restart_is_asked_for_again_by_the_page(lab, browser):
    """Issue #21 item 4, in a real browser: the hub restarts while a student's server
    starts. JupyterHub's spawn-pending page lost its progress stream for good (the proxy
    answers 503 while the hub is down, the hub 400 after) and stayed "pending"; ours waits
    until the hub answers and asks for the server again, so the student ends in JupyterLab.

    The nodes take no new server meanwhile (drained), so the start surely outlasts the
    restart: a start takes about 2 s here, and with a plain restart it often finished first
    and the page never saw the hub go (CI, 2026-12-07).
    """
    page = browser.new_context(ignore_https_errors=True).new_page()
    try:
        for node in NODES:
            assert lab.salt_run("jupyterhub.drain", node)[0] == 0
        page.goto(f"https://localhost:{HTTPS_PORT}/hub/login", timeout=60_000)
        page.get_by_text("Sign in with Google").click()
        page.fill("#email", f"{LOST}@lab.example")
        page.click("#signin")
        page.wait_for_url("**/hub/spawn-pending/**", timeout=60_000)
        lab.exec("hub", "docker", "restart", "jupyterhub")
        page.get_by_text("The hub restarted while your server was starting").wait_for(
            timeout=90_000
        )
        for node in NODES:
            assert lab.salt_run("jupyterhub.undrain", node)[0] == 0
        page.wait_for_url(f"**/user/{LOST}/lab**", timeout=180_000)
    finally:
        for node in NODES:
            lab.salt_run("jupyterhub.undrain", node)
        page.close()
        lab.salt("hub", "jupyterhub.stop_server", LOST)


QUEUED = ("student12", "student13", "student14")


def ask(person):
    """POST the server's start; the hub may go away meanwhile (any answer will do)."""
    try:
        return person.hub_api("POST", f"/users/{person.name}/server").status_code
    except Exception as exc:  # noqa: BLE001 - a dropped connection is what restarts do
        return repr(exc)


def test_starts_waiting_their_turn_when_the_hub_restarts_are_never_left_pending(lab, ca_file):
    """Issue #21 item 4: with one start at a time (spawner:concurrent_starts 1), three
    students ask at once and the hub restarts while some of them wait in the StartQueue.
    Afterwards no one is left pending: each server is ready, or not running, and then
    asking again (what the progress page does) brings it up."""
    people = [Student(name, ca_file) for name in QUEUED]
    for person in people:
        lab.salt("hub", "jupyterhub.stop_server", person.name)
    with lab.site_changes({"spawner": {"concurrent_starts": 1}}):
        lab.apply_hub()
        try:
            for person in people:
                person.login()
            with ThreadPoolExecutor(len(people)) as pool:
                asked = [pool.submit(ask, person) for person in people]
                time.sleep(1.5)
                lab.exec("hub", "docker", "restart", "jupyterhub")
                print("the starts answered:", [a.result() for a in asked])
            lab.wait_for_hub()
            deadline = time.monotonic() + 180
            while True:
                models = {p.name: p.hub_api("GET", f"/users/{p.name}").json() for p in people}
                if not any(m.get("pending") for m in models.values()):
                    break
                assert time.monotonic() < deadline, f"still pending: {models}"
                time.sleep(2)
            for person in people:
                if not models[person.name].get("servers"):
                    person.start_server()  # as the progress page asks again
                person.open_lab()
        finally:
            for person in people:
                lab.salt("hub", "jupyterhub.stop_server", person.name)
    lab.apply_hub()

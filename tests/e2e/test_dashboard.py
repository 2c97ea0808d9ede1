"""
The staff dashboard in the real headless Chromium, through nginx and the hub's OAuth (the
lab's stand-in for Google signs people in): an admin sees both nodes, a running student's
memory figures and the backup line, and stops that student's server from the page; a
student is refused; an unknown range and the hub's API down are said in words. The
screenshot is kept in artifacts/dashboard.png.
"""

import datetime
import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.common.hubclient import Student
from tests.common.lab import HTTPS_PORT

URL = f"https://localhost:{HTTPS_PORT}/services/dashboard/"
STUDENT = "carol"
ADMIN = "labadmin@lab.example"


SNAPSHOT = "/srv/jupyterhub/dashboard/snapshot.json"


def snapshot_now(lab):
    """What the timer does every dashboard:refresh, now: a snapshot begun after this call.

    ``systemctl start`` of a oneshot the timer has already started only waits for that
    run, whose gather may predate what the test just did (CI caught a run that began
    while carol's server was still spawning), so start again until the snapshot's time
    is no earlier than the call (containers share the host's clock)."""
    asked = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    for _ in range(3):
        lab.exec("hub", "systemctl", "start", "jupyterhub-dashboard-snapshot.service")
        taken = json.loads(lab.exec("hub", "cat", SNAPSHOT).stdout)["time"]
        if datetime.datetime.fromisoformat(taken) >= asked:
            return
    raise AssertionError(f"no snapshot begun after {asked}: the newest is from {taken}")


def record_a_poll(lab):
    """One stats poll now: in a fresh lab the schedule's first is stats:interval (10 min)
    after the deploy, and until then the page says there is no activity database."""
    lab.salt("hub", "stats.record")


def sign_in(browser, email):
    """A new browser signed in as ``email``, on the dashboard's URL; the page and the
    status code of the last answer."""
    page = browser.new_context(ignore_https_errors=True).new_page()
    page.goto(URL, timeout=60_000)
    page.get_by_text("Sign in with Google").click()
    page.fill("#email", email)
    with page.expect_navigation(timeout=60_000) as navigation:
        page.click("#signin")
    page.wait_for_load_state()
    return page, navigation.value


def fetch(page, path, method="GET"):
    """``(status, json)`` of a request the page itself makes (its cookies, its XSRF token)."""
    return page.evaluate(
        """async ([url, method]) => {
            const xsrf = document.querySelector('meta[name="xsrf"]').content;
            const r = await fetch(url, {method, headers: {"X-XSRFToken": xsrf}});
            return [r.status, await r.json()];
        }""",
        [URL + path, method],
    )


@pytest.fixture(scope="module")
def running(lab, ca_file):
    """A student with a running server (stopped again at the end if a test did not)."""
    student = Student(STUDENT, ca_file)
    student.login()
    student.start_server()
    yield student
    if student.hub_api("GET", f"/users/{STUDENT}").json().get("servers"):
        student.stop_server()


@pytest.fixture(scope="module")
def admin_page(lab, browser, running):
    record_a_poll(lab)
    snapshot_now(lab)
    page, _ = sign_in(browser, ADMIN)
    expect(page.locator("h1")).to_have_text("Staff dashboard", timeout=60_000)
    yield page
    page.context.close()


def test_admin_sees_nodes_a_running_student_with_memory_and_the_backup(admin_page, repo):
    page = admin_page
    nodes = page.locator("#nodes")
    for node in ("node1", "node2"):
        expect(nodes).to_contain_text(f"{node}: swarm: ready, active", timeout=30_000)
    row = page.locator(f'tr.container[data-user="{STUDENT}"]')
    expect(row).to_contain_text(re.compile(r"\d+ MiB of 1024 MiB \(\d+%\)"), timeout=30_000)
    server = page.locator(f'tr.server[data-user="{STUDENT}"]')
    expect(server).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    expect(server).to_contain_text(re.compile(r"node[12]"))
    backup = page.locator("#last-backup")
    expect(backup).to_have_text(re.compile(r"old at the snapshot|no complete"))
    expect(page.locator("#image-on-nodes")).to_have_text("on every node that answered")
    expect(page.locator("#activity svg")).to_be_visible()
    (repo / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(repo / "artifacts/dashboard.png"), full_page=True)


def test_the_page_agrees_with_jupyterhub_status(lab, admin_page):
    snapshot_now(lab)
    _, status = lab.salt_run("jupyterhub.status")
    code, view = fetch(admin_page, "api/status")
    assert code == 200, view
    problems = status["problems"]
    assert view["problems"] == ([] if problems == "none" else problems)
    assert sorted(n["minion"] for n in view["nodes"]) == sorted(status["nodes"])
    running = {s["user"] for s in view["servers"]}
    assert running == set(status["hub"]["hub"]["running servers"])
    assert STUDENT in running


def test_an_unknown_range_is_refused_in_words(admin_page):
    code, answer = fetch(admin_page, "api/activity?range=year")
    assert code == 400
    assert answer == {"error": "Unknown range 'year': choose one of 7d, 30d, term."}
    code, answer = fetch(admin_page, "api/activity?range=30d")
    assert code == 200 and len(answer["days"]) == 30 and answer["svg"].startswith("<svg")


def test_a_student_is_refused(browser):
    page, response = sign_in(browser, f"{STUDENT}@lab.example")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("You do not have permission to access")


def test_stop_without_the_xsrf_token_is_refused(admin_page):
    code = admin_page.evaluate(
        "async (url) => (await fetch(url, {method: 'POST'})).status",
        URL + f"api/stop/{STUDENT}",
    )
    assert code in (403, 302)


def test_stop_decodes_the_user_name_once(admin_page, running):
    """Issue #18 item 8: ``%2561lice`` is no user name. Decoded twice it became the
    student's (and ``%252F`` a "/" in the hub API path the admin's token was sent to)."""
    name = "%25" + format(ord(STUDENT[0]), "x") + STUDENT[1:]
    code = admin_page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', headers: {'X-XSRFToken':
            document.querySelector('meta[name="xsrf"]').content}})).status""",
        URL + f"api/stop/{name}",
    )
    assert code == 400
    assert running.hub_api("GET", f"/users/{STUDENT}").json().get("servers")


def test_the_hub_api_down_is_said_in_words(lab, admin_page):
    lab.exec("hub", "docker", "pause", "jupyterhub")
    try:
        expect(admin_page.locator("#notices")).to_contain_text(
            "The hub's API does not answer", timeout=40_000
        )
        # The last snapshot is still shown under the notice.
        expect(admin_page.locator("#nodes")).to_contain_text("node1")
    finally:
        lab.exec("hub", "docker", "unpause", "jupyterhub")
    expect(admin_page.locator("#notices")).not_to_contain_text(
        "The hub's API does not answer", timeout=40_000
    )


def test_an_admin_stops_a_server_from_the_page(lab, admin_page, running):
    page = admin_page
    snapshot_now(lab)
    button = page.locator(f'tr.server[data-user="{STUDENT}"] button.stop')
    expect(button).to_be_visible(timeout=30_000)
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    expect(page.locator("#notices")).to_contain_text(f"{STUDENT}'s server is stopping")
    deadline = time.monotonic() + 120
    while running.hub_api("GET", f"/users/{STUDENT}").json().get("servers"):
        assert time.monotonic() < deadline, f"{STUDENT}'s server did not stop"
        time.sleep(1)
    snapshot_now(lab)
    expect(page.locator(f'tr.server[data-user="{STUDENT}"]')).to_have_count(0, timeout=30_000)

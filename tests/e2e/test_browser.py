"""
One real browser: Debian's headless Chromium, driven by Playwright, logs in as a student
through nginx and the lab's stand-in for Google, sees JupyterLab load (static assets
included) and runs a cell. The screenshot is kept in artifacts/.
"""

from playwright.sync_api import expect

from tests.common.hubclient import Student
from tests.common.lab import HTTPS_PORT


def test_student_logs_in_and_runs_a_cell_in_jupyterlab(lab, browser, repo, tmp_path):
    artifacts = repo / "artifacts"
    artifacts.mkdir(exist_ok=True)
    # The lab's own CA is not in Chromium's store; TLS itself is checked by other tests.
    page = browser.new_context(ignore_https_errors=True).new_page()
    static = []
    page.on(
        "response",
        lambda r: static.append(r.status) if "/static/" in r.url and "/user/" in r.url else None,
    )
    try:
        page.goto(f"https://localhost:{HTTPS_PORT}/hub/login", timeout=60_000)
        page.get_by_text("Sign in with Google").click()
        expect(page.get_by_text("Stand-in for Google, lab only")).to_be_visible()
        page.fill("#email", "alice@lab.example")
        page.click("#signin")
        # The hub spawns alice's server on a node and JupyterLab loads.
        page.wait_for_url("**/user/alice/lab**", timeout=180_000)
        # A fresh workspace (an earlier run may have left a notebook open): the launcher.
        page.goto(f"https://localhost:{HTTPS_PORT}/user/alice/lab?reset", timeout=60_000)
        page.locator(".jp-LauncherCard").first.wait_for(timeout=120_000)
        page.locator('.jp-LauncherCard[title*="Python 3"]').first.click()
        cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
        cell.wait_for(timeout=60_000)
        # A cell run before the kernel is connected is dropped: wait for it first.
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
        cell.click()
        page.keyboard.type("print(6 * 7, 'from the browser')")
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-OutputArea-output").first
        expect(output).to_contain_text("42 from the browser", timeout=120_000)
    finally:
        page.screenshot(path=str(artifacts / "browser-jupyterlab.png"), full_page=True)
    assert static and all(status in (200, 304) for status in static)
    # Leave no server behind for other tests.
    person = Student("alice", tmp_path / "ca.pem")
    lab.write_ca(tmp_path / "ca.pem")
    person.login()
    person.stop_server()

"""
The e2e tier runs against the local lab: proxy, hub and nodes as systemd containers with
their own Docker engines, deployed by salt from this checkout (script/lab).

The session fixture brings the lab up (a no-op rebuild when the images are cached) and
every test talks to it through `docker exec` or the proxy's published loopback ports.
"""

import os
import shutil
import subprocess

import pytest
from playwright.sync_api import sync_playwright

from tests.common.lab import LAB, Lab


@pytest.fixture(scope="session")
def lab():
    """The lab, up and deployed. JHD_LAB_REUSE=1 skips `up` when it is already running."""
    if os.environ.get("JHD_LAB_REUSE") != "1":
        subprocess.run([LAB, "up"], check=True, timeout=3600)
    lab = Lab()
    lab.wait_for_hub()
    return lab


@pytest.fixture(scope="module")
def ca_file(lab, tmp_path_factory):
    """The lab's CA certificate as a file (made on the proxy by salt), for requests."""
    return lab.write_ca(tmp_path_factory.mktemp("lab") / "lab-ca.pem")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach Google's servers, which this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright (its own download fails here)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def pytest_collection_modifyitems(items):
    """`up --single` replaces the multi-host lab: test_single_host.py runs last."""
    items.sort(key=lambda item: "test_single_host.py" in item.nodeid)

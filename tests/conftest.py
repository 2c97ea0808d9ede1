"""Fixtures shared by every test tier."""

import threading

import pytest

from tests.common.fake_hub import FakeHub
from tests.common.paths import REPO


def pytest_addoption(parser):
    parser.addoption(
        "--slow", action="store_true", help="also run tests/upgrade (the in-place Debian upgrade)"
    )


@pytest.fixture(scope="session")
def repo():
    """The checkout under test."""
    return REPO


@pytest.fixture
def hub_factory():
    """Start FakeHubs on loopback: ``hub_factory(users, page=2, delete_delay=0.0)``."""
    hubs = []

    def make(users, **kwargs):
        hub = FakeHub(users, **kwargs)
        threading.Thread(target=hub.serve_forever, daemon=True).start()
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.shutdown()
        hub.server_close()

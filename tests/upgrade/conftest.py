"""
The slow tier: a whole site upgraded in place from Debian 12 to 13 (tests/upgrade), about
half an hour. `script/test --slow` runs it (after every other tier: it replaces the lab).
"""

import pytest


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="the in-place upgrade runs with script/test --slow")
    for item in items:
        if "tests/upgrade/" in str(item.fspath):
            item.add_marker(skip)

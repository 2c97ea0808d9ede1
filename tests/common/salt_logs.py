"""
Salt's own logging under pytest, for the conftests of tests that load salt's modules: they
import ``salt_logs_to_pytest``, an autouse fixture, so each of their modules gets it.
"""

import pytest
import salt._logging.impl


@pytest.fixture(autouse=True, scope="module")
def salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()

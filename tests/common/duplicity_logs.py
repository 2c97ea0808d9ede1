"""
What the real duplicity 0.8.22 wrote to its ``--log-fd`` on Debian 12, captured in
tests/unit/duplicity_logs/: ``log_of(name)`` stands in for a run's machine-readable log.
"""

from tests.common.paths import REPO

LOGS = REPO / "tests/unit/duplicity_logs"


def log_of(name):
    return (LOGS / f"{name}.log").read_text()

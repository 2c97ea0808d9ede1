"""
What the real duplicity wrote to its ``--log-fd``: 0.8.22 on Debian 12 and 3.0.4 on Debian
13, captured by tests/unit/duplicity_logs/capture into tests/unit/duplicity_logs/<version>/.
``log_of(name, version)`` stands in for a run's machine-readable log.
"""

from tests.common.paths import REPO

LOGS = REPO / "tests/unit/duplicity_logs"
# Each captured version, as ``duplicity --version`` says it.
VERSIONS = {"0.8": "0.8.22", "3.0": "3.0.4"}


def log_of(name, version="0.8"):
    return (LOGS / version / f"{name}.log").read_text()

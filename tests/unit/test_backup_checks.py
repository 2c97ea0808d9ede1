"""
_utils/backup_checks.py: what the pillar's backup: keys and restore's arguments must be.
How backup.run and backup.restore refuse them is in tests/unit/backup_module/.
"""

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load

checks = load("_utils/backup_checks.py")


@pytest.mark.parametrize(
    "check,value,message",
    [
        (checks.required, "", "pillar 'backup:key' is not set"),
        (checks.seconds, True, "pillar 'backup:key' must be a number of seconds, got True"),
        (checks.seconds, -1, "must be a number of seconds"),
        (checks.at_least_one, 0, "pillar 'backup:key' must be at least 1, got 0"),
        (checks.at_least_one, False, "must be at least 1"),
        (checks.absolute, "srv/backup", "pillar 'backup:key' must be an absolute path"),
    ],
)
def test_bad_values_name_the_key(check, value, message):
    with pytest.raises(CommandExecutionError, match=message):
        check({"key": value}, "key")


def test_good_values():
    assert checks.required({"key": 0}, "key") == 0
    assert checks.seconds({"key": 0}, "key") == 0
    assert checks.at_least_one({"key": 2}, "key") == 2
    assert checks.absolute({"key": "/srv//backup/"}, "key") == "/srv/backup"
    assert checks.absolute({}, "key", "/home") == "/home"
    checks.require_enabled({"enabled": True}, "backup.run")
    with pytest.raises(CommandExecutionError, match="backup.run refused"):
        checks.require_enabled({}, "backup.run")


@pytest.mark.parametrize(
    "path,relative",
    [("alice", "alice"), ("alice/./notebooks/", "alice/notebooks"), (".", None), ("./", None)],
)
def test_restore_paths_are_normalised(path, relative):
    assert checks.relative_path(path) == relative

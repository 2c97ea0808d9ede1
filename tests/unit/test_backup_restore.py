"""
_utils/backup_restore.py: where a restore may go, and as whom its files are written. The
copy itself (duplicity, tar, setpriv as the student) runs for real in
tests/functional/test_backup_restore.py.
"""

import os

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load

restore = load("_utils/backup_restore.py")


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    (root / "alice").mkdir(parents=True)
    os.chown(root / "alice", 4242, 4242)
    (root / "lost+found").mkdir()
    return root


def test_a_new_or_empty_directory_outside_the_homes_is_root_s(tmp_path, home):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "new" / "alice"):
        dest = restore.destination(str(target), str(home), "alice", False)
        assert dest == restore.Destination(str(target), None)


def test_a_target_in_a_student_s_home_is_written_as_its_owner(home):
    dest = restore.destination(str(home / "alice" / "restored"), str(home), "alice", True)
    assert dest.path == str(home / "alice" / "restored")
    assert dest.owner[:2] == (4242, 4242)


@pytest.mark.parametrize(
    "target,force,message",
    [
        ("alice", True, "must be an absolute path"),
        ("{home}/alice/../../etc", True, "must not contain '..'"),
        ("{home}/alice", False, "is inside .* pass force=True"),
        ("{home}", True, "into .* itself is refused"),
        ("{home}/", True, "into .* itself is refused"),
        ("{home}/lost+found/x", True, "is owned by root, not by a student"),
        ("{home}/nobody/x", True, "there is no home .*nobody to restore into"),
    ],
)
def test_refused_targets_say_why(home, target, force, message):
    with pytest.raises(CommandExecutionError, match=message):
        restore.destination(target.format(home=home), str(home), "alice", force)


def test_a_student_s_home_that_is_a_link_is_refused(tmp_path, home):
    (home / "mallory").symlink_to(tmp_path)
    with pytest.raises(CommandExecutionError, match="mallory is not a directory"):
        restore.destination(str(home / "mallory" / "x"), str(home), "mallory", True)


def test_a_target_that_reaches_the_homes_through_a_link_is_refused(tmp_path, home):
    """Resolving it would follow links under /home as root: a student's link to /etc."""
    (tmp_path / "into-home").symlink_to(home)
    (home / "alice" / "etc").symlink_to("/etc")
    target = tmp_path / "into-home" / "alice" / "etc" / "x"
    with pytest.raises(CommandExecutionError, match="through the symlink .*into-home"):
        restore.destination(str(target), str(home), "alice", True)


def test_a_non_empty_target_outside_needs_force(tmp_path, home):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(CommandExecutionError, match="exists and is not empty"):
        restore.destination(str(tmp_path / "out"), str(home), "alice", False)
    assert restore.destination(str(tmp_path / "out"), str(home), "alice", True).owner is None

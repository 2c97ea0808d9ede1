"""
A restore into a student's home never lets root follow a link the student left there
(issue #18, item 1): real duplicity, tar and setpriv, the module loaded by salt's own
loader. The student is uid 4242 (no passwd entry: setpriv clears its groups).

Seen in the lab before the fix: alice's file backed up, replaced by a symlink to
/etc/jhd-poc, then ``backup.restore alice /home/alice force=True``: /etc/jhd-poc existed
afterwards, owned by alice, with her content.
"""

import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest
import salt._logging.impl
from salt.exceptions import CommandExecutionError

from tests.common.loaders import checkout_opts, salt_loaded

STUDENT = 4242
SECRET = "functional restore passphrase"

pytestmark = pytest.mark.skipif(
    shutil.which("duplicity") is None or os.geteuid() != 0,
    reason="needs duplicity (script/setup installs it) and root, as the hub runs it",
)


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture
def site():
    """A world-traversable root (pytest's tmp dirs are root-only: the student must reach
    their home) with /home/alice owned by the student, and a root-only 'etc' beside it."""
    root = tempfile.mkdtemp(prefix="jhd-restore-", dir="/var/tmp")
    os.chmod(root, 0o755)
    home = os.path.join(root, "home")
    alice = os.path.join(home, "alice")
    os.makedirs(os.path.join(alice, "notebooks"))
    os.makedirs(os.path.join(root, "etc"))
    os.chmod(os.path.join(root, "etc"), 0o755)
    with open(os.path.join(alice, "notes.txt"), "w", encoding="utf-8") as handle:
        handle.write("alice's notes\n")
    with open(os.path.join(alice, "notebooks", "hw1.ipynb"), "w", encoding="utf-8") as handle:
        handle.write('{"cells": []}\n')
    os.chmod(os.path.join(alice, "notes.txt"), 0o600)
    for directory, dirs, files in os.walk(alice):
        for name in [directory, *(os.path.join(directory, n) for n in dirs + files)]:
            os.chown(name, STUDENT, STUDENT)
    yield {"root": root, "home": home, "alice": alice, "etc": os.path.join(root, "etc")}
    shutil.rmtree(root)


@pytest.fixture
def backup(site):
    work = os.path.join(site["root"], "work")
    cfg = {
        "enabled": True,
        "source": site["home"],
        "target": f"file://{site['root']}/target",
        "target_host": None,
        "full_every": 604800,
        "keep_full": 2,
        "stale_after": 10800,
        "passphrase": SECRET,
        "work_dir": work,
    }
    opts = checkout_opts(pathlib.Path(site["root"]) / "minion")
    module = salt_loaded("backup", opts, {"backup": cfg})
    assert module.run(full=True)["result"] is True
    yield module
    subprocess.run(
        ["gpgconf", "--homedir", os.path.join(work, "gnupg"), "--kill", "gpg-agent"],
        check=False,
        capture_output=True,
    )


def test_a_file_swapped_for_a_link_is_restored_in_place_and_nothing_outside_is_written(
    site, backup
):
    notes = os.path.join(site["alice"], "notes.txt")
    poc = os.path.join(site["etc"], "jhd-poc")
    os.unlink(notes)
    os.symlink(poc, notes)
    os.lchown(notes, STUDENT, STUDENT)

    result = backup.restore("alice", site["alice"], force=True)

    assert result["result"] is True and result["files"] == 2
    assert not os.path.lexists(poc), "root wrote through the student's symlink"
    info = os.lstat(notes)
    assert stat.S_ISREG(info.st_mode) and info.st_uid == STUDENT
    assert stat.S_IMODE(info.st_mode) == 0o600
    with open(notes, encoding="utf-8") as handle:
        assert handle.read() == "alice's notes\n"


def test_a_directory_swapped_for_a_link_does_not_lead_root_outside(site, backup):
    notebooks = os.path.join(site["alice"], "notebooks")
    shutil.rmtree(notebooks)
    os.symlink(site["etc"], notebooks)
    os.lchown(notebooks, STUDENT, STUDENT)

    backup.restore("alice", site["alice"], force=True)

    assert os.listdir(site["etc"]) == []
    assert not os.path.islink(notebooks)
    assert os.stat(os.path.join(notebooks, "hw1.ipynb")).st_uid == STUDENT


def test_a_restore_into_a_subdirectory_the_student_made_a_link_writes_as_the_student(site, backup):
    """The link leads to a root-only directory: the student's tar may not write there."""
    os.chmod(site["etc"], 0o755)
    link = os.path.join(site["alice"], "restored")
    os.symlink(site["etc"], link)
    os.lchown(link, STUDENT, STUDENT)
    with pytest.raises(CommandExecutionError, match="as uid 4242 failed: .*Permission denied"):
        backup.restore("alice", link, force=True)
    assert os.listdir(site["etc"]) == []


def test_a_restore_outside_the_homes_keeps_owners_and_modes(site, backup):
    target = os.path.join(site["root"], "restored", "alice")
    result = backup.restore("alice", target)
    assert result["target"] == target and result["files"] == 2
    notes = os.lstat(os.path.join(target, "notes.txt"))
    assert (notes.st_uid, stat.S_IMODE(notes.st_mode)) == (STUDENT, 0o600)
    assert os.listdir(os.path.join(site["root"], "work", "tmp")) == []  # staging removed

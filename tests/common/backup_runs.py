"""
Helpers for running the backup module against the real duplicity and gpg: the skip mark
when Debian's duplicity is missing, a backup tree's contents (``snapshot``), waiting for a
new second between backup sets, and stopping the gpg-agent that gpg leaves running.
"""

import os
import shutil
import subprocess
import time

import pytest

SECRET = "functional test passphrase"

NEEDS_DUPLICITY = pytest.mark.skipif(
    shutil.which("duplicity") is None,
    reason="needs duplicity (script/setup installs Debian's duplicity and python3-paramiko)",
)


def stop_gpg_agent(work_dir):
    """gpg starts an agent for the module's GNUPGHOME (<work_dir>/gnupg); leave none behind."""
    subprocess.run(
        ["gpgconf", "--homedir", os.path.join(work_dir, "gnupg"), "--kill", "gpg-agent"],
        check=False,
        capture_output=True,
    )


def new_second():
    """duplicity names backup sets by the second they start in: never start two in one."""
    time.sleep(1.05 - time.time() % 1)


def snapshot(root):
    """``{relative path: (mode, bytes)}`` of every file under ``root``."""
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = (os.stat(path).st_mode, handle.read())
    return found

"""
Fixtures of the backup module against the real duplicity: a small /home (``home``), a
backup pillar with a file:// target in pytest's tmp dir (``cfg``), and the module loaded by
salt's own loader from this checkout (``backup``).
"""

import os

import pytest

from tests.common.backup_pillar import backup_pillar
from tests.common.backup_runs import SECRET, stop_gpg_agent
from tests.common.loaders import checkout_opts, salt_loaded
from tests.common.salt_logs import salt_logs_to_pytest  # noqa: F401 (autouse)


@pytest.fixture
def home(tmp_path):
    """A small /home: two students, text, binary data, a subdirectory, odd names."""
    root = tmp_path / "home"
    (root / "alice" / "notebooks").mkdir(parents=True)
    (root / "bob").mkdir()
    (root / "alice" / "notes.txt").write_text("first draft\n")
    (root / "alice" / "old.txt").write_text("deleted after the full backup\n")
    (root / "alice" / "notebooks" / "hw 1.ipynb").write_text('{"cells": []}\n')
    (root / "alice" / "data.bin").write_bytes(os.urandom(200_000))
    (root / "bob" / "bob.txt").write_text("bob's\n")
    os.chmod(root / "alice" / "notes.txt", 0o600)
    return root


@pytest.fixture
def cfg(tmp_path, home):
    return backup_pillar(home, f"file://{tmp_path}/target", SECRET, tmp_path / "work")


@pytest.fixture
def backup(cfg, tmp_path):
    opts = checkout_opts(tmp_path / "minion")
    yield salt_loaded("backup", opts, {"backup": cfg})
    stop_gpg_agent(cfg["work_dir"])

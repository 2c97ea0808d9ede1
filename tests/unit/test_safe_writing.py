"""The student image's saves (salt/images/files/singleuser/jhd_safe_writing.py) on a full disk.

A full disk is simulated by raising ENOSPC where the kernel would: in a write, or at the
fsync that puts the file on disk. The lab's tests/e2e/test_disk_full.py does it for real.
"""

import errno
import importlib.util
import os

import pytest

from tests.common.paths import REPO

_spec = importlib.util.spec_from_file_location(
    "jhd_safe_writing", REPO / "salt/images/files/singleuser/jhd_safe_writing.py"
)
safe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(safe)


def enospc(*_args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".~"))


def test_a_save_replaces_the_file_and_keeps_its_mode(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    path.chmod(0o640)
    with safe.replace_when_written(str(path)) as f:
        f.write("new\n")
    assert path.read_bytes() == b"new\n"
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_mode(tmp_path):
    path = tmp_path / "new.ipynb"
    with safe.replace_when_written(str(path), text=False) as f:
        f.write(b"{}")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_disk_full_during_the_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("saved before")
    with pytest.raises(OSError) as info, safe.replace_when_written(str(path)) as f:
        f.write("half")
        enospc()
    assert info.value.errno == errno.ENOSPC
    assert path.read_text() == "saved before"
    assert leftovers(tmp_path) == []


def test_disk_full_at_the_final_sync_leaves_the_old_file(tmp_path, monkeypatch):
    """jupyter_server's own atomic_writing leaves the file empty here (small saves)."""
    path = tmp_path / "notes.txt"
    path.write_text("saved before")
    monkeypatch.setattr(safe.os, "fsync", enospc)
    with pytest.raises(OSError) as info, safe.replace_when_written(str(path)) as f:
        f.write("small")
    assert info.value.errno == errno.ENOSPC
    assert path.read_text() == "saved before"
    assert leftovers(tmp_path) == []


def test_a_new_file_that_does_not_fit_reports_enospc_itself(tmp_path):
    """Not "No such file or directory", as jupyter_server's restore of a missing backup says."""
    path = tmp_path / "new.txt"
    with pytest.raises(OSError) as info, safe.replace_when_written(str(path)) as f:
        f.write("x")
        enospc()
    assert info.value.errno == errno.ENOSPC
    assert not path.exists() and leftovers(tmp_path) == []


def test_a_symlinks_target_is_written(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    (tmp_path / "link.txt").symlink_to("real.txt")
    with safe.replace_when_written(str(tmp_path / "link.txt")) as f:
        f.write("new")
    assert target.read_text() == "new" and (tmp_path / "link.txt").is_symlink()

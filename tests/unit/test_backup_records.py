"""
_utils/backup_records.py: the work directory's files, the lock, the last results, and the
times status reports. The lock against another process, and what run does when it is held,
are in tests/unit/backup_module/.
"""

import json
import os
import subprocess
import sys

import pytest
import salt._logging.impl
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load

records = load("_utils/backup_records.py")


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture
def paths(tmp_path):
    paths = records.work_dir(str(tmp_path / "work"))
    paths.make()
    return paths


def test_the_work_directory_is_root_only(paths):
    for path in (paths.root, paths.cache, paths.tmp, paths.gnupg):
        assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    assert paths.key_digest == os.path.join(paths.gnupg, "pillar-key.sha256")


def test_files_are_replaced_whole_and_only_when_they_change(paths):
    path = os.path.join(paths.root, "file")
    assert paths.write_if_changed(path, "one\n") is True
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    inode = os.stat(path).st_ino
    assert paths.write_if_changed(path, "one\n") is False
    assert os.stat(path).st_ino == inode
    paths.write_json(path, {"b": 1, "a": None})
    assert paths.read_json(path) == {"a": None, "b": 1}
    assert [n for n in os.listdir(paths.root) if n.startswith(".tmp-")] == []
    with open(path, "w") as handle:
        handle.write("{not json")
    assert paths.read_json(path) is None
    assert paths.read_json(os.path.join(paths.root, "missing")) is None


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, None),
        (45, "45s"),
        (60, "1m 00s"),
        (3 * 3600 + 300, "3h 05m"),
        (2 * 86400 + 4 * 3600, "2d 4h"),
    ],
)
def test_ages_for_people(seconds, text):
    assert records.human(seconds) == text


def test_times_are_iso_in_utc():
    assert records.iso(1796005000) == "2026-11-30T02:16:40+00:00"
    assert records.iso(None) is None


def test_the_lock_refuses_a_second_holder_and_says_who_holds_it(paths):
    assert records.running(paths) is None
    with records.locked(paths, "backup.verify"):
        holder = records.running(paths)
        assert holder["function"] == "backup.verify" and holder["pid"] == os.getpid()
        with pytest.raises(CommandExecutionError) as info:
            with records.locked(paths, "backup.run"):
                pytest.fail("a second holder got the lock")
        assert records.busy(info.value)
        assert str(info.value).startswith("another backup is running: backup.verify (pid ")
        assert str(info.value).endswith(f"holds {paths.lock}; backup.run refused")
    assert records.running(paths) is None
    assert not records.busy(CommandExecutionError("duplicity failed"))


def test_a_holder_that_died_is_not_running(paths):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    paths.write_json(paths.lock, {"function": "backup.run", "pid": int(dead.stdout), "since": "x"})
    assert records.running(paths) is None


def test_each_function_keeps_its_last_result(paths):
    assert records.last_results(paths) == {}
    records.record(paths, "run", {"result": True, "type": "full", "source_files": 5})
    records.record(paths, "verify", {"result": False, "error": "1 file(s) differ"})
    records.record(paths, "run", {"result": True, "type": "incremental"})
    last = records.last_results(paths)
    assert set(last) == {"run", "verify"}
    assert last["run"] == dict(last["run"], result=True, type="incremental", error=None)
    assert last["verify"]["result"] is False and last["verify"]["error"] == "1 file(s) differ"
    assert "type" not in last["verify"] and last["verify"]["time"].endswith("+00:00")
    with open(paths.results) as handle:
        assert json.load(handle) == last


def test_a_result_that_cannot_be_written_is_only_logged(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("")
    paths = records.work_dir(str(blocked / "work"))  # under a file: nothing can be made
    records.record(paths, "run", {"result": True})
    assert "cannot record the result of run" in caplog.text

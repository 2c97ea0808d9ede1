"""
A full backup, changes, an incremental, then a restore of one student's home as of the full
is byte for byte what it was; cleanup keeps the last N full chains; status reads chains and
ages and turns stale; a second run while one runs is refused by the lock; verify catches a
file whose contents changed behind the backup's back; a new passphrase starts a new chain.
"""

import os
import sys
import threading
import time

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.backup_runs import NEEDS_DUPLICITY, new_second, snapshot, stop_gpg_agent
from tests.common.loaders import minion_opts, salt_loaded
from tests.common.paths import REPO

pytestmark = NEEDS_DUPLICITY


def test_full_incremental_then_restore_as_of_the_full(backup, home, tmp_path):
    full = backup.run()
    assert full["result"] is True and full["type"] == "full", full
    assert full["source_files"] >= 7 and full["errors"] == 0
    as_of_full = snapshot(home / "alice")
    time_of_full = backup.status()["last_full"]

    new_second()
    (home / "alice" / "notes.txt").write_text("second draft, longer than the first\n")
    (home / "alice" / "old.txt").unlink()
    (home / "alice" / "new.txt").write_text("new after the full backup\n")
    incremental = backup.run()
    assert incremental["result"] is True and incremental["type"] == "incremental", incremental
    assert incremental["changed_files"] >= 1
    assert incremental["deleted_files"] == 1 and incremental["new_files"] >= 1

    restored = backup.restore("alice", str(tmp_path / "restored"), time=time_of_full)
    assert restored["result"] is True and restored["time"] == time_of_full
    assert snapshot(tmp_path / "restored") == as_of_full  # contents and modes
    assert (tmp_path / "restored" / "old.txt").read_text() == "deleted after the full backup\n"
    assert not (tmp_path / "restored" / "new.txt").exists()

    assert backup.restore("alice", str(tmp_path / "latest"))["files"] == 4
    assert snapshot(tmp_path / "latest") == snapshot(home / "alice")

    status = backup.status()
    assert status["chain_count"] == 1 and status["chains"][0]["sets"] == 2
    assert status["last_incremental"] > status["last_full"]
    assert status["last_results"]["run"]["type"] == "incremental"


def test_cleanup_keeps_the_last_n_full_chains(backup, cfg, home):
    cfg["full_every"] = 0  # every run a full one
    for draft in range(3):
        new_second()
        (home / "alice" / "notes.txt").write_text(f"draft {draft}\n")
        assert backup.run()["type"] == "full"
    before = backup.status()
    assert before["chain_count"] == 3

    result = backup.cleanup()
    assert result == dict(result, result=True, keep_full=2, removed_chains=1)
    after = backup.status()
    assert after["chain_count"] == 2
    assert [c["start"] for c in after["chains"]] == [c["start"] for c in before["chains"][1:]]
    assert backup.cleanup()["removed_chains"] == 0


def test_status_reports_chains_and_ages_and_turns_stale(backup, cfg):
    empty = backup.status()
    assert empty["last_backup"] is None and empty["stale"] is True and empty["chain_count"] == 0

    backup.run()
    fresh = backup.status()
    assert fresh["chain_count"] == 1 and fresh["chains"][0]["sets"] == 1
    assert fresh["last_full"] == fresh["last_backup"] and fresh["last_incremental"] is None
    assert 0 <= fresh["age_seconds"] < 60 and fresh["stale"] is False
    assert fresh["incomplete_sets"] == 0 and fresh["running"] is None

    cfg["stale_after"] = 1
    time.sleep(2.1)
    stale = backup.status()
    assert stale["stale"] is True and stale["age_seconds"] >= 2


def holds(lock, function):
    try:
        with open(lock) as handle:
            return function in handle.read()
    except FileNotFoundError:
        return False


def test_a_second_run_while_one_runs_is_refused(backup, home):
    # About two seconds of duplicity work (compression, encryption).
    (home / "bob" / "big.bin").write_bytes(os.urandom(30_000_000))
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", backup.run()))
    first.start()
    lock = os.path.join(backup.__pillar__["backup"]["work_dir"], "lock")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not holds(lock, "backup.run"):
        time.sleep(0.01)
    second = backup.run()
    running = backup.status()["running"]
    first.join()
    assert results["first"]["result"] is True, results["first"]
    assert second["result"] is False
    assert second["error"].startswith("another backup is running: backup.run (pid ")
    assert running is not None and running["function"] == "backup.run"
    assert backup.status()["running"] is None


def test_verify_compares_contents_not_just_metadata(backup, home):
    backup.run()
    clean = backup.verify()
    assert clean["result"] is True and clean["differences"] == 0, clean
    assert clean["compared"] >= 7

    # Same size, same mtime, other contents: only a comparison of the data sees it.
    notes = home / "alice" / "notes.txt"
    stat = notes.stat()
    notes.write_text("FIRST DRAFT\n")
    os.utime(notes, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    damaged = backup.verify()
    assert damaged["result"] is False
    assert damaged["data_mismatches"] == ["alice/notes.txt"]
    assert "alice/notes.txt" in damaged["error"]
    assert backup.__context__["retcode"] == 1


def test_verify_lists_ordinary_changes_and_fails_on_them_only_when_strict(backup, home):
    backup.run()
    new_second()
    (home / "bob" / "bob.txt").write_text("edited since the backup\n")
    result = backup.verify()
    assert result["result"] is True
    assert "bob/bob.txt" in result["changed_since_backup"]
    assert result["data_mismatches"] == []
    assert backup.verify(strict=True)["result"] is False


def test_a_new_passphrase_starts_a_new_chain_that_restores(backup, cfg, home, tmp_path):
    backup.run()
    new_second()
    (home / "alice" / "notes.txt").write_text("written under the new passphrase\n")
    cfg["passphrase"] = "the new passphrase"
    result = backup.run()
    assert result["type"] == "full" and result["passphrase_changed"] is True
    assert backup.status()["chain_count"] == 2
    backup.restore("alice", str(tmp_path / "restored"))
    assert (tmp_path / "restored" / "notes.txt").read_text() == "written under the new passphrase\n"


def test_a_wrong_passphrase_cannot_restore(backup, cfg, tmp_path):
    backup.run()
    cfg["passphrase"] = "not the passphrase"
    with pytest.raises(CommandExecutionError, match="duplicity restore of .* failed") as info:
        backup.restore("alice", str(tmp_path / "restored"))
    assert "not the passphrase" not in str(info.value)


def test_sync_all_brings_the_utils_and_the_synced_module_backs_up(cfg, tmp_path):
    # As the master serves them (master.d/roots.conf: salt/ only, _utils through a link).
    minion = tmp_path / "minion"
    opts = minion_opts(minion, file_roots={"base": [str(REPO / "salt")]}, pillar_roots={})
    synced = salt_loaded("saltutil", opts, {}).sync_all(refresh=False)
    utils = {f"utils.{p.stem}" for p in REPO.glob("_utils/*.py")}
    assert utils and utils <= set(synced["utils"]) and "modules.backup" in synced["modules"]

    backup = salt_loaded("backup", opts, {"backup": cfg})  # no module_dirs, no utils_dirs
    try:
        assert backup.run()["type"] == "full"
        status = backup.status()
        assert status["chain_count"] == 1 and status["last_results"]["run"]["result"] is True
    finally:
        stop_gpg_agent(cfg["work_dir"])
    for name in ("module.backup", "utils.backup_duplicity", "utils.backup_gpg"):
        module = sys.modules[f"salt.loaded.ext.{name}"]
        assert module.__file__.startswith(str(minion / "extmods")), module.__file__

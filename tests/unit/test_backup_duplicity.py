"""
_utils/backup_duplicity.py: duplicity's command line, one call, and its machine-readable log
parsed. The parsers read real duplicity 0.8.22 output (``--log-fd``), captured on Debian 12
in tests/unit/duplicity_logs/.
"""

import os
import subprocess
import time

import pytest
import salt._logging.impl
from salt.exceptions import CommandExecutionError

from tests.common.duplicity_logs import log_of
from tests.common.loaders import load

TARGET = "file:///srv/backups/home"

duplicity = load("_utils/backup_duplicity.py")
backup_records = load("_utils/backup_records.py")


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()


def records(name):
    return duplicity.parse_log(log_of(name))


# --- parsing real output -------------------------------------------------------------


def test_the_machine_log_splits_into_records():
    found = records("run_incremental")
    assert [(r["level"], r["code"]) for r in found] == [("NOTICE", 1)] * 3
    assert found[1]["message"] == "Last full backup date: Mon Nov 30 02:27:40 2026"
    assert found[2]["message"].startswith("--------------[ Backup Statistics ]")


def test_the_collection_record_keeps_its_indented_set_lines():
    (record,) = [r for r in records("collection_two_chains") if r["code"] == 3]
    assert record["level"] == "INFO"
    assert " full 20261130T022740Z 1 enc" in record["extra"]
    assert "Collection Status" in record["message"]


def test_statistics_of_an_incremental_run():
    stats = duplicity.parse_statistics(records("run_incremental"))
    assert stats["source_files"] == 5
    assert stats["source_file_size"] == 62299
    assert (stats["new_files"], stats["changed_files"], stats["deleted_files"]) == (1, 1, 1)
    assert stats["changed_file_size"] == 11
    assert stats["total_destination_size_change"] == 274
    assert stats["elapsed_time"] == 0.01
    assert stats["errors"] == 0


def test_the_type_of_a_run_comes_from_what_duplicity_said():
    assert duplicity.backup_type(records("run_full")) == "full"
    assert duplicity.backup_type(records("run_incremental")) == "incremental"
    assert duplicity.backup_type(records("run_incremental"), requested_full=True) == "full"
    switched = duplicity.parse_log(
        "WARNING 1\n. No signatures found, switching to full backup.\n\n"
    )
    assert duplicity.backup_type(switched) == "full"


def test_collection_with_an_old_and_a_primary_chain():
    collection = duplicity.parse_collection(records("collection_two_chains"))
    old, primary = collection["chains"]
    assert not old["primary"] and primary["primary"]
    assert [s["type"] for s in old["sets"]] == ["full", "incremental"]
    assert [s["type"] for s in primary["sets"]] == ["full"]
    last = primary["sets"][0]["time"]
    assert backup_records.iso(last) == "2026-11-30T02:27:47+00:00"

    fresh = backup_records.summarise(collection, now=last + 60, stale_after=10800)
    assert fresh["last_full"] == "2026-11-30T02:27:47+00:00"
    assert fresh["last_incremental"] == "2026-11-30T02:27:43+00:00"
    assert fresh["last_backup"] == "2026-11-30T02:27:47+00:00"
    assert (fresh["age_seconds"], fresh["age_human"], fresh["stale"]) == (60, "1m 00s", False)
    assert fresh["chain_count"] == 2
    assert [c["sets"] for c in fresh["chains"]] == [2, 1]
    assert fresh["chains"][0] == {
        "start": "2026-11-30T02:27:40+00:00",
        "end": "2026-11-30T02:27:43+00:00",
        "sets": 2,
        "primary": False,
    }
    stale = backup_records.summarise(collection, now=last + 10801, stale_after=10800)
    assert stale["stale"] and stale["age_human"] == "3h 00m"


def test_an_empty_target_has_no_backup_and_is_stale():
    collection = duplicity.parse_collection(records("collection_empty"))
    assert collection == {"chains": [], "incomplete_sets": 0, "orphaned_sets": 0}
    summary = backup_records.summarise(collection, now=time.time(), stale_after=10800)
    assert summary["last_backup"] is None and summary["age_seconds"] is None
    assert summary["stale"] is True and summary["chain_count"] == 0


def test_an_interrupted_full_is_an_incomplete_set_not_a_backup():
    collection = duplicity.parse_collection(records("collection_incomplete"))
    assert collection["chains"] == [] and collection["incomplete_sets"] == 1


def test_collection_output_without_its_record_is_an_error():
    with pytest.raises(CommandExecutionError, match="no collection record"):
        duplicity.parse_collection(records("run_full"))


def test_verify_sorts_damage_from_changes_since_the_backup():
    report = duplicity.parse_verify(records("verify_differences"))
    assert report == {
        "compared": 5,
        "differences": 4,
        "data_mismatches": ["alice/notes.txt"],
        "changed_since_backup": ["alice", "alice/gone.txt", "alice/new.txt"],
    }
    clean = duplicity.parse_verify(records("verify_clean"))
    assert clean["differences"] == 0 and clean["data_mismatches"] == []


@pytest.mark.parametrize(
    "name,removed", [("remove_one_chain", 1), ("remove_two_chains", 2), ("remove_nothing", 0)]
)
def test_removed_chains_are_counted(name, removed):
    assert duplicity.parse_removed_chains(records(name)) == removed


@pytest.mark.parametrize(
    "given,expected",
    [
        ("2026-11-30T14:00:00Z", "2026-11-30T14:00:00+00:00"),
        ("2026-11-30 14:00", "2026-11-30T14:00:00"),
        ("2026-11-30", "2026-11-30T00:00:00"),
        ("3D", "3D"),
        ("2h30m", "2h30m"),
        ("now", "now"),
        (1796005000, "1796005000"),
        ("1796005000", "1796005000"),
    ],
)
def test_restore_times(given, expected):
    assert duplicity.duplicity_time(given) == expected


@pytest.mark.parametrize("bad", ["--force", "3 days", "", "1;rm"])
def test_bad_restore_times_are_refused(bad):
    with pytest.raises(CommandExecutionError, match="is not a date, a time or an interval"):
        duplicity.duplicity_time(bad)


def test_passwords_in_target_urls_are_hidden():
    assert duplicity.redact("sftp://u:pw@host//srv") == "sftp://u:***@host//srv"
    assert duplicity.redact(TARGET) == TARGET


# --- the command line and one call ---------------------------------------------------------


@pytest.fixture
def paths(tmp_path):
    return backup_records.work_dir(str(tmp_path / "work"))


def test_the_environment_has_no_inherited_passphrase_and_gnupg_in_the_work_dir(paths, monkeypatch):
    monkeypatch.setenv("PASSPHRASE", "inherited")
    monkeypatch.setenv("SIGN_PASSPHRASE", "inherited")
    env = duplicity.environment(None, paths)
    assert "PASSPHRASE" not in env and "SIGN_PASSPHRASE" not in env
    assert env["GNUPGHOME"] == paths.gnupg and env["LANG"] == "C.UTF-8"
    assert duplicity.environment("", paths)["PASSPHRASE"] == ""


def test_ssh_options_only_for_ssh_targets(paths):
    argv = duplicity.command("full", [], ["/home", TARGET], TARGET, paths, 7)
    assert argv[argv.index("--log-fd") + 1] == "7"
    assert not any(a.startswith("--ssh-options") for a in argv)
    sftp = "sftp://jhd-backup@10.0.0.12//srv/backup/home"
    argv = duplicity.command("full", [], ["/home", sftp], sftp, paths, 7, archive_dir="/x")
    assert f"--ssh-options=-oUserKnownHostsFile={paths.known_hosts}" in argv
    assert argv[argv.index("--archive-dir") + 1] == "/x"


def test_a_call_hands_duplicity_its_log_fd_and_parses_the_log(paths):
    def execute(argv, env, log_fd):
        os.write(log_fd, log_of("run_full").encode())
        return subprocess.CompletedProcess(argv, 0, "out", "")

    result = duplicity.call(execute, "full", [], ["/home", TARGET], TARGET, paths, "pw")
    assert result.returncode == 0 and result.stdout == "out"
    assert duplicity.parse_statistics(result.records)["source_files"] == 6
    assert os.listdir(paths.tmp) == []  # the log file is gone


def test_a_missing_duplicity_is_named(paths):
    def execute(argv, env, log_fd):
        raise FileNotFoundError(argv[0])

    with pytest.raises(CommandExecutionError, match="duplicity is not installed"):
        duplicity.call(execute, "full", [], ["/home", TARGET], TARGET, paths)


def test_a_failure_gives_duplicity_s_last_error_the_hint_and_hides_the_secret():
    result = duplicity.Result(23, "", "", log_of("restore_missing"))
    text = duplicity.failure("restore", result, "sftp://u:pw@host//srv", "nosuch", " -- hint")
    assert text.startswith("duplicity restore of sftp://u:***@host//srv failed (exit 23): ")
    assert "*** not found in archive" in text and "nosuch" not in text
    assert text.endswith(" -- hint")
    unknown = duplicity.Result(30, "", "EOFError: EOF when reading a line\n", "")
    assert "ssh host key is unknown" in duplicity.failure("backup", unknown, TARGET, None)

"""
_utils/backup_duplicity.py: duplicity's command line, one call, and its machine-readable log
parsed. The parsers read real duplicity output (``--log-fd``) of 0.8.22 (Debian 12) and
3.0.4 (Debian 13), captured in tests/unit/duplicity_logs/<version>/.
"""

import datetime
import os
import re
import subprocess
import time

import pytest
import salt._logging.impl
from salt.exceptions import CommandExecutionError

from tests.common.duplicity_logs import VERSIONS, log_of
from tests.common.loaders import load

TARGET = "file:///srv/backups/home"

duplicity = load("_utils/backup_duplicity.py")
backup_records = load("_utils/backup_records.py")


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture(params=sorted(VERSIONS))
def version(request):
    return request.param


def records(name, version):
    return duplicity.parse_log(log_of(name, version))


def set_stamps(name, version):
    """The ``full|inc YYYYMMDDTHHMMSSZ`` stamps of a captured collection, as ISO times."""
    stamps = re.findall(r"^ (?:full|inc) (\d{8}T\d{6}Z) ", log_of(name, version), re.MULTILINE)
    return [
        datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC).isoformat()
        for s in stamps
    ]


# --- parsing real output of each version -----------------------------------------------


def test_the_machine_log_splits_into_records(version):
    found = records("run_incremental", version)
    assert [(r["level"], r["code"]) for r in found] == [("NOTICE", 1)] * 3
    assert found[1]["message"].startswith("Last full backup date: ")
    assert found[2]["message"].startswith("--------------[ Backup Statistics ]")


def test_the_collection_record_keeps_its_indented_set_lines(version):
    (record,) = [r for r in records("collection_two_chains", version) if r["code"] == 3]
    assert record["level"] == "INFO"
    assert sum(line.startswith(" full ") for line in record["extra"]) == 2
    assert "Collection Status" in record["message"]


def test_statistics_of_an_incremental_run(version):
    """The capture changed one file, added one, deleted one (and so changed their folder)."""
    stats = duplicity.parse_statistics(records("run_incremental", version))
    assert stats["source_files"] == 6
    assert (stats["new_files"], stats["changed_files"], stats["deleted_files"]) == (2, 1, 1)
    assert stats["changed_file_size"] == len("changed\n")
    assert stats["total_destination_size_change"] > 0
    assert isinstance(stats["elapsed_time"], float)
    assert stats["errors"] == 0


def test_the_type_of_a_run_comes_from_what_duplicity_said(version):
    assert duplicity.backup_type(records("run_full", version)) == "full"
    assert duplicity.backup_type(records("run_incremental", version)) == "incremental"
    assert duplicity.backup_type(records("run_incremental", version), requested_full=True) == "full"
    switched = duplicity.parse_log(
        "WARNING 1\n. No signatures found, switching to full backup.\n\n"
    )
    assert duplicity.backup_type(switched) == "full"


def test_collection_with_an_old_and_a_primary_chain(version):
    old_full, old_inc, new_full = set_stamps("collection_two_chains", version)
    collection = duplicity.parse_collection(records("collection_two_chains", version))
    old, primary = collection["chains"]
    assert not old["primary"] and primary["primary"]
    assert [s["type"] for s in old["sets"]] == ["full", "incremental"]
    assert [s["type"] for s in primary["sets"]] == ["full"]
    last = primary["sets"][0]["time"]
    assert backup_records.iso(last) == new_full

    fresh = backup_records.summarise(collection, now=last + 60, stale_after=10800)
    assert fresh["last_full"] == fresh["last_backup"] == new_full
    assert fresh["last_incremental"] == old_inc
    assert (fresh["age_seconds"], fresh["age_human"], fresh["stale"]) == (60, "1m 00s", False)
    assert fresh["chain_count"] == 2
    assert [c["sets"] for c in fresh["chains"]] == [2, 1]
    assert fresh["chains"][0] == {"start": old_full, "end": old_inc, "sets": 2, "primary": False}
    stale = backup_records.summarise(collection, now=last + 10801, stale_after=10800)
    assert stale["stale"] and stale["age_human"] == "3h 00m"


def test_an_empty_target_has_no_backup_and_is_stale(version):
    collection = duplicity.parse_collection(records("collection_empty", version))
    assert collection == {"chains": [], "incomplete_sets": 0, "orphaned_sets": 0}
    summary = backup_records.summarise(collection, now=time.time(), stale_after=10800)
    assert summary["last_backup"] is None and summary["age_seconds"] is None
    assert summary["stale"] is True and summary["chain_count"] == 0


def test_an_interrupted_full_is_an_incomplete_set_not_a_backup(version):
    collection = duplicity.parse_collection(records("collection_incomplete", version))
    assert collection["chains"] == [] and collection["incomplete_sets"] == 1


def test_collection_output_without_its_record_is_an_error(version):
    with pytest.raises(CommandExecutionError, match="no collection record"):
        duplicity.parse_collection(records("run_full", version))


def test_verify_sorts_damage_from_changes_since_the_backup(version):
    """The capture changed notes.txt's bytes but kept its size and mtime: damage."""
    report = duplicity.parse_verify(records("verify_differences", version))
    assert report == {
        "compared": 7,
        "differences": 4,
        "data_mismatches": ["alice/notes.txt"],
        "changed_since_backup": ["alice", "alice/gone.txt", "alice/new.txt"],
    }
    clean = duplicity.parse_verify(records("verify_clean", version))
    assert (clean["compared"], clean["differences"], clean["data_mismatches"]) == (6, 0, [])


@pytest.mark.parametrize(
    "name,removed", [("remove_one_chain", 1), ("remove_two_chains", 2), ("remove_nothing", 0)]
)
def test_removed_chains_are_counted(name, removed, version):
    assert duplicity.parse_removed_chains(records(name, version)) == removed


def test_a_path_missing_from_the_backup_is_duplicity_s_error(version):
    errors = duplicity.messages(records("restore_missing", version), "ERROR")
    assert errors == ["nosuch not found in archive - no files restored."]
    assert duplicity.messages(records("restore_one_file", version), "ERROR") == []


@pytest.mark.parametrize(
    "said,expected",
    [("duplicity 0.8.22\n", (0, 8)), ("duplicity 3.0.4 February 08, 2025\n", (3, 0))],
)
def test_the_version_is_read_from_duplicity(said, expected):
    def execute(argv, env, log_fd=None):
        assert argv == ["duplicity", "--version"] and log_fd is None
        return subprocess.CompletedProcess(argv, 0, said, "")

    assert duplicity.version(execute) == expected


def test_a_duplicity_that_says_no_version_is_an_error():
    def execute(argv, env, log_fd=None):
        return subprocess.CompletedProcess(argv, 1, "", "Traceback: ImportError")

    with pytest.raises(CommandExecutionError, match="did not say a version.*ImportError"):
        duplicity.version(execute)


@pytest.mark.parametrize(
    "found,option",
    [((0, 8), "--file-to-restore"), ((2, 0), "--path-to-restore"), ((3, 0), "--path-to-restore")],
)
def test_restore_names_its_path_as_the_installed_duplicity_expects(found, option):
    assert duplicity.restore_options("alice/a.txt", "3D", found) == [
        f"{option}=alice/a.txt",
        "--time=3D",
    ]
    assert duplicity.restore_options(None, None, found) == []


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

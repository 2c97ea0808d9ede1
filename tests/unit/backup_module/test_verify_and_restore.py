"""
backup.verify and backup.restore: what they report, what restore refuses, what it
hands duplicity.
"""

import os

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.duplicity_logs import log_of
from tests.common.fake_duplicity import SECRET, TARGET

# --- verify --------------------------------------------------------------------------------


def test_verify_fails_on_damaged_data_and_lists_it(backup, fake):
    fake.reply("verify_differences", returncode=1)
    result = backup.verify()
    assert fake.argv[1:3] == ["verify", "--compare-data"]
    assert fake.calls[-1]["env"]["PASSPHRASE"] == SECRET
    assert result["result"] is False and result["data_mismatches"] == ["alice/notes.txt"]
    assert "alice/notes.txt" in result["error"]
    assert backup.__context__["retcode"] == 1


def test_verify_tolerates_changes_since_the_backup_unless_strict(backup, fake):
    records = log_of("verify_differences").split("\n\n")
    fake.reply("\n\n".join(r for r in records if "Data for file" not in r), returncode=1)
    result = backup.verify()
    assert result["result"] is True
    assert result["changed_since_backup"] == ["alice", "alice/gone.txt", "alice/new.txt"]
    strict = backup.verify(strict=True)
    assert (
        strict["result"] is False and "3 file(s) changed since the last backup" in strict["error"]
    )


def test_verify_of_an_unreadable_backup_fails(backup, fake):
    fake.reply(None, returncode=31, stderr="GPGError: GPG Failed, see log below:\n")
    result = backup.verify()
    assert result["result"] is False and "exit 31" in result["error"]


# --- restore: what it refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    "path,message",
    [
        ("/home/alice", "is absolute"),
        ("../etc", "must not contain '..'"),
        ("alice/../../etc", "must not contain '..'"),
        ("", "needs a path inside the backup"),
    ],
)
def test_restore_refuses_bad_paths(backup, fake, tmp_path, path, message):
    with pytest.raises(CommandExecutionError, match=message):
        backup.restore(path, str(tmp_path / "out"))
    assert fake.calls == []


def test_restore_refuses_a_non_empty_target_unless_forced(backup, fake, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CommandExecutionError, match="exists and is not empty"):
        backup.restore("alice", str(out))
    assert fake.calls == []
    fake.reply("verify_clean")
    backup.restore("alice", str(out), force=True)
    assert sorted(os.listdir(out)) == ["keep.txt", "restored.txt"]


def test_restore_refuses_relative_targets_and_the_backed_up_tree(backup, fake, cfg):
    with pytest.raises(CommandExecutionError, match="must be an absolute path"):
        backup.restore("alice", "restored")
    with pytest.raises(CommandExecutionError, match="is inside .* pass force=True"):
        backup.restore("alice", os.path.join(cfg["source"], "alice"))
    with pytest.raises(CommandExecutionError, match="itself is refused"):
        backup.restore("alice", cfg["source"], force=True)
    assert fake.calls == []


def test_restore_passes_path_and_time_to_duplicity(backup, fake, cfg, tmp_path):
    fake.reply("restore_one_file")
    result = backup.restore("alice/", str(tmp_path / "new"), time="2026-11-30T14:00:00Z")
    # duplicity 2.0 renamed the option; 3.x refuses the old name.
    option = "--file-to-restore" if fake.version == "0.8" else "--path-to-restore"
    assert fake.argv[1:4] == ["restore", f"{option}=alice", "--time=2026-11-30T14:00:00+00:00"]
    # Into a fresh root-only directory under the work directory, never the target itself.
    staged = fake.argv[-1]
    assert fake.argv[-2] == TARGET
    assert os.path.dirname(os.path.dirname(staged)) == os.path.join(cfg["work_dir"], "tmp")
    assert not os.path.exists(os.path.dirname(staged))  # removed afterwards
    assert (tmp_path / "new" / "restored.txt").read_text() == "restored\n"
    assert fake.calls[-1]["env"]["PASSPHRASE"] == SECRET
    assert result["path"] == "alice" and result["time"] == "2026-11-30T14:00:00+00:00"
    assert result["target"] == str(tmp_path / "new") and result["files"] == 1
    (tmp_path / "empty").mkdir()
    backup.restore(".", str(tmp_path / "empty"))
    assert not any(a.startswith("--file-to-restore") for a in fake.argv)
    assert os.listdir(tmp_path / "empty") == ["restored.txt"]


def test_a_failed_restore_raises_with_duplicity_s_reason(backup, fake, tmp_path):
    fake.reply("restore_missing", returncode=19)
    with pytest.raises(CommandExecutionError, match="nosuch not found in archive"):
        backup.restore("nosuch", str(tmp_path / "out"))

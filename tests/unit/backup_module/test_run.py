"""
backup.run: the command line, the environment, the result, and the lock that
keeps a second run out.
"""

import json
import os
import subprocess
import sys

from tests.common.fake_duplicity import SECRET, TARGET

# --- run: the command line, the environment, the result ----------------------------------


def test_run_calls_duplicity_with_fixed_cache_and_the_passphrase_only_in_its_environment(
    backup, fake, cfg, caplog
):
    caplog.set_level("DEBUG")
    result = backup.run()
    argv, env = fake.argv, fake.calls[-1]["env"]
    work = cfg["work_dir"]
    assert argv[:4] == ["duplicity", "incremental", "--full-if-older-than", "604800s"]
    assert argv[-2:] == [cfg["source"], TARGET]
    for option, value in [
        ("--archive-dir", f"{work}/cache"),
        ("--name", "home"),
        ("--tempdir", f"{work}/tmp"),
        ("--num-retries", "3"),
    ]:
        assert argv[argv.index(option) + 1] == value
    assert "--log-fd" in argv and not any(a.startswith("--ssh-options") for a in argv)
    assert env["PASSPHRASE"] == SECRET and env["LC_ALL"] == "C.UTF-8"
    assert all(SECRET not in arg for arg in argv)
    assert SECRET not in json.dumps(result) and SECRET not in caplog.text
    assert result["result"] is True and result["type"] == "full"
    assert result["source_files"] == 6 and result["new_files"] == 6
    assert "start_time" not in result and result["elapsed"] >= 0


def test_an_incremental_run_reports_what_changed(backup, fake):
    fake.reply("run_incremental")
    result = backup.run()
    assert result["type"] == "incremental"
    assert (result["changed_files"], result["deleted_files"]) == (1, 1)


def test_a_full_run_on_request(backup, fake):
    assert backup.run(full=True)["type"] == "full"
    assert fake.argv[1] == "full" and "--full-if-older-than" not in fake.argv


def test_cleanup_and_status_get_no_passphrase(backup, fake):
    fake.reply("remove_one_chain")
    result = backup.cleanup()
    assert fake.argv[1:4] == ["remove-all-but-n-full", "2", "--force"]
    assert "PASSPHRASE" not in fake.calls[-1]["env"]
    assert result == {
        "result": True,
        "keep_full": 2,
        "removed_chains": 1,
        "target": TARGET,
        "elapsed": result["elapsed"],
    }
    fake.reply("collection_two_chains")
    status = backup.status()
    assert fake.argv[1] == "collection-status"
    assert "PASSPHRASE" not in fake.calls[-1]["env"]
    # A scratch cache, so status never waits for (or blocks) a running backup.
    assert "/work/cache" not in fake.argv[fake.argv.index("--archive-dir") + 1]
    assert status["chain_count"] == 2 and status["running"] is None
    assert status["last_results"]["cleanup"]["result"] is True


def test_an_sftp_target_uses_our_key_and_known_hosts_only(backup, fake, cfg):
    cfg["target"] = "sftp://jhd-backup@10.0.0.12//srv/backup/home"
    key = os.path.join(cfg["work_dir"], "ssh", "id_ed25519")
    os.makedirs(os.path.dirname(key))
    open(key, "w").close()
    backup.run()
    (options,) = [a for a in fake.argv if a.startswith("--ssh-options=")]
    work = cfg["work_dir"]
    assert options == (
        f"--ssh-options=-oUserKnownHostsFile={work}/ssh/known_hosts -oIdentityFile={key}"
    )


def test_a_failed_run_says_why_sets_the_retcode_and_is_recorded(backup, fake):
    fake.reply("restore_missing", returncode=23, stderr=f"gpg: decryption failed ({SECRET})\n")
    result = backup.run()
    assert result["result"] is False
    assert "duplicity backup of file:///srv/backups/home failed (exit 23)" in result["error"]
    assert "nosuch not found in archive" in result["error"]
    assert backup.__context__["retcode"] == 1
    fake.reply(None, returncode=30, stderr=f"BackendException: refused for {SECRET}\n")
    result = backup.run()
    assert "BackendException: refused for ***" in result["error"]
    assert SECRET not in result["error"]
    fake.reply("collection_two_chains")
    last = backup.status()["last_results"]["run"]
    assert last["result"] is False and "exit 30" in last["error"]


def test_a_changed_passphrase_starts_a_new_full_chain(backup, fake, cfg):
    fake.reply("run_incremental")
    backup.run()
    assert fake.argv[1] == "incremental"
    cfg["passphrase"] = "a new passphrase"
    result = backup.run()
    assert fake.argv[1] == "full" and result["passphrase_changed"] is True
    assert result["type"] == "full"
    backup.run()
    assert fake.argv[1] == "incremental"
    fingerprint = open(os.path.join(cfg["work_dir"], "passphrase.fingerprint")).read()
    assert "a new passphrase" not in fingerprint


# --- the lock ----------------------------------------------------------------------------


def test_a_second_run_while_the_lock_is_held_is_refused_and_not_recorded(backup, fake, cfg):
    paths = backup._paths(cfg)
    fake.reply("collection_two_chains")
    with backup.__utils__["backup_records.locked"](paths, "backup.verify"):
        result = backup.run()
        assert backup.status()["running"]["function"] == "backup.verify"
    assert result["result"] is False
    assert result["error"].startswith("another backup is running: backup.verify (pid ")
    assert result["error"].endswith("; backup.run refused")
    assert [c["argv"][1] for c in fake.calls] == ["collection-status"]
    assert backup.__context__["retcode"] == 1
    assert "run" not in backup.__utils__["backup_records.last_results"](paths)
    fake.reply("run_full")
    assert backup.run()["result"] is True


def test_the_lock_holds_against_another_process(backup, fake, cfg):
    paths = backup._paths(cfg)
    paths.make()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
            paths.lock,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = backup.cleanup()
        assert result["result"] is False and "another backup is running" in result["error"]
        assert fake.calls == []
    finally:
        holder.kill()
        holder.wait()
    assert backup.cleanup()["result"] is True

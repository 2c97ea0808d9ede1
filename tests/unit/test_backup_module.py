"""
The backup execution module (_modules/backup.py) without running duplicity, with its
_utils/backup_*.py as ``__utils__`` (tests/loaders.py).

The functions run against a stand-in for the duplicity call that records its argument list
and environment and replies with real duplicity 0.8.22 output captured in
tests/unit/duplicity_logs/ (whose parsing tests/unit/test_backup_duplicity.py tests).
tests/functional/test_backup_duplicity.py runs the real duplicity.

Why over 400 lines: one test file per module under test; the tests share the recorded
duplicity stand-in.
"""

import json
import os
import subprocess
import sys

import pytest
import salt._logging.impl
from salt.exceptions import CommandExecutionError

from tests.loaders import load
from tests.unit.test_backup_duplicity import log_of
from tests.unit.test_backup_gpg import KEY, OTHER_KEY, PUBLIC_BLOCK, SECRET_BLOCK, FakeGpg

SECRET = "correct horse battery staple"
TARGET = "file:///srv/backups/home"


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()


def module_for(cfg, salt=None, hosts=None):
    pillar = {"backup": cfg, "hosts": hosts or {"hub": "10.0.0.10", "node2": "10.0.0.12"}}
    return load(
        "_modules/backup.py",
        {"__pillar__": pillar, "__salt__": salt or {}, "__context__": {}, "__opts__": {}},
    )


@pytest.fixture
def cfg(tmp_path):
    home = tmp_path / "home"
    (home / "alice").mkdir(parents=True)
    return {
        "enabled": True,
        "source": str(home),
        "target": TARGET,
        "target_host": None,
        "full_every": 604800,
        "keep_full": 2,
        "stale_after": 10800,
        "passphrase": SECRET,
        "work_dir": str(tmp_path / "work"),
    }


class FakeDuplicity:
    """Stands in for ``_execute``: records each call, answers with a captured log."""

    def __init__(self, log="run_full", returncode=0, stdout="", stderr=""):
        self.calls = []
        self.reply(log, returncode, stdout, stderr)

    def reply(self, log, returncode=0, stdout="", stderr=""):
        """``log``: the name of a captured log, its text itself, or None for no log."""
        self.log = log_of(log) if log and "\n" not in log else log
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __call__(self, argv, env, log_fd):
        self.calls.append({"argv": argv, "env": env})
        if self.log:
            os.write(log_fd, self.log.encode())
        if argv[1] == "restore" and self.returncode == 0:
            # What duplicity leaves in the staging directory: one restored file.
            os.makedirs(argv[-1])
            with open(os.path.join(argv[-1], "restored.txt"), "w", encoding="utf-8") as handle:
                handle.write("restored\n")
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, self.stderr)

    @property
    def argv(self):
        return self.calls[-1]["argv"]


@pytest.fixture
def fake():
    return FakeDuplicity()


@pytest.fixture
def backup(cfg, fake):
    module = module_for(cfg)
    module._execute = fake
    return module


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
    fake.reply("verify_clean")
    result = backup.restore("alice/", str(tmp_path / "new"), time="2026-11-30T14:00:00Z")
    assert fake.argv[1:4] == [
        "restore",
        "--file-to-restore=alice",
        "--time=2026-11-30T14:00:00+00:00",
    ]
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


# --- pillar errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("target", None, "pillar 'backup:target' is not set"),
        ("passphrase", None, "pillar 'backup:passphrase' is not set (secrets/hub.sls)"),
        ("full_every", "7d", "pillar 'backup:full_every' must be a number of seconds"),
        ("work_dir", "var/lib/backup", "pillar 'backup:work_dir' must be an absolute path"),
        ("enabled", False, "pillar 'backup:enabled' is false"),
    ],
)
def test_pillar_problems_name_the_key(backup, fake, cfg, key, value, message):
    cfg[key] = value
    result = backup.run()
    assert result["result"] is False and message in result["error"]
    assert fake.calls == []


def test_keep_full_must_keep_something(backup, cfg):
    cfg["keep_full"] = 0
    assert "pillar 'backup:keep_full' must be at least 1" in backup.cleanup()["error"]


def test_no_backup_pillar_at_all():
    module = load("_modules/backup.py", {"__pillar__": {}, "__context__": {}})
    with pytest.raises(CommandExecutionError, match="pillar 'backup' is missing"):
        module.status()


def test_status_of_disabled_backups_without_a_target(cfg):
    cfg.update(enabled=False, target=None)
    assert module_for(cfg).status() == {"enabled": False, "target": None}


# --- ssh keys for an sftp target host ---------------------------------------------------


def test_host_keys_are_public_keys_only(tmp_path):
    for kind in ("ed25519", "rsa"):
        (tmp_path / f"ssh_host_{kind}_key").write_text("PRIVATE")
        (tmp_path / f"ssh_host_{kind}_key.pub").write_text(f"ssh-{kind} AAAA{kind} root@node2\n")
    keys = module_for({}).host_keys(keydir=str(tmp_path))
    assert keys == ["ssh-ed25519 AAAAed25519", "ssh-rsa AAAArsa"]


def test_the_public_key_is_published_once_it_exists(cfg):
    module = module_for(cfg)
    assert module.ssh_public_key() is None
    key = os.path.join(cfg["work_dir"], "ssh", "id_ed25519.pub")
    os.makedirs(os.path.dirname(key))
    with open(key, "w") as handle:
        handle.write("ssh-ed25519 AAAAhub jupyterhub-deploy-backup@hub\n")
    assert module.ssh_public_key() == "ssh-ed25519 AAAAhub jupyterhub-deploy-backup@hub"


def test_known_hosts_come_from_the_target_host_s_mine_entry(cfg, fake):
    mine = {"node2": ["ssh-ed25519 AAAAnode2", "ssh-rsa AAAArsa"]}
    asked = []

    def mine_get(tgt, fun):
        asked.append((tgt, fun))
        return {tgt: mine[tgt]} if tgt in mine else {}

    cfg.update(target_host="node2", target="sftp://jhd-backup@10.0.0.12//srv/backup/home")
    module = module_for(cfg, salt={"mine.get": mine_get})
    module._execute = fake
    assert module.run()["result"] is True
    assert asked == [("node2", "backup_host_keys")]
    known_hosts = os.path.join(cfg["work_dir"], "ssh", "known_hosts")
    assert (
        open(known_hosts).read() == "10.0.0.12 ssh-ed25519 AAAAnode2\n10.0.0.12 ssh-rsa AAAArsa\n"
    )
    assert oct(os.stat(known_hosts).st_mode & 0o777) == "0o600"

    mine.clear()  # the mine forgot them: keep what we had
    assert module.run()["result"] is True
    os.unlink(known_hosts)
    result = module.run()
    assert result["result"] is False
    assert (
        "the backup target host node2 (pillar 'backup:target_host') has not published"
        in (result["error"])
    )


def gpg_of(module):
    """The module's _utils/backup_gpg.py, in which a test replaces what runs gpg."""
    return module.__utils__.modules["backup_gpg"]


def use_key(module, fingerprint=KEY, secret=True):
    """backup:gpg_key as if imported: _install_key answers with this key."""
    blocks = []
    gpg = gpg_of(module)

    def install(paths, armored):
        blocks.append(armored)
        return gpg.Key(fingerprint, encrypt=True, secret=secret)

    gpg._install_key = install
    return blocks


def test_a_secret_key_encrypts_to_its_fingerprint_and_decrypts_with_the_passphrase(
    backup, fake, cfg, tmp_path, caplog
):
    caplog.set_level("DEBUG")
    cfg["gpg_key"] = SECRET_BLOCK
    blocks = use_key(backup)
    result = backup.run()
    assert blocks == [SECRET_BLOCK]
    argv, env = fake.argv, fake.calls[-1]["env"]
    assert argv[1:7] == [
        "incremental",
        "--full-if-older-than",
        "604800s",
        "--encrypt-key",
        KEY,
        "--gpg-options=--trust-model=always",
    ]
    assert env["PASSPHRASE"] == SECRET and env["GNUPGHOME"] == f"{cfg['work_dir']}/gnupg"
    assert all(SECRET not in a and "PGP" not in a for a in argv)
    assert SECRET not in json.dumps(result) and "PGP PRIVATE" not in caplog.text

    fake.reply("verify_clean")
    backup.restore("alice", str(tmp_path / "out"))
    assert fake.argv[1] == "restore" and "--encrypt-key" not in fake.argv
    assert fake.calls[-1]["env"]["PASSPHRASE"] == SECRET
    assert backup.verify()["result"] is True
    assert fake.calls[-1]["env"]["PASSPHRASE"] == SECRET


def test_a_secret_key_without_a_passphrase_gets_an_empty_one(backup, fake, cfg, tmp_path):
    # duplicity asks on its stdin for a PASSPHRASE it needs and does not find.
    cfg.update(gpg_key=SECRET_BLOCK, passphrase=None)
    use_key(backup)
    assert backup.run()["result"] is True
    assert fake.calls[-1]["env"]["PASSPHRASE"] == ""
    fake.reply("verify_clean")
    backup.restore("alice", str(tmp_path / "out"))
    assert fake.calls[-1]["env"]["PASSPHRASE"] == ""


def test_a_public_key_backs_up_but_verify_and_restore_are_refused(backup, fake, cfg, tmp_path):
    cfg["gpg_key"] = PUBLIC_BLOCK
    use_key(backup, secret=False)
    assert backup.run()["result"] is True
    assert KEY in fake.argv
    # The pillar's passphrase is no use to a public key: duplicity must not try to decrypt.
    assert fake.calls[-1]["env"]["PASSPHRASE"] == ""
    fake.reply("remove_nothing")
    assert backup.cleanup()["result"] is True
    calls = len(fake.calls)

    with pytest.raises(CommandExecutionError) as info:
        backup.restore("alice", str(tmp_path / "out"))
    assert str(info.value).startswith(
        f"backup.restore needs the secret key, but pillar 'backup:gpg_key' holds only the "
        f"public key {KEY}: put the secret key (gpg --armor --export-secret-keys {KEY}) in "
        "backup:gpg_key in secrets/hub.sls, or run duplicity where the secret key is"
    )
    verify = backup.verify()
    assert verify["result"] is False and verify["error"].startswith("backup.verify needs the")
    assert backup.__context__["retcode"] == 1
    assert len(fake.calls) == calls


def test_a_new_key_or_a_switch_to_or_from_a_key_starts_a_new_full_chain(backup, fake, cfg):
    fake.reply("run_incremental")
    backup.run()  # the passphrase
    cfg["gpg_key"] = PUBLIC_BLOCK
    use_key(backup, KEY, secret=False)
    result = backup.run()
    assert fake.argv[1] == "full" and result["key_changed"] is True
    assert "passphrase_changed" not in result
    result = backup.run()
    assert fake.argv[1] == "incremental" and "key_changed" not in result
    # The same key with its secret part, and another passphrase: the same chain goes on.
    cfg.update(gpg_key=SECRET_BLOCK, passphrase="the key's passphrase")
    use_key(backup, KEY, secret=True)
    assert "key_changed" not in backup.run() and fake.argv[1] == "incremental"

    use_key(backup, OTHER_KEY)
    assert backup.run()["key_changed"] is True and fake.argv[1] == "full"
    with open(os.path.join(cfg["work_dir"], "passphrase.fingerprint")) as handle:
        assert json.load(handle) == {"key": OTHER_KEY}
    backup.run()
    assert fake.argv[1] == "incremental"

    cfg["gpg_key"] = None
    result = backup.run()
    assert result["key_changed"] is True and fake.argv[1] == "full"
    assert "--encrypt-key" not in fake.argv


def test_decryption_failures_with_a_key_say_what_to_do(backup, fake, cfg, tmp_path):
    cfg["gpg_key"] = SECRET_BLOCK
    use_key(backup)
    fake.reply(None, returncode=31, stderr="gpg: public key decryption failed: Bad passphrase\n")
    with pytest.raises(CommandExecutionError, match=f"does not unlock the secret key {KEY}"):
        backup.restore("alice", str(tmp_path / "out"))
    fake.reply(None, returncode=31, stderr="gpg: decryption failed: No secret key\n")
    with pytest.raises(CommandExecutionError, match="encrypted to another key than"):
        backup.restore("alice", str(tmp_path / "out"))

    cfg["gpg_key"] = PUBLIC_BLOCK
    use_key(backup, secret=False)
    fake.reply("\n".join(["ERROR 31 GPGError", ". gpg: decryption failed: No secret key", ""]), 31)
    result = backup.run()
    assert f"holds only the public key {KEY}" in result["error"]
    assert "to rebuild its cache" in result["error"]


def test_neither_passphrase_nor_key(backup, fake, cfg):
    cfg.update(passphrase=None, gpg_key=None)
    result = backup.run()
    assert result["error"] == (
        "pillar 'backup:passphrase' is not set (secrets/hub.sls), nor 'backup:gpg_key': "
        "backups are encrypted with one of them"
    )
    assert fake.calls == []


def test_a_passphrase_hub_runs_no_gpg_and_drops_keys_a_gpg_key_left(backup, fake, cfg):
    gpg = gpg_of(backup)._gpg = FakeGpg()
    backup.run()
    assert gpg.calls == []
    cfg["gpg_key"] = f"{KEY} secret"
    backup.run()
    assert gpg.keys == {KEY: True} and KEY in fake.argv
    cfg["gpg_key"] = None
    backup.run()
    assert gpg.keys == {} and "--encrypt-key" not in fake.argv
    calls = len(gpg.calls)
    backup.run()
    assert len(gpg.calls) == calls

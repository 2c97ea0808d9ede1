"""
The backup module (_modules/backup.py) with the real duplicity: Debian's package, run as an
external command under /usr/bin/python3, against file:// targets in pytest's tmp dirs. The
module and its _utils/backup_*.py are loaded by salt's own loader (utils_dirs and
__utils__), as a minion loads them after saltutil.sync_all, which one test does too.

A full backup, changes, an incremental, then a restore of one student's home as of the full
is byte for byte what it was; cleanup keeps the last N full chains; status reads chains and
ages and turns stale; a second run while one runs is refused by the lock; verify catches a
file whose contents changed behind the backup's back; a new passphrase starts a new chain.

With a GPG key (backup:gpg_key), throwaway ed25519/cv25519 keys made by the real gpg: a
secret key backs up, continues and restores byte for byte, with or without a passphrase; a
public key alone backs up and continues from duplicity's cache while verify and restore are
refused; a new key starts a new chain.

Why over 400 lines: the tests share one real backup chain and its fixtures.
"""

import collections
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import salt._logging.impl
from salt.exceptions import CommandExecutionError

from tests.conftest import REPO
from tests.loaders import checkout_opts, minion_opts, salt_loaded

SECRET = "functional test passphrase"

pytestmark = pytest.mark.skipif(
    shutil.which("duplicity") is None,
    reason="needs duplicity (script/setup installs Debian's duplicity and python3-paramiko)",
)


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()


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
    return {
        "enabled": True,
        "source": str(home),
        "target": f"file://{tmp_path}/target",
        "target_host": None,
        "full_every": 604800,
        "keep_full": 2,
        "stale_after": 10800,
        "passphrase": SECRET,
        "work_dir": str(tmp_path / "work"),
    }


@pytest.fixture
def backup(cfg, tmp_path):
    opts = checkout_opts(tmp_path / "minion")
    yield salt_loaded("backup", opts, {"backup": cfg})
    stop_gpg_agent(cfg["work_dir"])


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


# --- encrypted to a GPG key ------------------------------------------------------------------

Key = collections.namedtuple("Key", "fingerprint public secret")


def gpg(home, *args, passphrase=""):
    command = ["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback"]
    command += ["--passphrase", passphrase, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Throwaway keys: ``plain`` and ``other`` without a passphrase, ``locked`` with one."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    # Few key derivation rounds: a protected key is made in 0.1 s instead of 4.
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    made = {}
    for name, passphrase in (("plain", ""), ("other", ""), ("locked", "key passphrase")):
        uid = f"{name} <{name}@example.invalid>"
        gpg(
            home,
            "--quick-gen-key",
            uid,
            "future-default",
            "default",
            "never",
            passphrase=passphrase,
        )
        listing = gpg(home, "--with-colons", "--list-keys", f"={uid}")
        fingerprint = next(r.split(":")[9] for r in listing.splitlines() if r.startswith("fpr:"))
        public = gpg(home, "--armor", "--export", fingerprint)
        secret = gpg(home, "--armor", "--export-secret-keys", fingerprint, passphrase=passphrase)
        made[name] = Key(fingerprint, public, secret)
    made["home"] = home
    yield made
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


def module_keyring(cfg):
    """{fingerprint: has its secret key} of the module's GnuPG home."""
    home = os.path.join(cfg["work_dir"], "gnupg")

    def primary_keys(option):
        lines = gpg(home, "--with-colons", option).splitlines()
        pairs = zip(lines, lines[1:], strict=False)
        return {b.split(":")[9] for a, b in pairs if a[:4] in ("pub:", "sec:") and b[:4] == "fpr:"}

    secret = primary_keys("--list-secret-keys")
    return {fingerprint: fingerprint in secret for fingerprint in primary_keys("--list-keys")}


def volumes(tmp_path):
    return sorted(str(p) for p in (tmp_path / "target").glob("duplicity-*.vol*.difftar.gpg"))


def test_a_secret_key_backs_up_continues_and_restores_byte_for_byte(
    backup, cfg, home, keys, tmp_path
):
    cfg.update(gpg_key=keys["plain"].secret, passphrase=None)
    full = backup.run()
    assert full["result"] is True and full["type"] == "full", full
    as_of_full, time_of_full = snapshot(home / "alice"), backup.status()["last_full"]
    # Encrypted to the key: its owner decrypts a volume without any passphrase.
    (volume,) = volumes(tmp_path)
    gpg(keys["home"], "--output", str(tmp_path / "volume.tar"), "--decrypt", volume)

    new_second()
    (home / "alice" / "notes.txt").write_text("second draft, longer than the first\n")
    (home / "alice" / "old.txt").unlink()
    incremental = backup.run()
    assert incremental["result"] is True and incremental["type"] == "incremental", incremental
    assert incremental["deleted_files"] == 1 and incremental["changed_files"] >= 1

    backup.restore("alice", str(tmp_path / "restored"), time=time_of_full)
    assert snapshot(tmp_path / "restored") == as_of_full
    backup.restore("alice", str(tmp_path / "latest"))
    assert snapshot(tmp_path / "latest") == snapshot(home / "alice")
    assert backup.verify()["result"] is True
    assert backup.status()["chain_count"] == 1
    assert module_keyring(cfg) == {keys["plain"].fingerprint: True}


def test_a_secret_key_with_a_passphrase_needs_the_right_one(backup, cfg, home, keys, tmp_path):
    cfg.update(gpg_key=keys["locked"].secret, passphrase="key passphrase")
    assert backup.run()["type"] == "full"
    new_second()
    (home / "bob" / "bob.txt").write_text("changed\n")
    assert backup.run()["type"] == "incremental"
    backup.restore("bob", str(tmp_path / "bob"))
    assert (tmp_path / "bob" / "bob.txt").read_text() == "changed\n"

    # gpg-agent caches no passphrase: a wrong one right after the right one still fails.
    cfg["passphrase"] = "not the key passphrase"
    with pytest.raises(CommandExecutionError, match="does not unlock the secret key") as info:
        backup.restore("bob", str(tmp_path / "wrong"))
    assert "not the key passphrase" not in str(info.value)
    cfg["passphrase"] = None
    with pytest.raises(CommandExecutionError, match="does not unlock the secret key"):
        backup.restore("bob", str(tmp_path / "none"))


def test_a_public_key_backs_up_and_continues_but_cannot_restore(backup, cfg, home, keys, tmp_path):
    cfg.update(gpg_key=keys["plain"].public, passphrase=SECRET)
    assert backup.run()["type"] == "full"
    new_second()
    (home / "alice" / "notes.txt").write_text("after the full\n")
    incremental = backup.run()
    assert incremental["result"] is True and incremental["type"] == "incremental", incremental
    assert incremental["changed_files"] >= 1
    assert backup.cleanup()["result"] is True
    assert backup.status()["chains"][0]["sets"] == 2
    assert module_keyring(cfg) == {keys["plain"].fingerprint: False}

    with pytest.raises(CommandExecutionError, match="needs the secret key") as info:
        backup.restore("alice", str(tmp_path / "restored"))
    assert "holds only the public key " + keys["plain"].fingerprint in str(info.value)
    assert "--export-secret-keys" in str(info.value)
    verify = backup.verify()
    assert verify["result"] is False and "backup.verify needs the secret key" in verify["error"]

    # The same chain restores once the secret key is given, and giving the public key
    # alone again takes the secret key off the hub.
    cfg["gpg_key"] = keys["plain"].secret
    backup.restore("alice", str(tmp_path / "restored"))
    assert (tmp_path / "restored" / "notes.txt").read_text() == "after the full\n"
    cfg["gpg_key"] = keys["plain"].public
    assert module_keyring(cfg) == {keys["plain"].fingerprint: True}
    with pytest.raises(CommandExecutionError, match="needs the secret key"):
        backup.restore("alice", str(tmp_path / "again"))
    assert module_keyring(cfg) == {keys["plain"].fingerprint: False}


def test_a_public_key_cannot_continue_without_duplicity_s_cache(backup, cfg, keys):
    cfg.update(gpg_key=keys["plain"].public, passphrase=None)
    assert backup.run()["type"] == "full"
    shutil.rmtree(os.path.join(cfg["work_dir"], "cache"))
    new_second()
    result = backup.run()
    assert result["result"] is False
    assert "holds only the public key" in result["error"]
    assert "rebuild its cache" in result["error"]


def test_a_new_key_starts_a_new_chain(backup, cfg, home, keys, tmp_path):
    backup.run()  # symmetric, with the passphrase
    new_second()
    cfg["gpg_key"] = keys["plain"].public
    switched = backup.run()
    assert switched["type"] == "full" and switched["key_changed"] is True
    new_second()
    assert backup.run()["type"] == "incremental"

    new_second()
    (home / "alice" / "notes.txt").write_text("written for the other key\n")
    cfg["gpg_key"] = keys["other"].secret
    changed = backup.run()
    assert changed["type"] == "full" and changed["key_changed"] is True
    assert [c["sets"] for c in backup.status()["chains"]] == [1, 2, 1]
    assert module_keyring(cfg) == {keys["other"].fingerprint: True}
    backup.restore("alice", str(tmp_path / "restored"))
    assert (tmp_path / "restored" / "notes.txt").read_text() == "written for the other key\n"

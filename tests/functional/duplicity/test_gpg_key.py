"""
With a GPG key (backup:gpg_key), throwaway ed25519/cv25519 keys made by the real gpg: a
secret key backs up, continues and restores byte for byte, with or without a passphrase; a
public key alone backs up and continues from duplicity's cache while verify and restore are
refused; a new key starts a new chain.
"""

import collections
import os
import shutil
import subprocess

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.backup_runs import NEEDS_DUPLICITY, SECRET, new_second, snapshot

pytestmark = NEEDS_DUPLICITY


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

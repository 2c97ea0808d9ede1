"""
backup:gpg_key: encryption to a key, which needs its secret part (and passphrase) to
verify and restore, and a new full chain when the key changes; gpg is the double of
tests/common/gpg_keys.py.
"""

import json
import os

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.fake_duplicity import SECRET
from tests.common.gpg_keys import KEY, OTHER_KEY, PUBLIC_BLOCK, SECRET_BLOCK, FakeGpg


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

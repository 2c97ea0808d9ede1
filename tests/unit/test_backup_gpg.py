"""
_utils/backup_gpg.py: encryption with backup:passphrase or to backup:gpg_key, the module's
own GnuPG home, and what the last run encrypted with. gpg itself runs in
tests/functional/duplicity/test_gpg_key.py; here a stand-in answers for it.
"""

import json

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.gpg_keys import KEY, OTHER_KEY, FakeGpg
from tests.common.loaders import load

gpg = load("_utils/backup_gpg.py")
backup_records = load("_utils/backup_records.py")

# gpg 2.2.40 --with-colons of an ed25519 key with a cv25519 encryption subkey.
SECRET_LISTING = """\
sec:-:255:22:7014EBA0F79553CF:1796008408:::-:::scESC:::+::ed25519:::0:
fpr:::::::::6B3E296D875236EE4E056ADD7014EBA0F79553CF:
grp:::::::::65E0E921A33007B90B72BB9B97050C595C540757:
uid:-::::1796008408::BD6F9B8DA8E1C1A69FCCEECEDCD981B03CF9666B::test <t@example>::::::::::0:
ssb:-:255:18:3E0EC48F466EB966:1796008408::::::e:::+::cv25519::
fpr:::::::::CA53B58F7CB287689468075C3E0EC48F466EB966:
grp:::::::::98B694F5B8E2D76974037F95008E0C7F005B31CE:
"""
PUBLIC_LISTING = """\
tru::1:1796008484:0:3:1:5
pub:-:255:22:7014EBA0F79553CF:1796008408:::-:::scESC:::::ed25519:::0:
fpr:::::::::6B3E296D875236EE4E056ADD7014EBA0F79553CF:
uid:-::::1796008408::BD6F9B8DA8E1C1A69FCCEECEDCD981B03CF9666B::test <t@example>::::::::::0:
sub:-:255:18:3E0EC48F466EB966:1796008408::::::e:::::cv25519::
fpr:::::::::CA53B58F7CB287689468075C3E0EC48F466EB966:
"""


@pytest.fixture
def module():
    """A module of its own, for a test that replaces its _gpg."""
    return load("_utils/backup_gpg.py")


@pytest.fixture
def paths(tmp_path):
    return backup_records.work_dir(str(tmp_path / "work"))


def test_gpg_listings_give_fingerprint_capability_and_secret_part():
    (key,) = gpg._parse_keys(SECRET_LISTING).values()
    assert (key.fingerprint, key.encrypt, key.secret) == (KEY, True, True)
    (key,) = gpg._parse_keys(PUBLIC_LISTING).values()
    assert (key.fingerprint, key.encrypt, key.secret) == (KEY, True, False)
    # `--import-options show-only` of a secret block, or an exported stub: "#", no secret.
    stub = SECRET_LISTING.replace(":e:::+:", ":e:::#:")
    assert gpg._parse_keys(stub)[KEY].secret is False
    sign_only = "pub:-:255:22:48628CB771C313CA:1:::-:::scSC:::::ed25519:::0:\n"
    sign_only += f"fpr:::::::::{OTHER_KEY}:\n"
    both = gpg._parse_keys(PUBLIC_LISTING + sign_only)
    assert list(both) == [KEY, OTHER_KEY] and both[OTHER_KEY].encrypt is False


def test_the_key_is_imported_once_and_the_keyring_holds_it_alone(module, paths):
    gpg = module._gpg = FakeGpg()
    key = module._install_key(paths, f"{KEY} secret")
    assert (key.fingerprint, key.secret) == (KEY, True)
    assert gpg.calls.count("--import") == 1
    assert "max-cache-ttl 0" in open(paths.agent_conf).read()
    module._install_key(paths, f"{KEY} secret")
    assert gpg.calls.count("--import") == 1  # unchanged: only listed

    # Cut down to the public key: the secret key leaves the hub.
    assert module._install_key(paths, f"{KEY} public").secret is False
    assert gpg.keys == {KEY: False}
    module._install_key(paths, f"{OTHER_KEY} secret")
    assert gpg.keys == {OTHER_KEY: True}
    with pytest.raises(CommandExecutionError, match="must hold one OpenPGP key, gpg found 2"):
        module._install_key(paths, f"{KEY} public\n{OTHER_KEY} secret")
    assert gpg.keys == {}


def test_a_passphrase_is_remembered_only_as_a_salted_hash(paths):
    paths.make()
    symmetric = gpg.Encryption(None, "first passphrase")
    assert gpg.changed(paths, symmetric) is None  # nothing saved yet
    gpg.save_fingerprint(paths, symmetric)
    with open(paths.fingerprint) as handle:
        saved = json.load(handle)
    assert set(saved) == {"salt", "hash"} and "first passphrase" not in json.dumps(saved)
    assert gpg.changed(paths, symmetric) is None
    assert gpg.changed(paths, gpg.Encryption(None, "second passphrase")) == "passphrase"
    to_key = gpg.Encryption(gpg.Key(KEY, encrypt=True, secret=False), "")
    assert gpg.changed(paths, to_key) == "key"
    gpg.save_fingerprint(paths, to_key)
    assert gpg.changed(paths, to_key) is None
    assert gpg.changed(paths, gpg.Encryption(gpg.Key(OTHER_KEY), "")) == "key"
    assert gpg.changed(paths, symmetric) == "key"


def test_options_and_hints_follow_the_key():
    assert gpg.Encryption(None, "pw").options() == []
    secret = gpg.Encryption(gpg.Key(KEY, encrypt=True, secret=True), "pw")
    assert secret.options() == ["--encrypt-key", KEY, "--gpg-options=--trust-model=always"]
    assert gpg.key_hint(None, "No secret key") == ""
    assert gpg.key_hint(gpg.Encryption(None, "pw"), "Bad passphrase") == ""
    assert "does not unlock the secret key" in gpg.key_hint(secret, "gpg: Bad passphrase")
    assert "encrypted to another key" in gpg.key_hint(secret, "gpg: No secret key")
    public = gpg.Encryption(gpg.Key(KEY, encrypt=True, secret=False), "")
    assert "holds only the public key" in gpg.key_hint(public, "gpg: No secret key")
    with pytest.raises(CommandExecutionError, match="backup.verify needs the secret key"):
        gpg.require_secret(public, "backup.verify")
    gpg.require_secret(secret, "backup.verify")

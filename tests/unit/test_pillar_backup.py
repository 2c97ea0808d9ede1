"""The site pillar validator (_pillar/jupyterhub_deploy.py) on the backup section: the
target host, the target URL it makes, and backup:gpg_key in place of the passphrase."""

import pytest

from tests.common.sites import DEFAULTS, deploy, errors_of, read
from tests.common.sites import sls_pillar as site_pillar

HUB = "hub.example.edu"


# --- backup target host ------------------------------------------------------------


def with_backup_host(secrets, host="node2.example.edu"):
    pillar = site_pillar("example", secrets)
    pillar["backup"].update(target=None, target_host=host)
    return pillar


def test_backup_target_host_gets_its_role_and_the_hub_its_sftp_target():
    hub = deploy.build(HUB, with_backup_host(("hub",)), DEFAULTS)
    assert hub["backup"]["target"] == "sftp://jhd-backup@10.0.0.12//srv/backup/home"
    assert hub["minion_roles"] == ["hub"]
    target = deploy.build("node2.example.edu", with_backup_host(()), DEFAULTS)
    assert target["minion_roles"] == ["node", "backup_target"]
    assert target["mine_functions"] == {"backup_host_keys": [{"mine_function": "backup.host_keys"}]}
    node1 = deploy.build("node1.example.edu", with_backup_host(()), DEFAULTS)
    assert node1["minion_roles"] == ["node"] and "mine_functions" not in node1


def test_an_ipv6_backup_target_host_is_bracketed_in_the_url():
    pillar = with_backup_host(("hub",))
    pillar["hosts"]["node2.example.edu"] = "fd00::12"
    hub = deploy.build(HUB, pillar, DEFAULTS)
    assert hub["backup"]["target"] == "sftp://jhd-backup@[fd00::12]//srv/backup/home"


def test_an_explicit_backup_target_wins_over_the_target_host():
    pillar = site_pillar("example", ("hub",))
    pillar["backup"]["target_host"] = "node2.example.edu"
    url = pillar["backup"]["target"]
    assert deploy.build(HUB, pillar, DEFAULTS)["backup"]["target"] == url


def test_backup_target_host_must_be_a_host_and_not_the_hub():
    pillar = site_pillar()
    pillar["backup"]["target_host"] = "nas.example.edu"
    assert "'backup:target_host' names 'nas.example.edu', which is not in 'hosts'" in errors_of(
        HUB, pillar
    )
    pillar["backup"]["target_host"] = HUB
    assert "'backup:target_host' is the hub itself" in errors_of(HUB, pillar)


def test_enabled_backups_need_a_target_or_a_target_host():
    pillar = site_pillar()
    pillar["backup"]["target"] = None
    message = errors_of(HUB, pillar)
    assert (
        "'backup:target' is missing: put it in secrets/hub.sls, or set 'backup:target_host' "
        "in site.sls"
    ) in message


def test_the_backup_target_is_a_hub_secret():
    """Issue #18 item 7: a URL may carry the target's credentials (b2://id:key@...)."""
    node = read("pillar/example/site.sls")["roles"]["nodes"][0]
    pillar = site_pillar(secrets=())
    pillar["backup"]["target"] = "b2://keyid:applicationkey@bucket/home"
    message = errors_of(node, pillar)
    assert f"'backup:target' is a secret of the hub but reached '{node}'" in message
    assert "move it to secrets/hub.sls" in message
    # Derived from backup:target_host (no credentials), the hub alone gets it too.
    lab = read("pillar/lab/site.sls")
    built = {
        minion: deploy.build(minion, site_pillar("lab", roles), DEFAULTS)["backup"]["target"]
        for minion, roles in ((lab["roles"]["hub"], ("hub",)), (lab["roles"]["proxy"], ("proxy",)))
    }
    assert built[lab["roles"]["hub"]].startswith("sftp://jhd-backup@")
    assert built[lab["roles"]["proxy"]] is None


def test_backup_paths_must_be_absolute():
    pillar = site_pillar()
    pillar["backup"]["work_dir"] = "var/lib/backup"
    assert "'backup:work_dir' must be an absolute path" in errors_of(HUB, pillar)


# --- backup:gpg_key --------------------------------------------------------------------

PUBLIC_KEY_BLOCK = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaUtQ2BYJKwYBBAHaRw8BAQdA\n=abcd\n"
    "-----END PGP PUBLIC KEY BLOCK-----\n"
)
PRIVATE_KEY_BLOCK = PUBLIC_KEY_BLOCK.replace("PUBLIC", "PRIVATE")


@pytest.mark.parametrize("block", [PUBLIC_KEY_BLOCK, PRIVATE_KEY_BLOCK])
def test_a_gpg_key_stands_in_for_the_backup_passphrase(block):
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    pillar["backup"]["gpg_key"] = block
    hub = deploy.build(HUB, pillar, DEFAULTS)
    assert hub["backup"]["gpg_key"] == block and hub["backup"]["passphrase"] is None


def test_without_passphrase_and_gpg_key_the_error_names_both():
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    assert (
        "'backup:passphrase' is missing: put it (or 'backup:gpg_key') in secrets/hub.sls"
        in errors_of(HUB, pillar)
    )


def test_disabled_backups_need_neither():
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    pillar["backup"]["enabled"] = False
    assert deploy.build(HUB, pillar, DEFAULTS)["backup"]["gpg_key"] is None


def test_a_gpg_key_is_a_secret_of_the_hub():
    pillar = site_pillar(secrets=())
    pillar["backup"]["gpg_key"] = PRIVATE_KEY_BLOCK
    message = errors_of("node1.example.edu", pillar)
    assert "'backup:gpg_key' is a secret of the hub but reached 'node1.example.edu'" in message
    assert "mDMEaUtQ" not in message


@pytest.mark.parametrize(
    "value",
    [
        "6B3E296D875236EE4E056ADD7014EBA0F79553CF",  # a fingerprint, not a key
        "-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlFgEaUtQ\n",  # cut short
        PUBLIC_KEY_BLOCK.replace("END PGP PUBLIC", "END PGP PRIVATE"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----\n",
    ],
)
def test_a_gpg_key_that_is_no_armored_key_block_is_refused_without_showing_it(value):
    pillar = site_pillar()
    pillar["backup"]["gpg_key"] = value
    message = errors_of(HUB, pillar)
    assert "'backup:gpg_key' must be an ASCII-armored OpenPGP key block" in message
    assert value.strip().splitlines()[-1] not in message


def test_a_gpg_key_must_be_text():
    pillar = site_pillar()
    pillar["backup"]["gpg_key"] = ["-----BEGIN PGP PUBLIC KEY BLOCK-----"]
    assert "'backup:gpg_key' must be a str, got list" in errors_of(HUB, pillar)

"""
The backup pillar's problems, each naming its key, and the ssh keys of an sftp target
host (the hub's own key, the host's keys through the mine).
"""

import os

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.fake_duplicity import module_for
from tests.common.loaders import load

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

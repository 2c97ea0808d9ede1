"""
Backups over sftp to a backup target host as salt/backup/target.sls lays it out, with the real
duplicity (paramiko backend) and a real OpenSSH sshd.

sshd (Debian's, unpacked into .tools/openssh by script/setup, or /usr/sbin/sshd) runs in a
private mount namespace where copies of /etc/passwd and /etc/shadow add the sftp-only account
and sshd's privilege separation user, and the target's directory is bound over /mnt (owned
by root like /srv/backup, so sshd's StrictModes applies as on a real host). The hub side is
the module, loaded by salt's own loader, with the key the hub's state makes and the
known_hosts it writes from the target host's mine entry (here the real backup.host_keys of
the sandbox's host key).
"""

import os
import shutil
import socket
import subprocess
import time

import pytest
import salt._logging.impl

from tests.common.backup_runs import stop_gpg_agent
from tests.common.loaders import checkout_opts, salt_loaded
from tests.common.paths import REPO

UNPACKED = REPO / ".tools/openssh"
ACCOUNT, UID = "jhd-backup", 64123
SECRET = "sftp test passphrase"


def _sshd():
    for sshd, libs in (
        (UNPACKED / "usr/sbin/sshd", UNPACKED / "usr/lib/x86_64-linux-gnu"),
        ("/usr/sbin/sshd", None),
    ):
        if os.access(sshd, os.X_OK):
            return str(sshd), str(libs) if libs else None
    return None, None


SSHD, SSHD_LIBS = _sshd()


def helpers():
    """OpenSSH 10 (Debian 13) runs each connection in sshd-session and sshd-auth, which an
    unpacked sshd must be told where to find; 9 has neither."""
    lines = ""
    for option, name in (("SshdSessionPath", "sshd-session"), ("SshdAuthPath", "sshd-auth")):
        path = os.path.join(os.path.dirname(os.path.dirname(SSHD)), "lib/openssh", name)
        if SSHD.startswith(str(UNPACKED)) and os.access(path, os.X_OK):
            lines += f"{option} {path}\n"
    return lines


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare --mount, sshd)"),
    pytest.mark.skipif(SSHD is None, reason="needs sshd (script/setup unpacks it)"),
    pytest.mark.skipif(shutil.which("duplicity") is None, reason="needs duplicity"),
    pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs openssh-client"),
]

# In the namespace: the account files and the target's home, then sshd in the foreground.
NAMESPACE_SCRIPT = """
t=$1
mount --bind "$t/passwd" /etc/passwd
mount --bind "$t/shadow" /etc/shadow
mount --bind "$t/target" /mnt
mkdir -p /run/sshd
exec "$SSHD" -D -e -f "$t/sshd_config"
"""


@pytest.fixture(autouse=True, scope="module")
def _salt_logs_to_pytest():
    """Salt defers warnings to an stderr that pytest has closed by exit; pytest shows them."""
    salt._logging.impl.shutdown_temp_handler()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path, comment):
    # The command salt/backup/init.sls runs on the hub.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )


@pytest.fixture
def hub_key(tmp_path):
    work = tmp_path / "work"
    (work / "ssh").mkdir(parents=True, mode=0o700)
    keygen(work / "ssh" / "id_ed25519", "jupyterhub-deploy-backup@hub")
    return work


@pytest.fixture
def target_host(tmp_path, hub_key):
    """A running sshd with the sftp-only account, its key as target.sls writes it."""
    t = tmp_path / "sandbox"
    (t / "hostkeys").mkdir(parents=True)
    keygen(t / "hostkeys" / "ssh_host_ed25519_key", "root@backupbox")
    # target.sls: home and .ssh owned by root, the data directory by the account.
    target = t / "target"
    (target / ".ssh").mkdir(parents=True)
    (target / "home").mkdir()
    os.chown(target / "home", UID, UID)
    os.chmod(target / "home", 0o700)
    public = (hub_key / "ssh" / "id_ed25519.pub").read_text().strip()
    (target / ".ssh" / "authorized_keys").write_text(f'restrict,command="internal-sftp" {public}\n')
    with open("/etc/passwd") as handle:
        passwd = handle.read()
    with open("/etc/shadow") as handle:
        shadow = handle.read()
    (t / "passwd").write_text(
        passwd + f"sshd:x:64124:65534::/run/sshd:/usr/sbin/nologin\n"
        f"{ACCOUNT}:x:{UID}:{UID}::/mnt:/usr/sbin/nologin\n"
    )
    (t / "shadow").write_text(shadow + f"{ACCOUNT}:*:20000:0:99999:7:::\n")
    port = free_port()
    (t / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\n"
        f"HostKey {t}/hostkeys/ssh_host_ed25519_key\n"
        # No PAM configuration without the package; Debian's default sftp subsystem.
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n" + helpers()
    )
    env = dict(os.environ, SSHD=SSHD)
    if SSHD_LIBS:
        env["LD_LIBRARY_PATH"] = SSHD_LIBS
    log = open(t / "sshd.log", "w")
    sshd = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SCRIPT, "-", t],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if sshd.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sshd did not start: {(t / 'sshd.log').read_text()}")
                time.sleep(0.05)
        yield {"port": port, "sandbox": t, "data": target / "home"}
    finally:
        sshd.terminate()
        sshd.wait(10)
        log.close()


@pytest.fixture
def backup(tmp_path, hub_key, target_host):
    home = tmp_path / "home"
    (home / "alice").mkdir(parents=True)
    (home / "alice" / "notes.txt").write_text("over sftp\n")
    (home / "alice" / "data.bin").write_bytes(os.urandom(100_000))
    cfg = {
        "enabled": True,
        "source": str(home),
        "target": f"sftp://{ACCOUNT}@127.0.0.1:{target_host['port']}//mnt/home",
        "target_host": "backupbox",
        "full_every": 604800,
        "keep_full": 2,
        "stale_after": 10800,
        "passphrase": SECRET,
        "work_dir": str(hub_key),
    }
    opts = checkout_opts(tmp_path / "minion")
    pillar = {"backup": cfg, "hosts": {"backupbox": "127.0.0.1"}}
    module = salt_loaded("backup", opts, pillar)
    keys = module.host_keys(keydir=str(target_host["sandbox"] / "hostkeys"))
    mine = {"backupbox": keys}
    module.functions["mine.get"] = lambda tgt, fun: {tgt: mine[tgt]}
    module.mine = mine
    yield module
    stop_gpg_agent(cfg["work_dir"])


def test_backup_status_verify_and_restore_over_sftp(backup, target_host, tmp_path):
    full = backup.run()
    assert full["result"] is True and full["type"] == "full", full
    known_hosts = (tmp_path / "work" / "ssh" / "known_hosts").read_text()
    assert known_hosts.startswith(f"[127.0.0.1]:{target_host['port']} ssh-ed25519 ")
    # The encrypted volumes landed in the account's directory, written as the account.
    stored = sorted(os.listdir(target_host["data"]))
    assert any(name.endswith(".difftar.gpg") for name in stored), stored
    assert {os.stat(target_host["data"] / n).st_uid for n in stored} == {UID}

    status = backup.status()
    assert status["chain_count"] == 1 and status["stale"] is False
    assert backup.verify()["result"] is True
    backup.restore("alice", str(tmp_path / "restored"))
    assert (tmp_path / "restored" / "notes.txt").read_text() == "over sftp\n"


def test_the_account_gets_sftp_and_nothing_else(backup, target_host, tmp_path):
    key = tmp_path / "work" / "ssh" / "id_ed25519"
    backup.status()  # writes known_hosts
    ssh = [
        "ssh",
        "-p",
        str(target_host["port"]),
        "-i",
        str(key),
        "-o",
        f"UserKnownHostsFile={tmp_path}/work/ssh/known_hosts",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ]
    shell = subprocess.run(
        [*ssh, f"{ACCOUNT}@127.0.0.1", "id"], capture_output=True, text=True, timeout=30
    )
    assert shell.returncode != 0
    assert "uid=" not in shell.stdout
    assert "This service allows sftp connections only." in shell.stdout + shell.stderr
    forward = subprocess.run(
        [
            *ssh,
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:9",
            f"{ACCOUNT}@127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert forward.returncode != 0 and "forwarding failed" in forward.stderr


def test_a_host_key_that_is_not_the_published_one_is_refused(backup, tmp_path):
    other = tmp_path / "other"
    keygen(other, "impostor")
    backup.mine["backupbox"] = [" ".join(other.with_suffix(".pub").read_text().split()[:2])]
    result = backup.run()
    assert result["result"] is False
    assert "ssh connection to jhd-backup@127.0.0.1" in result["error"], result["error"]
    assert "does not match" in result["error"]

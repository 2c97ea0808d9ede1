"""
ssh for an sftp backup target (``backup:target_host``): the hub's ``known_hosts`` from the
host keys the target publishes in the mine (``backup.host_keys``, so duplicity talks to
that host and no other), the hub's public key the target authorises for sftp only
(``backup.ssh_public_key``), and the host keys a target publishes, public keys only.
_modules/backup.py reads the mine and the pillar; this file writes and reads the files.

Reached through ``__utils__["backup_ssh.<function>"]``; the work directory comes as the
Paths object of _utils/backup_records.py.
"""

import glob
import logging
import os
import urllib.parse

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)


def trust(paths, host, keys, address, target):
    """
    Write ``ssh/known_hosts`` with ``keys``, the host keys ``host`` published in the mine,
    at ``address`` (``host``'s in the pillar's ``hosts``) on the port of the ``target`` URL.
    Without keys (the mine could not be read, or holds none), keeps the last ones, or
    refuses when there are none.
    """
    if not keys:
        if os.path.exists(paths.known_hosts):
            return
        raise CommandExecutionError(
            f"the backup target host {host} (pillar 'backup:target_host') has not published "
            f"its ssh host keys in the mine: apply its highstate (salt/backup/target.sls) or "
            f"run `salt {host} mine.update`"
        )
    port = urllib.parse.urlsplit(str(target)).port
    if port and port != 22:
        address = f"[{address}]:{port}"
    contents = "".join(f"{address} {key}\n" for key in keys)
    os.makedirs(os.path.dirname(paths.known_hosts), mode=0o700, exist_ok=True)
    paths.write_if_changed(paths.known_hosts, contents)
    log.info("backup: known_hosts now holds %d host key(s) of %s", len(keys), host)


def public_key(paths):
    """The hub's public ssh key (``<work_dir>/ssh/id_ed25519.pub``), or None."""
    path = paths.ssh_key + ".pub"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def host_keys(keydir):
    """The public host keys in ``keydir`` as ``["ssh-ed25519 AAAA...", ...]``, sorted."""
    keys = []
    for path in sorted(glob.glob(os.path.join(keydir, "ssh_host_*_key.pub"))):
        with open(path, encoding="utf-8") as handle:
            fields = handle.read().split()
        if len(fields) >= 2:
            keys.append(f"{fields[0]} {fields[1]}")
    return keys

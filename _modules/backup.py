"""
Encrypted duplicity backups of the students' homes, run on the hub.

duplicity does the work (full and incremental chains, GnuPG encryption, many backends:
file://, sftp://, s3://). This module is what salt schedules call on the hub
(salt/backup), so every result is an ordinary salt job in the master's job cache, and what
an admin calls by hand, e.g. ``salt hub backup.restore alice /srv/restore/alice``.

Around duplicity it adds what cron scripts used to leave out:

- settings from the pillar ``backup:`` section (salt/backup/defaults.yaml), with errors
  that name the key;
- the passphrase only ever in duplicity's environment (``PASSPHRASE``), and a GPG key
  only on gpg's stdin, never on a command line, in a return value or in a log line;
- one lock (``flock`` on ``<work_dir>/lock``) so a run, cleanup, verify or restore never
  overlaps another; the second one is refused and says who holds the lock;
- a fixed ``--archive-dir`` and ``--name``, so duplicity's local cache survives between runs;
- parsed results: duplicity's machine-readable log (``--log-fd``) gives the statistics of a
  run and the chains of ``collection-status``;
- the last result of each function in ``<work_dir>/results.json``, which ``status`` reports
  and ``salt-run backup.status`` (_runners/backup.py) turns into an exit code;
- a full backup when the passphrase or the key changed: duplicity would otherwise append
  increments encrypted with the new one to a chain made with the old one, and neither
  could restore that chain.

Encryption is symmetric with ``backup:passphrase``, or, when ``backup:gpg_key`` holds an
ASCII-armored OpenPGP key block, to that key (duplicity ``--encrypt-key``):

- the block is imported into the module's own GnuPG home (``<work_dir>/gnupg``) before each
  run, verify and restore, and that home then holds this key and no other: a key removed
  from the pillar, or cut down to its public part, leaves no secret key behind. The
  fingerprint comes from gpg's listing of the imported key; the key needs no ownertrust
  (duplicity gets ``--trust-model=always``);
- a secret key block: backups are encrypted to it, and verify, restore and a run that
  must rebuild duplicity's cache decrypt with it; ``backup:passphrase`` is then the secret
  key's passphrase (null for a key without one). gpg-agent caches no passphrase, so a
  wrong one fails the next verify or restore (a run only encrypts, and still succeeds);
- a public key block only: ``run``, ``cleanup`` and ``status`` work, incrementals reading
  the previous signatures from duplicity's local cache (``<work_dir>/cache``); ``verify``
  and ``restore`` are refused, as they need the secret key: restore where that key is,
  or put the secret key in ``backup:gpg_key``. A hub that lost that cache (or whose cache
  is behind the target) cannot continue the chain, since duplicity would decrypt the
  target's metadata to rebuild it: the error says so. ``backup:passphrase`` is not used;
- a new key (another fingerprint), like a new passphrase, starts a new full chain; older
  chains need the older key to restore.

This module is salt's face: the functions, their docstrings, the job's retcode. What they
do is in ``_utils/``, reached through ``__utils__`` (minions get it with
``saltutil.sync_all``, like this module), each call handed salt's side (the pillar, the
mine, ``__context__``) as a Job: ``backup_jobs`` (run, cleanup, verify, status),
``backup_restore`` (restore, and where its files go, never through a student's link),
``backup_duplicity`` (command line, log parsing), ``backup_gpg`` (encryption),
``backup_records`` (work directory, lock, results, status's summary), ``backup_checks``
(pillar keys, restore's path) and ``backup_ssh`` (an sftp target's ssh keys).

``run``, ``cleanup`` and ``verify`` return ``{"result": False, "error": ...}`` on failure and
set the job's retcode, rather than raise: salt's scheduler replaces the message of an
exception by "Unhandled exception running ...", and these are the functions it runs.
"""

import contextlib
import logging
import subprocess

from salt.exceptions import CommandExecutionError
from salt.loader.context import NamedLoaderContext

log = logging.getLogger(__name__)

__virtualname__ = "backup"


def __virtual__():
    # Everywhere: the backup target host publishes host_keys through the mine.
    return __virtualname__


# --- salt's side, handed to _utils/ ------------------------------------------------------


def _settings():
    """The pillar's ``backup:`` section."""
    section = __pillar__.get("backup")
    if not isinstance(section, dict):
        raise CommandExecutionError(
            "pillar 'backup' is missing: this minion did not get the site pillar "
            "(is the jupyterhub_deploy ext_pillar configured on the master?)"
        )
    return section


def _loaded(name):
    """
    What salt's dunder ``name`` stands for here, for _utils/ (None when this module was
    loaded without it): salt's loader gives a module a view of it (see the Job).
    """
    dunder = globals().get(name)
    return dunder.value() if isinstance(dunder, NamedLoaderContext) else dunder


def _job(cfg):
    """The Job (_utils/backup_jobs.py) of this call, with the pillar section ``cfg``."""
    # _execute by name at each call: the unit tests and benchmarks/backup.py replace it.
    dunders = [_loaded(name) for name in ("__utils__", "__salt__", "__pillar__", "__context__")]
    return __utils__["backup_jobs.make_job"](cfg, *dunders, _execute)


def _paths(cfg):
    """The Paths (_utils/backup_records.py) of ``backup:work_dir``."""
    return _job(cfg).paths()


# --- duplicity's seam, the scheduled functions' results ----------------------------------


def _execute(argv, env, log_fd=None):
    """Run duplicity; a seam for the unit tests."""
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        pass_fds=() if log_fd is None else (log_fd,),
        check=False,
    )


def _reported(function, *args):
    """
    Run ``backup_jobs.<function>`` (_utils/backup_jobs.py) for the scheduled ``function``:
    a failure becomes ``{"result": False, "error"}`` with a non-zero job retcode, and every
    outcome but "locked" is recorded.
    """
    record = __utils__["backup_records.record"]
    try:
        result = __utils__[f"backup_jobs.{function}"](_job(_settings()), *args)
    except CommandExecutionError as exc:
        result = {"result": False, "error": str(exc)}
        log.error("backup.%s failed: %s", function, exc)
        if not __utils__["backup_records.busy"](exc):
            with contextlib.suppress(CommandExecutionError):
                record(_paths(_settings()), function, result)
    else:
        record(_paths(_settings()), function, result)
    if not result["result"]:
        __context__["retcode"] = 1
    return result


# --- the functions -----------------------------------------------------------------------


def run(full=False):
    """
    Back up ``backup:source`` (default /home) to ``backup:target`` with duplicity.

    A full backup when the last full is older than ``backup:full_every`` (or there is none,
    or ``full=True``, or the passphrase or key changed since the last run: then
    ``"passphrase_changed"`` or ``"key_changed"`` is True), else an incremental one.
    Refused while another backup function holds the lock. Returns ``{"result": True,
    "type": "full"|"incremental", "source", "target", "started", "elapsed" (seconds),
    "source_files", "source_file_size", "new_files", "new_file_size", "deleted_files",
    "changed_files", "changed_file_size", "changed_delta_size", "delta_entries",
    "raw_delta_size", "total_destination_size_change", "errors"}`` (sizes in bytes, from
    duplicity's statistics), or ``{"result": False, "error"}`` with a non-zero retcode.

    CLI Example:

    .. code-block:: bash

        salt hub backup.run
        salt hub backup.run full=True
    """
    return _reported("run", full)


def cleanup():
    """
    Delete every backup chain but the last ``backup:keep_full`` full ones (duplicity
    ``remove-all-but-n-full --force``). Returns ``{"result": True, "keep_full",
    "removed_chains", "target", "elapsed"}`` or ``{"result": False, "error"}``.

    CLI Example:

    .. code-block:: bash

        salt hub backup.cleanup
    """
    return _reported("cleanup")


def verify(strict=False):
    """
    Compare the latest backup with ``backup:source``, contents included (duplicity
    ``verify --compare-data``): every volume is fetched and decrypted, so with a
    ``backup:gpg_key`` it needs the secret key and is refused with a public key only.

    Files changed since the last backup (new, deleted, newer mtime) are listed under
    ``changed_since_backup`` and only fail the verify with ``strict=True``: on a live /home
    there are always some. A file whose contents differ while its metadata matches the
    backup is listed under ``data_mismatches`` and always fails it. Returns ``{"result",
    "compared", "differences", "data_mismatches", "changed_since_backup", "target",
    "elapsed"}`` plus ``"error"`` on failure (non-zero retcode).

    CLI Example:

    .. code-block:: bash

        salt hub backup.verify
        salt hub backup.verify strict=True
    """
    return _reported("verify", bool(strict))


def status():
    """
    The backups at ``backup:target``, from duplicity ``collection-status``.

    Returns a dict:

    - ``enabled``, ``source``, ``target`` (without any password);
    - ``last_full``, ``last_incremental``, ``last_backup``: ISO times (UTC) of the complete
      backup sets, None when there is none;
    - ``age_seconds``, ``age_human``: the age of ``last_backup``; ``stale_after``;
      ``stale``: no backup, or older than ``backup:stale_after``;
    - ``chain_count``, ``chains``: ``[{"start", "end", "sets", "primary"}]``, oldest first;
      ``incomplete_sets``: sets left by interrupted runs (or the one running now);
    - ``running``: ``{"function", "pid", "since"}`` of the lock's holder, or None;
    - ``last_results``: ``{"run"|"cleanup"|"verify": {"result", "time", "error"}}``.

    Needs neither the lock nor the passphrase or key: it lists the target into a scratch
    cache, so it answers while a backup runs.

    CLI Example:

    .. code-block:: bash

        salt hub backup.status
    """
    return __utils__["backup_jobs.status"](_job(_settings()))


def restore(path, target, time=None, force=False):
    """
    Restore ``path`` (relative to ``backup:source``: ``alice`` is /home/alice, ``.`` is
    everything) as it was at ``time`` (default: the latest backup) into ``target``.

    ``time`` is an ISO date or time (``2026-11-30T14:00:00Z``; without a zone the hub's
    local time), epoch seconds, or a duplicity time string (``3D``, ``2h30m``): the backup
    taken at or before it is used. ``path`` must not be absolute or contain ``..``.

    duplicity restores into a fresh root-only directory first; the files then go to
    ``target`` (_utils/backup_restore.py):

    - a target inside a student's home (``/home/alice``, ``/home/alice/restored``) needs
      ``force=True`` and is written by ``tar`` running as that home's owner, never by root,
      so no link the student left there is followed with root's rights; files there
      become the student's;
    - any other target is root's: refused when it exists and is not empty unless
      ``force=True``, or when it leads into ``backup:source`` through a symlink. Files keep
      their owners and modes.

    ``backup:source`` itself is refused (restore one home at a time into it). With a
    ``backup:gpg_key`` it needs the secret key, and is refused with a public key only.
    Returns ``{"result": True, "path", "target", "time", "files", "elapsed"}``.

    CLI Example:

    .. code-block:: bash

        salt hub backup.restore alice /root/alice-restored time=2026-11-30T14:00:00Z
        salt hub backup.restore alice /home/alice force=True
    """
    job = _job(_settings())
    return __utils__["backup_restore.restore"](job, path, target, time, force)


def ssh_public_key():
    """
    The hub's public ssh key for sftp backup targets (``<work_dir>/ssh/id_ed25519.pub``,
    made by salt/backup), or None before it exists. Published through the mine to the
    ``backup:target_host``, which authorises it for sftp only.

    CLI Example:

    .. code-block:: bash

        salt hub backup.ssh_public_key
    """
    return __utils__["backup_ssh.public_key"](_paths(_settings()))


def host_keys(keydir="/etc/ssh"):
    """
    This host's public ssh host keys as ``["ssh-ed25519 AAAA...", ...]`` (sorted), for the
    hub's known_hosts. Public keys only, whatever the arguments: unlike ``ssh.host_keys``
    this cannot put private keys in the mine.

    CLI Example:

    .. code-block:: bash

        salt node2 backup.host_keys
    """
    return __utils__["backup_ssh.host_keys"](keydir)

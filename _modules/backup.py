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

This module is salt's side of it: the functions, the pillar, the mine, the job's retcode.
The rest is in ``_utils/``, reached through ``__utils__`` (minions get it with
``saltutil.sync_all``, like this module): ``backup_duplicity`` (command line, log parsing),
``backup_gpg`` (encryption), ``backup_records`` (work directory, lock, results, status's
summary), ``backup_checks`` (pillar keys, restore's path) and ``backup_restore`` (where a
restore's files go, never through a student's link).

``run``, ``cleanup`` and ``verify`` return ``{"result": False, "error": ...}`` on failure and
set the job's retcode, rather than raise: salt's scheduler replaces the message of an
exception by "Unhandled exception running ...", and these are the functions it runs.

Why about 500 lines: this docstring (the operator's manual of the module) and the seven
public functions with their own docstrings are most of it; what is left is the glue
between them and ``_utils``.
"""

import contextlib
import glob
import logging
import os
import subprocess
import tempfile
import time
import urllib.parse

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "backup"

# Longest list of paths a verify returns per kind of difference.
MAX_LISTED = 100


def __virtual__():
    # Everywhere: the backup target host publishes host_keys through the mine.
    return __virtualname__


# --- the pillar and the work directory ---------------------------------------------------


def _settings():
    """The pillar's ``backup:`` section."""
    section = __pillar__.get("backup")
    if not isinstance(section, dict):
        raise CommandExecutionError(
            "pillar 'backup' is missing: this minion did not get the site pillar "
            "(is the jupyterhub_deploy ext_pillar configured on the master?)"
        )
    return section


def _paths(cfg):
    """The Paths (_utils/backup_records.py) of ``backup:work_dir``."""
    root = __utils__["backup_checks.absolute"](cfg, "work_dir")
    return __utils__["backup_records.work_dir"](root)


def _prepared(cfg):
    """The work directory, made, with the target host's ssh keys in its known_hosts."""
    paths = _paths(cfg)
    paths.make()
    _trust_target_host(cfg, paths)
    return paths


def _trust_target_host(cfg, paths):
    """
    Write ``ssh/known_hosts`` from the host keys ``backup:target_host`` publishes in the
    mine (``backup_host_keys``), so duplicity talks to that host and no other. Keeps the
    last keys when the mine cannot be read.
    """
    host = cfg.get("target_host")
    if not host:
        return
    try:
        keys = (__salt__["mine.get"](host, "backup_host_keys") or {}).get(host)
    except Exception as exc:  # the master may be unreachable: keep the last keys
        log.warning("backup: cannot read the mine for %s's host keys: %s", host, exc)
        keys = None
    if not keys:
        if os.path.exists(paths.known_hosts):
            return
        raise CommandExecutionError(
            f"the backup target host {host} (pillar 'backup:target_host') has not published "
            f"its ssh host keys in the mine: apply its highstate (salt/backup/target.sls) or "
            f"run `salt {host} mine.update`"
        )
    address = __pillar__["hosts"][host]
    port = urllib.parse.urlsplit(str(cfg.get("target"))).port
    if port and port != 22:
        address = f"[{address}]:{port}"
    contents = "".join(f"{address} {key}\n" for key in keys)
    os.makedirs(os.path.dirname(paths.known_hosts), mode=0o700, exist_ok=True)
    paths.write_if_changed(paths.known_hosts, contents)
    log.info("backup: known_hosts now holds %d host key(s) of %s", len(keys), host)


# --- running duplicity, reporting --------------------------------------------------------


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


def _version():
    """The installed duplicity's (major, minor), asked once per minion process."""
    if "backup.duplicity_version" not in __context__:
        found = __utils__["backup_duplicity.version"](_execute)
        __context__["backup.duplicity_version"] = found
    return __context__["backup.duplicity_version"]


def _duplicity(action, options, positional, target, paths, passphrase=None, archive_dir=None):
    # _execute by name at each call: the unit tests and benchmarks/backup.py replace it.
    call = __utils__["backup_duplicity.call"]
    return call(_execute, action, options, positional, target, paths, passphrase, archive_dir)


def _failure(what, result, target, secret, encryption=None):
    """A one-paragraph reason for a failed duplicity call."""
    hint = __utils__["backup_gpg.key_hint"](encryption, result.output)
    return __utils__["backup_duplicity.failure"](what, result, target, secret, hint)


def _reported(function, body, *args, **kwargs):
    """
    Run ``body`` for the scheduled ``function``: a failure becomes ``{"result": False,
    "error"}`` with a non-zero job retcode, and every outcome but "locked" is recorded.
    """
    record = __utils__["backup_records.record"]
    try:
        result = body(*args, **kwargs)
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


def _run(full):
    cfg = _settings()
    __utils__["backup_checks.require_enabled"](cfg, "backup.run")
    target = __utils__["backup_checks.required"](cfg, "target")
    full_every = __utils__["backup_checks.seconds"](cfg, "full_every")
    source = __utils__["backup_checks.absolute"](cfg, "source", "/home")
    if not os.path.isdir(source):
        raise CommandExecutionError(f"pillar 'backup:source' {source} is not a directory")
    paths = _prepared(cfg)
    with __utils__["backup_records.locked"](paths, "backup.run"):
        encryption = __utils__["backup_gpg.encryption"](cfg, paths)
        passphrase = encryption.passphrase
        changed = __utils__["backup_gpg.changed"](paths, encryption)
        forced = bool(full) or changed is not None
        if forced:
            action, options = "full", []
        else:
            action, options = "incremental", ["--full-if-older-than", f"{full_every}s"]
        options += encryption.options()
        started = time.time()
        result = _duplicity(action, options, [source, target], target, paths, passphrase)
        elapsed = time.time() - started
        if result.returncode != 0:
            message = _failure("backup", result, target, passphrase, encryption)
            raise CommandExecutionError(message)
        __utils__["backup_gpg.save_fingerprint"](paths, encryption)
    summary = {
        "result": True,
        "type": __utils__["backup_duplicity.backup_type"](result.records, forced),
        "source": source,
        "target": __utils__["backup_duplicity.redact"](target),
        "started": __utils__["backup_records.iso"](started),
        "elapsed": round(elapsed, 2),
    }
    if changed:
        summary[f"{changed}_changed"] = True
    stats = __utils__["backup_duplicity.parse_statistics"](result.records)
    for key in ("start_time", "end_time", "elapsed_time"):
        stats.pop(key, None)
    summary.update(stats)
    log.info(
        "backup.run: %s backup of %s to %s in %.1f s, %s files changed, %s new, %s deleted",
        summary["type"],
        source,
        summary["target"],
        elapsed,
        stats.get("changed_files"),
        stats.get("new_files"),
        stats.get("deleted_files"),
    )
    return summary


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
    return _reported("run", _run, full)


def _cleanup():
    cfg = _settings()
    __utils__["backup_checks.require_enabled"](cfg, "backup.cleanup")
    target = __utils__["backup_checks.required"](cfg, "target")
    keep = __utils__["backup_checks.at_least_one"](cfg, "keep_full")
    paths = _prepared(cfg)
    with __utils__["backup_records.locked"](paths, "backup.cleanup"):
        started = time.time()
        options = [str(keep), "--force"]
        result = _duplicity("remove-all-but-n-full", options, [target], target, paths)
        if result.returncode != 0:
            raise CommandExecutionError(_failure("cleanup", result, target, None))
    return {
        "result": True,
        "keep_full": keep,
        "removed_chains": __utils__["backup_duplicity.parse_removed_chains"](result.records),
        "target": __utils__["backup_duplicity.redact"](target),
        "elapsed": round(time.time() - started, 2),
    }


def cleanup():
    """
    Delete every backup chain but the last ``backup:keep_full`` full ones (duplicity
    ``remove-all-but-n-full --force``). Returns ``{"result": True, "keep_full",
    "removed_chains", "target", "elapsed"}`` or ``{"result": False, "error"}``.

    CLI Example:

    .. code-block:: bash

        salt hub backup.cleanup
    """
    return _reported("cleanup", _cleanup)


def _verify(strict):
    cfg = _settings()
    __utils__["backup_checks.require_enabled"](cfg, "backup.verify")
    target = __utils__["backup_checks.required"](cfg, "target")
    source = __utils__["backup_checks.absolute"](cfg, "source", "/home")
    paths = _prepared(cfg)
    with __utils__["backup_records.locked"](paths, "backup.verify"):
        encryption = __utils__["backup_gpg.encryption"](cfg, paths)
        __utils__["backup_gpg.require_secret"](encryption, "backup.verify")
        passphrase = encryption.passphrase
        started = time.time()
        options = ["--compare-data"]
        result = _duplicity("verify", options, [target, source], target, paths, passphrase)
    report = __utils__["backup_duplicity.parse_verify"](result.records)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not report["differences"]):
        raise CommandExecutionError(_failure("verify", result, target, passphrase, encryption))
    mismatches, changed = report["data_mismatches"], report["changed_since_backup"]
    summary = {
        "result": not mismatches and not (strict and changed),
        "compared": report["compared"],
        "differences": report["differences"],
        "data_mismatches": mismatches[:MAX_LISTED],
        "changed_since_backup": changed[:MAX_LISTED],
        "target": __utils__["backup_duplicity.redact"](target),
        "elapsed": round(time.time() - started, 2),
    }
    if mismatches:
        summary["error"] = (
            f"{len(mismatches)} file(s) differ from the backup although their type, "
            f"permissions and mtime match it (backup or disk damaged?): "
            + ", ".join(mismatches[:10])
        )
    elif strict and changed:
        listed = ", ".join(changed[:10])
        summary["error"] = f"{len(changed)} file(s) changed since the last backup: {listed}"
    return summary


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
    return _reported("verify", _verify, bool(strict))


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
    cfg = _settings()
    target = cfg.get("target")
    if not target and not cfg.get("enabled"):
        return {"enabled": False, "target": None}
    target = __utils__["backup_checks.required"](cfg, "target")
    stale_after = __utils__["backup_checks.seconds"](cfg, "stale_after")
    paths = _prepared(cfg)
    with tempfile.TemporaryDirectory(dir=paths.tmp, prefix="status-") as scratch:
        result = _duplicity("collection-status", [], [target], target, paths, archive_dir=scratch)
    if result.returncode != 0:
        raise CommandExecutionError(_failure("collection-status", result, target, None))
    collection = __utils__["backup_duplicity.parse_collection"](result.records)
    summary = __utils__["backup_records.summarise"](collection, time.time(), stale_after)
    return {
        "enabled": bool(cfg.get("enabled")),
        "source": __utils__["backup_checks.absolute"](cfg, "source", "/home"),
        "target": __utils__["backup_duplicity.redact"](target),
        **summary,
        "running": __utils__["backup_records.running"](paths),
        "last_results": __utils__["backup_records.last_results"](paths),
    }


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
    cfg = _settings()
    remote = __utils__["backup_checks.required"](cfg, "target")
    source = __utils__["backup_checks.absolute"](cfg, "source", "/home")
    relative = __utils__["backup_checks.relative_path"](path)
    dest = __utils__["backup_restore.destination"](target, source, relative, bool(force))
    when = __utils__["backup_duplicity.duplicity_time"](time) if time is not None else None
    paths = _prepared(cfg)
    options = __utils__["backup_duplicity.restore_options"](relative, when, _version())
    with __utils__["backup_records.locked"](paths, "backup.restore"):
        encryption = __utils__["backup_gpg.encryption"](cfg, paths)
        __utils__["backup_gpg.require_secret"](encryption, "backup.restore")
        passphrase = encryption.passphrase
        started = _now()
        with __utils__["backup_restore.staging"](paths.tmp) as staged:
            result = _duplicity("restore", options, [remote, staged], remote, paths, passphrase)
            if result.returncode != 0:
                message = _failure("restore", result, remote, passphrase, encryption)
                raise CommandExecutionError(message)
            files = __utils__["backup_restore.count_files"](staged)
            __utils__["backup_restore.hand_back"](staged, dest)
    return {
        "result": True,
        "path": relative or ".",
        "target": dest.path,
        "time": when or "latest",
        "files": files,
        "elapsed": round(_now() - started, 2),
    }


def _now():
    # restore() has a parameter called time.
    return time.time()


def ssh_public_key():
    """
    The hub's public ssh key for sftp backup targets (``<work_dir>/ssh/id_ed25519.pub``,
    made by salt/backup), or None before it exists. Published through the mine to the
    ``backup:target_host``, which authorises it for sftp only.

    CLI Example:

    .. code-block:: bash

        salt hub backup.ssh_public_key
    """
    path = _paths(_settings()).ssh_key + ".pub"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def host_keys(keydir="/etc/ssh"):
    """
    This host's public ssh host keys as ``["ssh-ed25519 AAAA...", ...]`` (sorted), for the
    hub's known_hosts. Public keys only, whatever the arguments: unlike ``ssh.host_keys``
    this cannot put private keys in the mine.

    CLI Example:

    .. code-block:: bash

        salt node2 backup.host_keys
    """
    keys = []
    for path in sorted(glob.glob(os.path.join(keydir, "ssh_host_*_key.pub"))):
        with open(path, encoding="utf-8") as handle:
            fields = handle.read().split()
        if len(fields) >= 2:
            keys.append(f"{fields[0]} {fields[1]}")
    return keys

"""
What ``backup.run``, ``backup.cleanup``, ``backup.verify`` and ``backup.status`` of
_modules/backup.py do (their docstrings there say what they return): the pillar's keys
checked, the work directory made ready, duplicity called under the lock, its result. The
module's ``_reported`` turns a run, cleanup or verify that raised into ``{"result": False,
"error"}`` and records it; ``backup.restore`` is in _utils/backup_restore.py.

Reached through ``__utils__["backup_jobs.<function>"]``. Each function is handed a
:class:`Job`, salt's side of one call of the module's functions, which is also how it
reaches the other _utils/backup_*.py (it must not import them).
"""

import logging
import os
import tempfile
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

# Longest list of paths a verify returns per kind of difference.
MAX_LISTED = 100


class Job:
    """
    One call of a function of _modules/backup.py, as the module hands it over: ``cfg``, the
    pillar's ``backup:`` section; what salt's dunders ``__utils__``, ``__salt__``,
    ``__pillar__`` and ``__context__`` stand for there (``utils``, ``salt``, ``pillar``,
    ``context``; ``salt`` is None when the module was loaded without it); and ``execute``,
    the module's seam that runs duplicity. The dunders themselves would not do: salt's
    loader gives a module views that look their loader up in the context they are read in,
    and a util runs in the loader of the utils, which has no ``__utils__``, ``__salt__`` or
    ``__pillar__``.
    """

    def __init__(self, cfg, utils, salt, pillar, context, execute):
        self.cfg, self.utils, self.salt = cfg, utils, salt
        self.pillar, self.context, self.execute = pillar, context, execute

    def paths(self):
        """The Paths (_utils/backup_records.py) of ``backup:work_dir``."""
        root = self.utils["backup_checks.absolute"](self.cfg, "work_dir")
        return self.utils["backup_records.work_dir"](root)

    def prepared(self):
        """The work directory, made, with the target host's ssh keys in its known_hosts."""
        paths = self.paths()
        paths.make()
        self._trust_target_host(paths)
        return paths

    def _trust_target_host(self, paths):
        """
        Write ``ssh/known_hosts`` from the host keys ``backup:target_host`` publishes in the
        mine (``backup_host_keys``), so duplicity talks to that host and no other. Keeps
        the last keys when the mine cannot be read (_utils/backup_ssh.py).
        """
        host = self.cfg.get("target_host")
        if not host:
            return
        try:
            keys = (self.salt["mine.get"](host, "backup_host_keys") or {}).get(host)
        except Exception as exc:  # the master may be unreachable: keep the last keys
            log.warning("backup: cannot read the mine for %s's host keys: %s", host, exc)
            keys = None
        address = self.pillar["hosts"][host] if keys else None  # the pillar only with keys
        self.utils["backup_ssh.trust"](paths, host, keys, address, self.cfg.get("target"))

    def version(self):
        """The installed duplicity's (major, minor), asked once per minion process."""
        if "backup.duplicity_version" not in self.context:
            found = self.utils["backup_duplicity.version"](self.execute)
            self.context["backup.duplicity_version"] = found
        return self.context["backup.duplicity_version"]

    def duplicity(
        self, action, options, positional, target, paths, passphrase=None, archive_dir=None
    ):
        """One duplicity call (_utils/backup_duplicity.py); its Result."""
        call = self.utils["backup_duplicity.call"]
        return call(
            self.execute, action, options, positional, target, paths, passphrase, archive_dir
        )

    def failure(self, what, result, target, secret, encryption=None):
        """A one-paragraph reason for a failed duplicity call."""
        hint = self.utils["backup_gpg.key_hint"](encryption, result.output)
        return self.utils["backup_duplicity.failure"](what, result, target, secret, hint)


def make_job(cfg, utils, salt, pillar, context, execute):
    """The :class:`Job` of one call (see there)."""
    return Job(cfg, utils, salt, pillar, context, execute)


def run(job, full):
    """``backup.run``: a full or incremental backup of ``backup:source``; its summary."""
    cfg, utils = job.cfg, job.utils
    utils["backup_checks.require_enabled"](cfg, "backup.run")
    target = utils["backup_checks.required"](cfg, "target")
    full_every = utils["backup_checks.seconds"](cfg, "full_every")
    source = utils["backup_checks.absolute"](cfg, "source", "/home")
    if not os.path.isdir(source):
        raise CommandExecutionError(f"pillar 'backup:source' {source} is not a directory")
    paths = job.prepared()
    with utils["backup_records.locked"](paths, "backup.run"):
        encryption = utils["backup_gpg.encryption"](cfg, paths)
        passphrase = encryption.passphrase
        changed = utils["backup_gpg.changed"](paths, encryption)
        forced = bool(full) or changed is not None
        if forced:
            action, options = "full", []
        else:
            action, options = "incremental", ["--full-if-older-than", f"{full_every}s"]
        options += encryption.options()
        started = time.time()
        result = job.duplicity(action, options, [source, target], target, paths, passphrase)
        elapsed = time.time() - started
        if result.returncode != 0:
            message = job.failure("backup", result, target, passphrase, encryption)
            raise CommandExecutionError(message)
        utils["backup_gpg.save_fingerprint"](paths, encryption)
    summary = {
        "result": True,
        "type": utils["backup_duplicity.backup_type"](result.records, forced),
        "source": source,
        "target": utils["backup_duplicity.redact"](target),
        "started": utils["backup_records.iso"](started),
        "elapsed": round(elapsed, 2),
    }
    if changed:
        summary[f"{changed}_changed"] = True
    stats = utils["backup_duplicity.parse_statistics"](result.records)
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


def cleanup(job):
    """``backup.cleanup``: every chain but the last ``backup:keep_full`` full ones removed."""
    cfg, utils = job.cfg, job.utils
    utils["backup_checks.require_enabled"](cfg, "backup.cleanup")
    target = utils["backup_checks.required"](cfg, "target")
    keep = utils["backup_checks.at_least_one"](cfg, "keep_full")
    paths = job.prepared()
    with utils["backup_records.locked"](paths, "backup.cleanup"):
        started = time.time()
        options = [str(keep), "--force"]
        result = job.duplicity("remove-all-but-n-full", options, [target], target, paths)
        if result.returncode != 0:
            raise CommandExecutionError(job.failure("cleanup", result, target, None))
    return {
        "result": True,
        "keep_full": keep,
        "removed_chains": utils["backup_duplicity.parse_removed_chains"](result.records),
        "target": utils["backup_duplicity.redact"](target),
        "elapsed": round(time.time() - started, 2),
    }


def verify(job, strict):
    """``backup.verify``: the latest backup compared with ``backup:source``."""
    cfg, utils = job.cfg, job.utils
    utils["backup_checks.require_enabled"](cfg, "backup.verify")
    target = utils["backup_checks.required"](cfg, "target")
    source = utils["backup_checks.absolute"](cfg, "source", "/home")
    paths = job.prepared()
    with utils["backup_records.locked"](paths, "backup.verify"):
        encryption = utils["backup_gpg.encryption"](cfg, paths)
        utils["backup_gpg.require_secret"](encryption, "backup.verify")
        passphrase = encryption.passphrase
        started = time.time()
        options = ["--compare-data"]
        result = job.duplicity("verify", options, [target, source], target, paths, passphrase)
    report = utils["backup_duplicity.parse_verify"](result.records)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not report["differences"]):
        raise CommandExecutionError(job.failure("verify", result, target, passphrase, encryption))
    mismatches, changed = report["data_mismatches"], report["changed_since_backup"]
    summary = {
        "result": not mismatches and not (strict and changed),
        "compared": report["compared"],
        "differences": report["differences"],
        "data_mismatches": mismatches[:MAX_LISTED],
        "changed_since_backup": changed[:MAX_LISTED],
        "target": utils["backup_duplicity.redact"](target),
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


def status(job):
    """``backup.status``: the backups at the target, the lock's holder, the last results."""
    cfg, utils = job.cfg, job.utils
    target = cfg.get("target")
    if not target and not cfg.get("enabled"):
        return {"enabled": False, "target": None}
    target = utils["backup_checks.required"](cfg, "target")
    stale_after = utils["backup_checks.seconds"](cfg, "stale_after")
    paths = job.prepared()
    with tempfile.TemporaryDirectory(dir=paths.tmp, prefix="status-") as scratch:
        result = job.duplicity(
            "collection-status", [], [target], target, paths, archive_dir=scratch
        )
    if result.returncode != 0:
        raise CommandExecutionError(job.failure("collection-status", result, target, None))
    collection = utils["backup_duplicity.parse_collection"](result.records)
    summary = utils["backup_records.summarise"](collection, time.time(), stale_after)
    return {
        "enabled": bool(cfg.get("enabled")),
        "source": utils["backup_checks.absolute"](cfg, "source", "/home"),
        "target": utils["backup_duplicity.redact"](target),
        **summary,
        "running": utils["backup_records.running"](paths),
        "last_results": utils["backup_records.last_results"](paths),
    }

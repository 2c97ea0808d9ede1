"""
The work directory of _modules/backup.py (``backup:work_dir``): its paths and files, the
lock that keeps run, cleanup, verify and restore apart, the last result of each function
(``results.json``), and what ``backup.status`` makes of them and of the backups' times.

Like every ``_utils/backup_*.py``, reached through ``__utils__["backup_records.<function>"]``
(salt's utils loader; minions get ``_utils/`` with ``saltutil.sync_all``), and without salt
dunders.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import tempfile
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

# Under backup:work_dir.
CACHE_DIR = "cache"
TMP_DIR = "tmp"
GNUPG_DIR = "gnupg"
SSH_KEY = "ssh/id_ed25519"
KNOWN_HOSTS = "ssh/known_hosts"
LOCK_FILE = "lock"
RESULTS_FILE = "results.json"
# What the last run encrypted with: a salted hash of the passphrase, or the key's fingerprint.
FINGERPRINT_FILE = "passphrase.fingerprint"
# Under GNUPG_DIR: the sha256 of the last backup:gpg_key imported; gpg-agent's settings.
KEY_DIGEST_FILE = "pillar-key.sha256"
AGENT_CONF_FILE = "gpg-agent.conf"


class Paths:
    """
    Everything _modules/backup.py keeps under ``backup:work_dir``, and how its files are
    read and written.

    The file functions are on this object, which every helper is given, rather than
    imported by _utils/backup_gpg.py: a plain import of a sibling in _utils/ would load a
    second copy of it, one that salt's module refresh after a sync does not reload.
    """

    def __init__(self, root):
        self.root = root
        self.cache = os.path.join(root, CACHE_DIR)
        self.tmp = os.path.join(root, TMP_DIR)
        self.gnupg = os.path.join(root, GNUPG_DIR)
        self.ssh_key = os.path.join(root, SSH_KEY)
        self.known_hosts = os.path.join(root, KNOWN_HOSTS)
        self.lock = os.path.join(root, LOCK_FILE)
        self.results = os.path.join(root, RESULTS_FILE)
        self.fingerprint = os.path.join(root, FINGERPRINT_FILE)
        self.key_digest = os.path.join(self.gnupg, KEY_DIGEST_FILE)
        self.agent_conf = os.path.join(self.gnupg, AGENT_CONF_FILE)

    def make(self):
        for path in (self.root, self.cache, self.tmp, self.gnupg):
            os.makedirs(path, mode=0o700, exist_ok=True)

    @staticmethod
    def read_json(path):
        """The JSON in ``path``, or None when it is missing or unreadable."""
        try:
            with open(path, encoding="utf-8") as handle:
                return json.loads(handle.read() or "null")
        except (OSError, ValueError):
            return None

    @staticmethod
    def write_text(path, text):
        """Replace ``path`` atomically with ``text`` (mode 0600)."""
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    @classmethod
    def write_if_changed(cls, path, text):
        """:meth:`write_text` unless ``path`` already holds ``text``; True when it wrote."""
        try:
            with open(path, encoding="utf-8") as handle:
                if handle.read() == text:
                    return False
        except FileNotFoundError:
            pass
        cls.write_text(path, text)
        return True

    @classmethod
    def write_json(cls, path, data):
        cls.write_text(path, json.dumps(data, indent=1, sort_keys=True))


def work_dir(root):
    """The :class:`Paths` of the work directory ``root`` (an absolute path)."""
    return Paths(root)


# --- times -------------------------------------------------------------------------------


def iso(epoch):
    """``epoch`` as an ISO time in UTC, or None."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).isoformat()


def human(seconds):
    """``3h 05m``, ``2d 4h``, ``45s``: an age for people."""
    if seconds is None:
        return None
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def summarise(collection, now, stale_after):
    """What ``status`` reports about a parsed collection-status at time ``now``."""
    sets = [s for chain in collection["chains"] for s in chain["sets"]]
    fulls = [s["time"] for s in sets if s["type"] == "full"]
    incrementals = [s["time"] for s in sets if s["type"] == "incremental"]
    last = max((s["time"] for s in sets), default=None)
    age = None if last is None else max(0, int(now - last))
    return {
        "last_full": iso(max(fulls, default=None)),
        "last_incremental": iso(max(incrementals, default=None)),
        "last_backup": iso(last),
        "age_seconds": age,
        "age_human": human(age),
        "stale_after": stale_after,
        "stale_after_human": human(stale_after),
        "stale": age is None or age > stale_after,
        "chain_count": len(collection["chains"]),
        "chains": [
            {
                "start": iso(chain["sets"][0]["time"]),
                "end": iso(chain["sets"][-1]["time"]),
                "sets": len(chain["sets"]),
                "primary": chain["primary"],
            }
            for chain in collection["chains"]
        ],
        "incomplete_sets": collection["incomplete_sets"],
    }


# --- the lock ----------------------------------------------------------------------------


class Busy(CommandExecutionError):
    """Another run, cleanup, verify or restore holds the lock."""


def busy(exc):
    """Whether ``exc`` is the lock's refusal, which is not recorded as a result."""
    return isinstance(exc, Busy)


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


@contextlib.contextmanager
def locked(paths, function):
    """Hold ``<work_dir>/lock`` (flock, never waiting) while ``function`` runs."""
    paths.make()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = paths.read_json(paths.lock) or {}
            who = (
                f"{holder.get('function')} (pid {holder.get('pid')}, since {holder.get('since')})"
                if holder
                else "unknown holder"
            )
            raise Busy(
                f"another backup is running: {who} holds {paths.lock}; {function} refused"
            ) from None
        holder = {"function": function, "pid": os.getpid(), "since": iso(time.time())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def running(paths):
    """Who holds the lock now (``{"function", "pid", "since"}``), or None."""
    holder = paths.read_json(paths.lock)
    if isinstance(holder, dict) and _pid_alive(holder.get("pid")):
        return holder
    return None


# --- the last results --------------------------------------------------------------------


def last_results(paths):
    """``{function: {"result", "time", "error"}}`` as :func:`record` left them."""
    data = paths.read_json(paths.results)
    return data if isinstance(data, dict) else {}


def record(paths, function, result):
    """Keep the outcome of ``function`` for status (and so for salt-run backup.status)."""
    entry = {
        "result": bool(result.get("result")),
        "time": iso(time.time()),
        "error": result.get("error"),
    }
    if "type" in result:
        entry["type"] = result["type"]
    try:
        paths.make()
        results = last_results(paths)
        results[function] = entry
        paths.write_json(paths.results, results)
    except OSError as exc:
        log.warning(
            "backup: cannot record the result of %s in %s: %s", function, paths.results, exc
        )
